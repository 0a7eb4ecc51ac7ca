"""The run report: escaped, styled where Jenkins shows it (checked in a real Chromium), true to its numbers."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.notify import report
from core.notify.report import render_html, render_text, stylesheet, write_report
from core.records import Run, RunStatus, Trial, TrialStatus
from core.store import get_run_store
from tests.conftest import EXAMPLES, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
#: What Jenkins sends with published HTML ("Configuring Content Security Policy" in the Jenkins docs).
JENKINS_CSP = "sandbox allow-same-origin; default-src 'none'; img-src 'self'; style-src 'self';"
#: Tags the report itself writes; anything else in the page came from a project unescaped.
OUR_TAGS = {"html", "head", "meta", "title", "link", "style", "body", "div", "table", "tr", "th", "td", "span", "a",
            "h3", "pre", "p", "ul", "li", "img"}
SCRIPT = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=alert(1)>"

SCRIPT_BEFORE = """import numpy as np
from sklearn.linear_model import LogisticRegression
model = LogisticRegression(C=1.0)
print(model)
"""
SCRIPT_AFTER = SCRIPT_BEFORE.replace("C=1.0", "C=10.0").replace("print(model)\n", "model.fit([[0]], [0])\n")


class Page(HTMLParser):
    """The tags, attributes and text of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def hostile(field: str) -> str:
    """A value a project controls, carrying live markup if it is not escaped."""
    return f"{field} {SCRIPT} {IMG}"


def hostile_run() -> tuple[Run, list[Trial], list[dict]]:
    """A failed run whose every project-controlled text is markup."""
    run = Run(_id="20260101-000000-abcdef", project=hostile("project"), path=hostile("/srv/p"),
              entry=hostile("train.py"), framework="sklearn", kind="ml", image="mlops-ml", backend="local",
              metric=hostile("metric"), target=0.9, status=RunStatus.FAILED, value=0.5, best_trial=1,
              error="Traceback (most recent call last):\n  " + hostile("run error"), finished=1.7e9, stopped="budget")
    diff = "".join(difflib.unified_diff(SCRIPT_BEFORE.splitlines(True), SCRIPT_AFTER.splitlines(True),
                                        "a/train.py", "b/train.py")) + f"+{SCRIPT}\n"
    trials = [Trial(run_id=run.id, number=1, status=TrialStatus.OK, label=hostile("label"), value=0.5,
                    metrics={run.metric: 0.5, hostile("other"): 0.25},
                    sources={run.metric: hostile("source"), hostile("other"): "print"},
                    warnings=[hostile("warning")], diff=diff, log_tail=hostile("log")),
              Trial(run_id=run.id, number=2, status=TrialStatus.FAILED, label=hostile("label2"),
                    error=hostile("trial error"), log_tail=hostile("last log"))]
    broken = [{"tweak": hostile("tweak"), "error": hostile("tweak error"), "trial": 2}]
    return run, trials, broken


@pytest.mark.parametrize("for_mail", [False, True], ids=["report.html", "mail"])
def test_everything_a_project_controls_shows_as_text_never_as_markup(for_mail: bool) -> None:
    run, trials, broken = hostile_run()
    html = render_html(run, trials, {"metric": "metric.png"}, for_mail=for_mail, broken_tweaks=broken)
    page = Page(html)
    assert {tag for tag, _ in page.tags} <= OUR_TAGS
    assert not [attrs for _, attrs in page.tags if any(name.startswith("on") for name in attrs)]
    for field in ("project", "/srv/p", "train.py", "metric", "run error", "label", "label2", "other", "source",
                  "warning", "trial error", "last log", "tweak", "tweak error"):
        assert hostile(field) in page.all_text, field
    assert f"+{SCRIPT}" in page.all_text  # the diff line, as text
    text = render_text(run, trials, broken_tweaks=broken)
    for field in ("project", "label", "source", "warning", "trial error", "tweak error"):
        assert hostile(field) in text, field  # plain text is never HTML-escaped
    assert "&lt;" not in text


def test_every_html_template_escapes_by_construction() -> None:
    names = report.TEMPLATES.list_templates()
    html_templates = [n for n in names if not n.endswith(".txt.j2")]
    assert "report.html.j2" in html_templates and "report.txt.j2" in names
    for name in html_templates:
        assert report.TEMPLATES.get_template(name).new_context({}).eval_ctx.autoescape is True, name
    assert report.TEMPLATES.get_template("report.txt.j2").new_context({}).eval_ctx.autoescape is False


