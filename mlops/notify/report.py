"""The run report: HTML (saved as ``report.html``, mailed) and a plain-text version."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from mlops.records import Run, Trial

_ENV = Environment(loader=PackageLoader("mlops.notify", "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def subject(run: Run) -> str:
    """``[mlops] PASSED wine: accuracy 0.9722 >= 0.8 (run ...)``: the verdict first."""
    status = str(run.status).upper()
    op = ">=" if run.goal == "maximize" else "<="
    if run.value is None:
        metric = f"no {run.metric} (target {run.target})"
    else:
        ok = status == "PASSED"
        metric = f"{run.metric} {run.value:.4f} {op if ok else 'misses'} {run.target}"
    return f"[mlops] {status} {run.project}: {metric} (run {run.id})"


def context(run: Run, trials: list[Trial], images: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the templates show, from the stored run and its trials."""
    best = next((t for t in trials if t.number == run.best_trial), None)
    failed = run.status != "passed"
    last = trials[-1] if trials else None
    return {
        "run": run, "trials": trials, "best": best, "subject": subject(run), "images": images or {},
        "build_url": run.build_url or os.environ.get("BUILD_URL"),
        "diff": best.diff if best else "",
        "log_tail": last.log_tail if failed and last else "",
        "error": run.error if failed else None,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.finished or time.time())),
    }


def render_html(run: Run, trials: list[Trial], images: dict[str, str] | None = None
                ) -> str:
    """The HTML report. ``images`` maps a name (``metric``, ``curves``) to an ``<img src>`` value."""
    return _ENV.get_template("report.html.j2").render(**context(run, trials, images))


def render_text(run: Run, trials: list[Trial]) -> str:
    """The plain-text report (the mail's text alternative, and what a terminal shows)."""
    return _ENV.get_template("report.txt.j2").render(**context(run, trials))


def write_report(run: Run, trials: list[Trial], run_dir: Path) -> Path:
    """Write ``report.html`` (plots as files beside it) into the run folder and return its path."""
    from mlops.notify.plots import write_plots

    plots = write_plots(run, trials, run_dir)
    path = run_dir / "report.html"
    path.write_text(render_html(run, trials, {k: p.name for k, p in plots.items()}), encoding="utf-8")
    return path
