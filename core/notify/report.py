"""The run report: HTML (``report.html`` with ``report.css`` and the plots beside it, and the mail) and plain text.

Everything a project controls (its name, file names, printed output, tracebacks, metric names, diffs, labels,
warnings) reaches the HTML only through autoescaped templates: escaping is on for every template but the
plain-text ones (``*.txt.j2``), so a new HTML template cannot forget it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from core import settings
from core.records import Decision, Run, RunStatus, Trial, TrialStatus

#: The stylesheet written beside ``report.html`` (Jenkins' CSP blocks inline styles).
STYLESHEET = "report.css"
_CSS_TEMPLATE = "report.css.j2"


def escapes(template_name: str | None) -> bool:
    """Whether a template's output is HTML-escaped: always, except plain-text templates (``*.txt.j2``)."""
    return not (template_name or "").endswith(".txt.j2")


def _number(value: float | None) -> str:
    """A metric value as the reports show it: four decimals, or a dash when there is none."""
    return "-" if value is None else f"{value:.4f}"


#: The report templates (``templates/``); escaping follows ``escapes``, a missing value is an error.
TEMPLATES = Environment(loader=PackageLoader("core.notify", "templates"), autoescape=escapes, trim_blocks=True,
                   lstrip_blocks=True, undefined=StrictUndefined, keep_trailing_newline=False)
TEMPLATES.filters["number"] = _number


def subject(run: Run, decision: Decision | None = None) -> str:
    """``[mlops] PASSED wine: accuracy 0.9722 >= 0.8 (run ...)``: the verdict first, then the gate's (``BLESSED``,
    ``NOT BLESSED``) once it decided."""
    status = str(run.status).upper()
    op = ">=" if run.goal == "maximize" else "<="
    if not run.status.finished:
        metric = f"not finished (target {run.metric} {op} {run.target})"
    elif run.value is None:
        metric = f"no {run.metric} (target {run.target})"
    else:
        ok = status == "PASSED"
        metric = f"{run.metric} {run.value:.4f} {op if ok else 'misses'} {run.target}"
    gate = "" if decision is None else f", {'BLESSED' if decision.blessed else 'NOT BLESSED'}"
    return f"[mlops] {status} {run.project}: {metric}{gate} (run {run.id})"


def verdict(run: Run, decision: Decision | None = None) -> tuple[str, str]:
    """``(css class, words)`` of the banner, saying what the run's exit code says: ``PASSED AND BLESSED`` (exit 0),
    ``PASSED BUT NOT BLESSED`` (the target was reached, the gate refused the model: exit 1, not green), ``FAILED``;
    a passed run the gate has not judged yet is ``PASSED``, a run still going on ``RUNNING``."""
    status = str(run.status).upper()
    if run.status is not RunStatus.PASSED or decision is None:
        return str(run.status), status
    if decision.blessed:
        return "passed", "PASSED AND BLESSED"
    return "unblessed", "PASSED BUT NOT BLESSED"


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """A unified diff as ``(kind, line)`` pairs; kind is ``file``, ``hunk``, ``add``, ``del`` or ``context``."""
    lines = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---", "diff ", "index ")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        lines.append((kind, line))
    return lines


def outcome(run: Run, t: Trial) -> tuple[str, str]:
    """``(css class, words)`` of how a trial ended, e.g. ``("ok", "reaches the target")``."""
    if t.status is TrialStatus.OK:
        return ("ok", "reaches the target") if t.reached else ("", "misses the target")
    if t.status is TrialStatus.RUNNING:
        return ("muted", "running")
    if t.status is TrialStatus.PRUNED:
        return ("muted", f"pruned{': ' + t.error if t.error else ''}")
    if t.status is TrialStatus.STOPPED:
        return ("muted", f"stopped: {t.error or 'the run ended while it ran'}")
    if t.status is TrialStatus.REAPED:
        return ("bad", t.error or "interrupted: its worker stopped sending heartbeats")
    return ("bad", f"failed: {t.error or 'no error recorded'}")


def _broken(items: Iterable[Any] | None) -> list[dict[str, Any]]:
    """``broken_tweaks`` entries (mappings or objects with ``tweak``, ``error``, ``trial``) as plain dicts."""
    rows = []
    for item in items or []:
        get = item.get if isinstance(item, dict) else lambda k, i=item: getattr(i, k, None)
        rows.append({"tweak": str(get("tweak") or ""), "error": str(get("error") or ""), "trial": get("trial")})
    return rows


def _measured(run: Run, trials: list[Trial]) -> list[dict[str, Any]]:
    """Every metric of every trial with where its value came from, the run's metric first."""
    rows = []
    for t in trials:
        names = sorted(t.metrics, key=lambda name: (name != run.metric, name))
        for name in names:
            rows.append({"trial": t.number, "metric": name, "value": t.metrics[name],
                         "source": t.sources.get(name) or "not recorded"})
    return rows