def test_the_diff_reads_as_a_diff_one_line_per_line() -> None:
    run, trials, _ = hostile_run()
    html = render_html(run, trials)
    block = re.search(r'<pre class="diff">(.*?)</pre>', html, re.S)
    assert block, "no diff block"
    spans = re.findall(r'<span class="(\w+)">(.*?)</span>\n', block.group(1))
    lines = trials[0].diff.splitlines()
    assert len(spans) == len(lines) and block.group(1).count("\n") == len(lines)
    kinds = [kind for kind, _ in spans]
    assert kinds[:3] == ["file", "file", "hunk"]
    assert kinds.count("add") == 3 and kinds.count("del") == 2 and "context" in kinds
    removed = [Page(s).all_text for k, s in spans if k == "del"]
    assert removed == ["-model = LogisticRegression(C=1.0)", "-print(model)"]


def test_report_html_links_its_stylesheet_and_carries_no_inline_style_script_or_data(tmp_path: Path) -> None:
    run, trials, _ = hostile_run()
    trials[0].history = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.7, 0.6]}
    path = write_report(run, trials, tmp_path)
    html = path.read_text()
    assert '<link rel="stylesheet" href="report.css">' in html
    assert (tmp_path / "report.css").read_text() == stylesheet() and ".verdict.failed" in stylesheet()
    assert "<style" not in html and " style=" not in html and "<script" not in html and "data:" not in html
    images = [attrs["src"] for tag, attrs in Page(html).tags if tag == "img"]
    assert images == [f"curves-trial-{trials[0].number}.png", "metric.png", "curves.png"]
    assert all((tmp_path / src).is_file() for src in images)


def test_the_mail_carries_the_report_css_inline_in_its_elements() -> None:
    run, trials, _ = hostile_run()
    html = render_html(run, trials, {"metric": "cid:metric"}, for_mail=True)
    failed_colour = re.search(r"\.verdict\.failed\s*\{\s*background:\s*(#\w+)", stylesheet()).group(1)
    [verdict] = [attrs for tag, attrs in Page(html).tags if "verdict" in (attrs.get("class") or "")]
    assert f"background:{failed_colour}" in verdict["style"].replace(" ", "")
    assert "<link" not in html and 'src="cid:metric"' in html
    best_cells = re.search(r'<tr class="best">\s*<td[^>]*style="([^"]*)"', html)
    assert best_cells and "background:#e8f5e9" in best_cells.group(1).replace(" ", "")


def test_sources_warnings_and_broken_tweaks_show_in_both_reports() -> None:
    run = Run(_id="r1", project="mnist", metric="accuracy", target=0.9, status=RunStatus.PASSED, value=0.93,
              best_trial=2, finished=1.7e9)
    trials = [Trial(run_id="r1", number=1, status=TrialStatus.OK, value=0.61, label="baseline (as pushed)",
                    metrics={"accuracy": 0.61, "loss": 1.2}, sources={"accuracy": "print", "loss": "keras.evaluate"},
                    warnings=["accuracy printed as 61.0 was read as 0.61"]),
              Trial(run_id="r1", number=2, status=TrialStatus.OK, value=0.93, label="more epochs (x2)",
                    metrics={"accuracy": 0.93}, sources={"accuracy": "keras.evaluate"}, reached=True)]
    broken = [{"tweak": "add conv block", "error": "train.py:12 raised ValueError: negative dimension", "trial": 3}]
    html = Page(render_html(run, trials, broken_tweaks=broken)).all_text
    text = render_text(run, trials, broken_tweaks=broken)
    for shown in (html, text):
        assert "Where each number came from" in shown
        assert "keras.evaluate" in shown and "print" in shown
        assert "accuracy printed as 61.0 was read as 0.61" in shown
        assert "Tweaks that broke this script" in shown and "add conv block" in shown
        assert "train.py:12 raised ValueError: negative dimension" in shown
    assert re.search(r"trial 1\s+loss\s+1\.2000\s+keras\.evaluate", text)
    assert "accuracy 0.9300 (keras.evaluate), 0.0 s: reaches the target" in text
    assert "Tweaks that broke" not in render_text(run, trials)  # optional: absent when there are none


