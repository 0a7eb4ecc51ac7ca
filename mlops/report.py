"""The run report: HTML (saved as ``report.html``, mailed) and a plain-text version."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_ENV = Environment(loader=PackageLoader("mlops", "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def subject(run: dict[str, Any]) -> str:
    """``[mlops] PASSED wine: accuracy 0.9722 >= 0.8 (run ...)``: the verdict first."""
    status = str(run.get("status", "running")).upper()
    value = run.get("value")
    op = ">=" if run.get("goal", "maximize") == "maximize" else "<="
    if value is None:
        metric = f"no {run.get('metric', 'metric')} (target {run.get('target')})"
    else:
        ok = status == "PASSED"
        metric = f"{run.get('metric')} {value:.4f} {op if ok else 'misses'} {run.get('target')}"
    return f"[mlops] {status} {run.get('project')}: {metric} (run {run['_id']})"


def context(run: dict[str, Any], trials: list[dict[str, Any]], images: dict[str, str] | None = None
            ) -> dict[str, Any]:
    """Everything the templates show, from the stored run and its trials."""
    best_no = run.get("best_trial")
    best = next((t for t in trials if t.get("number") == best_no), None)
    failed = run.get("status") != "passed"
    last = trials[-1] if trials else {}
    return {
        "run": run, "trials": trials, "best": best, "subject": subject(run), "images": images or {},
        "build_url": run.get("build_url") or os.environ.get("BUILD_URL"),
        "diff": (best or {}).get("diff") or "",
        "log_tail": last.get("log_tail") if failed else "",
        "error": run.get("error") if failed else None,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.get("finished") or time.time())),
    }


def render_html(run: dict[str, Any], trials: list[dict[str, Any]], images: dict[str, str] | None = None
                ) -> str:
    """The HTML report. ``images`` maps a name (``metric``, ``curves``) to an ``<img src>`` value."""
    return _ENV.get_template("report.html.j2").render(**context(run, trials, images))


def render_text(run: dict[str, Any], trials: list[dict[str, Any]]) -> str:
    """The plain-text report (the mail's text alternative, and what a terminal shows)."""
    return _ENV.get_template("report.txt.j2").render(**context(run, trials))


def write_report(run: dict[str, Any], trials: list[dict[str, Any]], run_dir: Path) -> Path:
    """Write ``report.html`` (plots as files beside it) into the run folder and return its path."""
    from mlops.plots import write_plots

    plots = write_plots(run, trials, run_dir)
    path = run_dir / "report.html"
    path.write_text(render_html(run, trials, {k: p.name for k, p in plots.items()}), encoding="utf-8")
    return path