def _best_so_far(run: Run, trials: list[Trial]) -> Trial | None:
    """The best scored trial of a run (its recorded best once finished)."""
    if run.best_trial is not None:
        return next((t for t in trials if t.number == run.best_trial), None)
    scored = [t for t in trials if t.status is TrialStatus.OK and t.value is not None]
    sign = 1 if run.goal == "maximize" else -1
    return max(scored, key=lambda t: (sign * t.value, -t.number), default=None)  # type: ignore[operator]


def _when(stamp: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp)) if stamp else None


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def reasoning(trials: list[Trial]) -> list[dict[str, Any]]:
    """Per trial, "what we saw -> what we changed": the finding of an earlier trial that the diagnosis treated
    (or who chose the change instead), the change, and what the diagnosis found in this trial."""
    rows = []
    for t in trials:
        if t.confirms is not None:
            continue
        because = t.because or {}
        if because:
            saw = f"trial {because.get('trial')}: {because.get('evidence', '')}"
        elif not t.tweaks:
            saw = "the script as pushed"
        else:
            saw = "no finding to treat: the tuning strategy's next step"
        rows.append({"number": t.number, "saw": saw, "changed": t.label or "baseline (as pushed)",
                     "findings": [f.get("evidence", "") for f in t.findings],
                     "curves": f"curves-trial-{t.number}"})
    return rows


def gate_rows(decision: Decision | None) -> list[dict[str, Any]]:
    """The gate's table: metric, on whose test rows, production, candidate, change, limit, pass/fail."""
    if decision is None:
        return []
    rows = []
    for c in decision.checks:
        what = {"target": "target", "threshold": "threshold", "inputs": "takes production's inputs"}.get(
            c.check, "not worse than production")
        rows.append({"metric": c.metric, "check": what, "rows": c.rows, "production": _number(c.baseline),
                     "candidate": _number(c.candidate), "change": _change(c.change), "limit": _number(c.limit),
                     "passed": c.passed, "failed": c.failed})
    return rows


def selection(run: Run, trials: list[Trial]) -> str:
    """How the run's figure was selected, honestly: from how many trials, on which rows."""
    n = run.selected_from or sum(t.status is TrialStatus.OK and t.value is not None and t.confirms is None
                                 for t in trials)
    if run.measured_on == "test":
        return (f"selected on the validation split from {n} trial(s); the figure is the winner's on the test "
                "split, which no trial saw, scored once")
    if run.measured_on == "confirmed" and run.confirm:
        c = run.confirm
        spread = f"{c['std']:.4g}" if c.get("std") is not None else "-"
        return (f"the best of {n} trial(s) as its script reported it ({_number(c.get('selected'))}), run again with "
                f"{len(c['values'])} other seed(s): mean {_number(c.get('mean'))}, standard deviation {spread}, "
                f"range {_number(c.get('min'))} to {_number(c.get('max'))}")
    return f"the best of {n} trial(s), as the script reported it on its own test rows"


def data_summary(run: Run) -> dict[str, Any] | None:
    """Rows per split, class balance, warnings and drift flags of the run's snapshot (``None`` without data)."""
    data = run.data
    if not data:
        return None
    snap = data["snapshot"]
    total = max(snap["rows"], 1)
    splits = [{"name": name, "rows": counts["rows"],
               "classes": ", ".join(f"{k} {v}" for k, v in counts["classes"].items())}
              for name, counts in snap["splits"].items()]
    balance = [{"name": k, "rows": v, "share": f"{v / total:.1%}"} for k, v in snap["classes"].items()]
    drift = data.get("drift")
    return {"snapshot": snap["id"], "rows": snap["rows"], "columns": len(snap["columns"]), "source": data["source"],
            "splits": splits, "balance": balance, "kept_from": snap.get("kept_from") or "",
            "kept_rows": snap.get("kept_rows") or 0, "schema": data["schema_path"],
            "schema_inferred": data["schema_inferred"], "warnings": [w["message"] for w in data.get("warnings", [])],
            "drift": drift, "drift_note": data.get("drift_note", ""),
            "drift_share": f"{drift['share']:.0%}" if drift else "", "positive": data.get("positive")}