@pytest.mark.slow
def test_a_run_left_running_shows_its_status_and_finished_trials_in_mlops_show(mlops_home: Path) -> None:
    store = get_run_store()
    run = store.create_run(Run(project="wine", metric="accuracy", target=0.9, entry="train.py"))
    first = store.create_trial(run.id, Trial(label="baseline (as pushed)"))
    store.finish_trial(first.model_copy(update={"status": TrialStatus.OK, "value": 0.74, "duration_s": 3.2,
                                                "metrics": {"accuracy": 0.74}, "sources": {"accuracy": "print"}}))
    lost = store.create_trial(run.id, Trial(label="scale features"))
    store.create_trial(run.id, Trial(label="more neighbours"))
    store.update_trial(run.id, lost.number, heartbeat=1.0)  # the worker of trial 2 went away long ago
    assert [t.number for t in store.reap_trials(run.id)] == [2]
    store.close()
    proc = mlops("show", "latest")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("RUNNING - wine: not finished, 2 of 3 trial(s) done; best accuracy so far 0.7400 (trial 1)")
    assert "Finished:  still running" in out
    assert "accuracy 0.7400 (print), 3.2 s: misses the target" in out
    assert "interrupted: its worker (unknown) stopped sending heartbeats" in out and "running" in out.split("#3")[1]
    assert "failed" not in out and "None" not in out
    html = Page(render_html(get_run_store().get_run(run.id), get_run_store().trials(run.id))).all_text
    assert "RUNNING" in html and "still running" in html and "0.7400" in html


def test_a_regressor_report_names_its_metric_and_never_says_accuracy() -> None:
    templates = Path(report.__file__).parent / "templates"
    for template in templates.glob("report.*"):  # the project page shows live accuracy, which monitoring measures
        assert "accuracy" not in template.read_text().lower(), template.name
    run = Run(_id="r2", project="houses", task="regression", metric="r2", target=0.8, status=RunStatus.PASSED,
              value=0.8123, best_trial=1, finished=1.7e9)
    trials = [Trial(run_id="r2", number=1, status=TrialStatus.OK, value=0.8123, metrics={"r2": 0.8123},
                    sources={"r2": "sklearn.score"}, reached=True)]
    html, text = render_html(run, trials), render_text(run, trials)
    for shown in (html, text, report.subject(run)):
        assert "accuracy" not in shown.lower()
    assert "r2 0.8123 vs target 0.8" in text and "r2 0.8123 (sklearn.score)" in text
    assert "<th>r2</th>" in html and "sklearn.score" in html


# -- a real run, and the page in a real browser under Jenkins' CSP ----------------------------------

@pytest.fixture(scope="module")
def printed_markup_run(tmp_path_factory: pytest.TempPathFactory, ml_env: str) -> dict:
    """A real run (2 trials, under its target) of a project that prints markup; its summary."""
    base = tmp_path_factory.mktemp("printing")
    project = base / "wine <b>bold<b>"  # a folder name cannot hold "/"
    shutil.copytree(EXAMPLES / "wine-knn-unscaled", project)
    with (project / "train.py").open("a") as f:
        f.write(f"print({SCRIPT!r})\nprint({IMG!r})\n")
    (project / "mlops.yaml").write_text("target: 0.99\nbudget:\n  max_trials: 2\n")
    proc = mlops("run", str(project), "--backend", "local", "--no-notify", "--json", "--out", str(base / "mlops-out"),
                 env={**NO_DOCKER, "MLOPS_HOME": str(base / "home")})
    assert proc.returncode == 1, proc.stderr  # under the target: failed, with a log tail in the report
    return {**json.loads(proc.stdout), "home": str(base / "home"), "out": str(base / "mlops-out")}


def test_a_real_report_shows_what_the_script_printed_as_text(printed_markup_run: dict) -> None:
    html = Path(printed_markup_run["report"]).read_text()
    page = Page(html)
    assert {tag for tag, _ in page.tags} <= OUR_TAGS
    assert SCRIPT in page.all_text and IMG in page.all_text and "wine <b>bold<b>" in page.all_text
    shown = mlops("show", printed_markup_run["run_id"], env={"MLOPS_HOME": printed_markup_run["home"]}).stdout
    assert SCRIPT in shown and "sklearn.metrics" in shown


