"""The project page (``mlops page``): what a person who ran nothing sees of a project, read as HTML and in
Chromium under Jenkins' CSP."""

from __future__ import annotations

import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from core import paths
from core.notify.page import production_spans
from core.notify.report import write_report
from core.records import AliasMove, Event, ModelVersion, Run, RunStatus
from core.registry import Registry
from core.store import get_run_store
from tests.conftest import mlops
from tests.core.test_report import look, served

PROJECT = "churn"
HOSTILE = "<script>document.title='pwned'</script>"
T0 = 1_790_000_000.0


def _populate(home: Path) -> dict[str, str]:
    """Three runs with real reports (one missed the target), two registered versions, production moved twice
    (the second time by the monitor, with a hostile reason), and live checks whose accuracy falls."""
    store = get_run_store()
    registry = Registry(store)
    runs = [("r-first", 0.71, RunStatus.FAILED, None), ("r-second", 0.93, RunStatus.PASSED, 1),
            ("r-third", 0.95, RunStatus.PASSED, 2)]
    for i, (run_id, value, status, version) in enumerate(runs):
        store.create_run(Run(id=run_id, project=PROJECT, metric="accuracy", target=0.8, created=T0 + i * 3600))
        store.finish_run(run_id, status, value=value, finished=T0 + i * 3600 + 60, model_version=version)
        run = store.get_run(run_id)
        assert run is not None
        (paths.runs_dir() / run.id).mkdir(parents=True)
        write_report(run, [], paths.runs_dir() / run.id)
    model = home / "model.joblib"
    model.write_bytes(b"not read by the page")
    for i, (run_id, value) in enumerate((("r-second", 0.93), ("r-third", 0.95))):
        registry.register(ModelVersion(project=PROJECT, run_id=run_id, format="joblib", metric="accuracy",
                                       value=value, passed=True, created=T0 + (i + 1) * 3600 + 90), model)
    registry.promote(PROJECT, 1, why="blessed by the gate", by="jenkins")
    registry.promote(PROJECT, 2, why=f"retrained {HOSTILE}", by="mlops monitor")
    for i, (accuracy, decision) in enumerate(((0.91, "ok"), (0.62, "under_threshold"))):
        store.add_event(Event(type="live_check", project=PROJECT, model_version=1, accuracy=accuracy, labels=40 + i,
                              threshold=0.8, decision=decision, reason="window of 50", time=T0 + 9000 + i * 600,
                              drift_share=0.25 if i else None, drifted=["tenure"] if i else []))
    return {"MLOPS_HOME": str(home)}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("href", "src") and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.slow
def test_the_page_shows_versions_production_over_time_runs_live_accuracy_and_drift(mlops_home: Path,
                                                                                   tmp_path: Path) -> None:
    env = _populate(mlops_home)
    out = tmp_path / "published"
    done = mlops("page", PROJECT, "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert "production v2" in done.stdout and "3 run(s)" in done.stdout
    parsed = _Text()
    parsed.feed((out / "index.html").read_text())
    text = " ".join(" ".join(parsed.text).split())
    assert "script" not in parsed.tags and HOSTILE in text  # the hostile reason is shown as text
    assert "production: v2 — accuracy 0.9500" in text
    assert "v2 " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(_moved(2))) + " now mlops monitor" in text
    assert "blessed by the gate" in text and "mlops monitor" in text
    assert "r-first 2026-09-21 14:13 UTC failed accuracy 0.7100" in text  # the run that missed its target
    assert "0.6200" in text and "under_threshold" in text and "25% of the columns drifted: tenure" in text
    for link in parsed.links:  # the stylesheet, both plots and each run's copied report resolve beside the page
        assert (out / link).is_file(), link
    assert {"page.css", "runs.png", "live.png"} <= set(parsed.links)
    assert sorted(link for link in parsed.links if link.startswith("runs/")) == [
        f"runs/{r}/report.html" for r in ("r-first", "r-second", "r-second", "r-second", "r-third", "r-third",
                                          "r-third")]
    assert not list(out.rglob("*.joblib"))  # reports are copied, models are not


def _moved(version: int) -> float:
    """When production moved to ``version``."""
    return next(m.time for m in Registry(get_run_store()).history(PROJECT) if m.version == version)


def test_production_spans_say_which_version_served_when() -> None:
    moves = [AliasMove(project="p", alias="production", version=1, time=10.0, who="a", why="x"),
             AliasMove(project="p", alias="staging", version=3, time=15.0),
             AliasMove(project="p", alias="production", version=2, previous=1, time=20.0, who="b", why="y"),
             AliasMove(project="p", alias="production", version=1, previous=2, time=30.0, who="c", why="rollback")]
    assert [(s.version, s.since, s.until, s.why) for s in production_spans(moves)] == [
        (1, 10.0, 20.0, "x"), (2, 20.0, 30.0, "y"), (1, 30.0, None, "rollback")]


@pytest.mark.slow
def test_a_project_with_nothing_is_a_one_line_error(mlops_home: Path, tmp_path: Path) -> None:
    done = mlops("page", "nothing-here", "--out", str(tmp_path / "p"), env={"MLOPS_HOME": str(mlops_home)})
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "nothing-here" in done.stderr
    assert not (tmp_path / "p").exists()


PAGE_FACTS = """
return {
  banner: getComputedStyle(document.querySelector('.banner')).backgroundColor,
  sheets: [...document.styleSheets].map(s => [s.href, s.cssRules.length]),
  images: [...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]),
  scripts: document.scripts.length,
  title: document.title,
  text: document.body.innerText,
  height: document.documentElement.scrollHeight,
};
"""


def test_the_published_page_renders_under_jenkins_csp_with_no_script(browser, chromium, mlops_home: Path,
                                                                      tmp_path: Path) -> None:
    env = _populate(mlops_home)
    out = tmp_path / "published"
    assert mlops("page", PROJECT, "--out", str(out), env=env).returncode == 0
    with served(out) as url:
        facts, blocked = look(chromium, url + "index.html", PAGE_FACTS, tmp_path / "page.png", width=1200)
        chromium.get(url + "runs/r-third/report.html")
        report_title = chromium.title
    assert blocked == []
    assert facts["banner"] == "rgb(46, 125, 50)"  # .banner.serving from page.css: the stylesheet applied
    assert [href for href, _ in facts["sheets"]] == [url + "page.css"] and facts["sheets"][0][1] > 10
    assert sorted(src for src, _, _ in facts["images"]) == ["live.png", "runs.png"]
    assert all(complete and width > 0 for _, complete, width in facts["images"])
    assert facts["scripts"] == 0 and facts["title"] != "pwned" and HOSTILE in facts["text"]
    assert "churn" in report_title
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