def context(run: Run, trials: list[Trial], images: dict[str, str] | None = None,
            broken_tweaks: Iterable[Any] | None = None, decision: Decision | None = None,
            history: Iterable[Run] = ()) -> dict[str, Any]:
    """Everything the templates show, from the stored run and its trials.

    Args:
        run: The run, finished or still running.
        trials: Its trials in number order (running ones included).
        images: Plot name (``metric``, ``curves``, ``history``) -> ``<img src>`` value.
        broken_tweaks: ``{tweak, error, trial}`` entries of tweaks that broke the script; default the run's own
            ``broken_tweaks`` when it has them.
        decision: The gate's decision on the run, once made.
        history: The project's last runs, newest first (the plot; listed in the text report).
    """
    running = not run.status.finished  # running, or interrupted: the same command continues it
    best = _best_so_far(run, trials)
    ended = [t for t in trials if t.status is not TrialStatus.RUNNING]
    last_log = next((t for t in reversed(ended) if t.log_tail), None)
    build_url = run.build_url or settings.BUILD_URL.get() or ""
    if broken_tweaks is None:
        broken_tweaks = getattr(run, "broken_tweaks", None)
    banner, status = verdict(run, decision)
    return {
        "run": run, "trials": trials, "best": best, "subject": subject(run, decision), "images": dict(images or {}),
        "status": status, "banner": banner, "running": running, "metric": run.metric,
        "ended": len(ended), "stylesheet": STYLESHEET, "inline_css": False,
        "build_url": build_url if build_url.startswith(("https://", "http://")) else "",
        "diff": best.diff if best else "", "diff_lines": diff_lines(best.diff if best else ""),
        "log_tail": last_log.log_tail if last_log and run.status is RunStatus.FAILED else "",
        "log_trial": last_log.number if last_log else None,
        "error": run.error if run.status in (RunStatus.FAILED, RunStatus.ABORTED) else None,
        "outcomes": {t.number: outcome(run, t) for t in trials},
        "reasoning": reasoning(trials),
        "measured": _measured(run, trials),
        "warnings": [(t.number, w) for t in trials for w in t.warnings],
        "broken_tweaks": _broken(broken_tweaks),
        "started": _when(run.created), "finished": _when(run.finished),
        "workers": len({t.worker for t in trials if t.worker}),
        "decision": decision, "gate_rows": gate_rows(decision), "evaluation": run.evaluation,
        "selection": selection(run, trials) if run.status.finished else "",
        "data": data_summary(run),
        "history": [{"id": r.id, "value": _number(r.value), "status": str(r.status)} for r in list(history)[:10]],
    }


def render_html(run: Run, trials: list[Trial], images: dict[str, str] | None = None, *, for_mail: bool = False,
                broken_tweaks: Iterable[Any] | None = None, decision: Decision | None = None,
                history: Iterable[Run] = ()) -> str:
    """The HTML report.

    Args:
        run: The run.
        trials: Its trials.
        images: Plot name (``metric``, ``curves``) -> ``<img src>`` value (a file beside the page, or ``cid:``).
        for_mail: Styles inlined into the elements (mail clients drop linked stylesheets); otherwise the page
            links ``report.css`` and carries no inline style or script (Jenkins' CSP blocks them).
        broken_tweaks, decision, history: See ``context``.
    """
    ctx = {**context(run, trials, images, broken_tweaks, decision, history), "inline_css": for_mail}
    html = TEMPLATES.get_template("report.html.j2").render(**ctx)
    return inline_styles(html) if for_mail else html


def stylesheet() -> str:
    """The report's CSS (``report.css``)."""
    return TEMPLATES.get_template(_CSS_TEMPLATE).render()


def inline_styles(html: str) -> str:
    """Move the page's ``<style>`` rules into ``style`` attributes (premailer), as mail clients want."""
    from premailer import Premailer

    return Premailer(html, allow_network=False, disable_validation=True, keep_style_tags=False,
                     cssutils_logging_level=logging.CRITICAL, remove_classes=False).transform()


def render_text(run: Run, trials: list[Trial], broken_tweaks: Iterable[Any] | None = None,
                decision: Decision | None = None, history: Iterable[Run] = ()) -> str:
    """The plain-text report (the mail's text alternative, and what ``mlops show`` prints)."""
    return TEMPLATES.get_template("report.txt.j2").render(**context(run, trials, broken_tweaks=broken_tweaks,
                                                                    decision=decision, history=history))


def write_report(run: Run, trials: list[Trial], run_dir: Path, decision: Decision | None = None,
                 history: Iterable[Run] = ()) -> Path:
    """Write ``report.html``, ``report.css`` and the plots (files beside it) into the run folder.

    Args:
        run: The run.
        trials: Its trials.
        run_dir: Its folder.
        decision: The gate's decision, once made.
        history: The project's last runs, newest first (``history.png``).

    Returns:
        The path of ``report.html``.
    """
    from core.notify.plots import write_plots

    history = list(history)
    plots = write_plots(run, trials, run_dir, history)
    (run_dir / STYLESHEET).write_text(stylesheet(), encoding="utf-8")
    path = run_dir / "report.html"
    path.write_text(render_html(run, trials, {k: p.name for k, p in plots.items()}, decision=decision,
                                history=history), encoding="utf-8")
    return path