class _JenkinsLikeHandler(SimpleHTTPRequestHandler):
    """Serves files with the Content-Security-Policy Jenkins puts on published HTML."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", JENKINS_CSP)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 with Jenkins' CSP; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_JenkinsLikeHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def look(chromium: Any, url: str, facts_script: str, shot: Path, width: int = 1100) -> tuple[dict, list[str]]:
    """Open ``url`` in Chromium, read the page's facts (``facts_script``, which returns its ``height`` too), take
    a screenshot of the whole page, and return the facts and the Content-Security-Policy violations logged."""
    chromium.get(url)
    facts = chromium.execute_script(facts_script)
    chromium.set_window_size(width, min(facts["height"] + 120, 6000))
    chromium.save_screenshot(str(shot))
    blocked = [e["message"] for e in chromium.get_log("browser") if "Content Security Policy" in e["message"]]
    return facts, blocked


PAGE_FACTS = """
const verdict = document.querySelector('.verdict');
return {
  verdictBackground: getComputedStyle(verdict).backgroundColor,
  verdictColour: getComputedStyle(verdict).color,
  sheets: [...document.styleSheets].map(s => [s.href, s.cssRules.length]),
  images: [...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]),
  scripts: document.scripts.length,
  title: document.title,
  text: document.body.innerText,
  diff: [...document.querySelectorAll('pre.diff span')].map(s => [s.className, getComputedStyle(s).color]),
  diffText: (document.querySelector('pre.diff') || {innerText: ''}).innerText,
  height: document.documentElement.scrollHeight,
};
"""


def test_the_published_report_is_styled_under_jenkins_csp_and_runs_no_script(browser, printed_markup_run: dict,
                                                                             chromium, tmp_path: Path) -> None:
    published = Path(printed_markup_run["out"])  # what the Jenkinsfile's publishHTML serves (reportDir)
    with served(published) as url:
        facts, blocked = look(chromium, url + "report.html", PAGE_FACTS, tmp_path / "report.png")
    assert facts["verdictBackground"] == "rgb(198, 40, 40)"  # .verdict.failed from report.css
    assert facts["verdictColour"] == "rgb(255, 255, 255)"
    assert [href for href, _ in facts["sheets"]] == [url + "report.css"] and facts["sheets"][0][1] > 10
    assert facts["images"] and all(complete and width > 0 for _, complete, width in facts["images"])
    assert facts["scripts"] == 0 and facts["title"] != "pwned"
    assert SCRIPT in facts["text"] and IMG in facts["text"]
    assert blocked == []
    colours = {kind: colour for kind, colour in facts["diff"]}
    assert colours["add"] == "rgb(34, 134, 58)" and colours["del"] == "rgb(179, 29, 40)"
    diff = (published / "best.diff").read_text()
    assert facts["diffText"].strip().splitlines() == diff.strip().splitlines()
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gate_the_confusion_matrix_and_the_data_are_escaped_tables(tmp_path: Path) -> None:
    from core.records import Decision, Evaluation, GateCheck, InfraCheck

    evaluation = Evaluation(snapshot="s2", rows=10, metrics={"cost": 510.0, "f1": 0.5}, labels=["neg", SCRIPT],
                            confusion=[[6, 1], [1, 2]], positive=SCRIPT,
                            per_class={"neg": {"precision": 0.86, "recall": 0.86, "f1": 0.86, "support": 7},
                                       SCRIPT: {"precision": 0.67, "recall": 0.67, "f1": 0.67, "support": 3}})
    data = {"source": IMG, "schema_path": "/x/schema.yaml", "schema_inferred": False, "positive": SCRIPT,
            "warnings": [{"severity": "warning", "message": f"column {IMG} drifted"}], "drift_note": "",
            "drift": {"reference": "s1", "version": 1, "rows": 3, "tested": 2, "share": 0.5, "drifted": True,
                      "columns": [IMG], "threshold": 0.5,
                      "worst": [{"column": IMG, "method": "ks", "effect": 0.4, "p_value": 0.001}]},
            "snapshot": {"id": "s2", "rows": 10, "columns": ["a", "class"], "kept_from": "s1", "kept_rows": 6,
                         "splits": {"train": {"rows": 6, "classes": {"neg": 5, SCRIPT: 1}},
                                    "test": {"rows": 4, "classes": {"neg": 2, SCRIPT: 2}}},
                         "classes": {"neg": 7, SCRIPT: 3}}}
    run = Run(id="r2", project="aps", metric="cost", goal="minimize", target=600, status=RunStatus.PASSED,
              value=510.0, evaluation=evaluation, data=data, data_project=True, measured_on="test", selected_from=3,
              finished=1.0)
    decision = Decision(run_id="r2", project="aps", version=2, baseline_version=1, blessed=False,
                        reason=f"cost 510 is worse {SCRIPT}", infra=InfraCheck(status="passed", reason="6 rows"),
                        compared_on="the same test rows", checks=[
                            GateCheck(metric="cost", check="target", candidate=510, limit=600, passed=True),
                            GateCheck(metric="cost", check="tolerance", rows="production", candidate=510,
                                      baseline=400, limit=440, change=110, passed=False, failed="worse")])
    html = render_html(run, [], decision=decision)
    page = Page(html)
    assert {t for t, _ in page.tags} <= OUR_TAGS and SCRIPT not in html and IMG not in html
    text = page.all_text
    assert "PASSED BUT NOT BLESSED \u2014 aps" in text and "Gate: not blessed against production v1" in text
    assert "selected on the validation split from 3 trial(s)" in text
    rows = [row for row in re.findall(r"<tr>(.*?)</tr>", html, re.S) if "<td>cost</td>" in row]
    assert [Page(r).all_text for r in rows] == [
        "costtargetcandidate's-510.0000-600.0000pass",
        "costnot worse than productionproduction's400.0000510.0000+110440.0000fail: worse"]
    assert "confusion matrix (10 rows" in text and "Drift of 3 new rows against production v1's snapshot s1" in text
    assert "6 rows keep the split they had in snapshot s1" in text
    plain = render_text(run, [], decision=decision)
    assert "Gate: NOT BLESSED against production v1" in plain and "FAIL cost" in plain
    assert "drift against production v1's snapshot: 1 of 2 features drifted (50%)" in plain


@pytest.mark.parametrize(("status", "blessed", "banner", "words", "background"), [
    (RunStatus.PASSED, True, "passed", "PASSED AND BLESSED", "#2e7d32"),
    (RunStatus.PASSED, False, "unblessed", "PASSED BUT NOT BLESSED", "#e65100"),
    (RunStatus.PASSED, None, "passed", "PASSED", "#2e7d32"),
    (RunStatus.FAILED, False, "failed", "FAILED", "#c62828"),
])
def test_the_verdict_banner_says_what_the_exit_code_says(status: RunStatus, blessed: bool | None, banner: str,
                                                          words: str, background: str) -> None:
    from core.records import Decision, InfraCheck

    run = Run(id="r3", project="aps", metric="cost", goal="minimize", target=5000, status=status, value=2260.0,
              finished=1.0)
    decision = None if blessed is None else Decision(
        run_id="r3", project="aps", version=2, baseline_version=1, blessed=blessed, reason="cost 2260 ...",
        infra=InfraCheck(status="failed", reason="could not convert"), compared_on="the same test rows")
    html = render_html(run, [], decision=decision)
    [(css, shown)] = re.findall(r'<div class="verdict (\w+)">(\w[\w ]*?) &mdash;', html)
    assert (css, shown) == (banner, words)
    assert re.search(rf"\.verdict\.{banner} {{ background: {background}; }}", stylesheet())
    assert render_text(run, [], decision=decision).startswith(f"{words} - aps: cost 2260.0000 vs target 5000")


def test_trials_of_several_workers_are_drawn_on_a_timeline_one_row_per_worker(tmp_path: Path) -> None:
    from core.notify.plots import timeline_rows

    run = Run(id="r1", project="wine", metric="accuracy", target=0.9, status=RunStatus.PASSED, value=0.95,
              best_trial=3)
    t0 = 1_800_000_000.0
    spans = [(1, "a:1", 0, 10, "ok", False), (2, "a:1", 10, 25, "ok", False), (3, "b:2", 11, 20, "ok", True),
             (4, "b:2", 20, 22, "stopped", False)]
    trials = [Trial(number=n, worker=w, host=w.split(":")[0], started_at=t0 + s, finished_at=t0 + e,
                    status=TrialStatus(st), reached=r, value=0.9 if st == "ok" else None, label=f"t{n}")
              for n, w, s, e, st, r in spans]
    rows = timeline_rows(trials)
    assert list(rows) == ["a:1", "b:2"]
    assert [(b["number"], b["start"], b["end"]) for b in rows["b:2"]] == [(3, 11, 20), (4, 20, 22)]
    assert rows["b:2"][0]["colour"] != rows["a:1"][0]["colour"]  # the trial that reached the target stands out
    html = write_report(run, trials, tmp_path).read_text()
    images = [attrs["src"] for tag, attrs in Page(html).tags if tag == "img"]
    assert "timeline.png" in images and (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert "Trials over time, per worker" in html
    text = render_text(run, trials)
    assert "worker a:1 on a" in text and "worker b:2 on b" in text
    single = render_text(run, [t.model_copy(update={"worker": "a:1"}) for t in trials])
    assert "worker a:1" not in single  # one worker: nothing to tell apart
