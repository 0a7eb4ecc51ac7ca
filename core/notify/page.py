"""The project page (``mlops page``): one static HTML page per project, for a person who did not run anything.

Its model versions with their figures and gate decisions, the alias history (who moved which alias, when, why,
from which run) and what was production at any time, the metric of every run over time, live accuracy and the
labels it rests on, the latest drift, and each run's report. Written with its stylesheet, plots and the copied run
reports as files beside it, so it renders under Jenkins' default Content-Security-Policy (no script, no inline
style) when the monitor job publishes it. Everything a project controls reaches the HTML autoescaped.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from core.records import AliasMove, Event, ModelVersion, Run, RunStatus
from core.registry import PRODUCTION, Registry
from core.store import RunStore

#: The page's files: the stylesheet, and the plots (absent when there is nothing to draw).
PAGE, STYLESHEET, RUNS_PLOT, LIVE_PLOT = "index.html", "page.css", "runs.png", "live.png"
#: The files of a run folder that make its report (copied beside the page; models and logs are not).
REPORT_FILES = ("*.html", "*.css", "*.png", "*.diff")


@dataclass(frozen=True)
class ProductionSpan:
    """A version's time as production: from one move of the alias to the next (``until`` None: still is)."""

    version: int
    since: float
    until: float | None
    who: str
    why: str
    run_id: str | None


@dataclass
class ProjectPage:
    """What the page shows, gathered from the run store and the registry."""

    project: str
    versions: list[ModelVersion]
    aliases: dict[str, int]
    history: list[AliasMove]
    runs: list[Run]
    live: list[Event]
    generated: float = field(default_factory=time.time)

    @property
    def spans(self) -> list[ProductionSpan]:
        """What was production when (oldest first)."""
        return production_spans(self.history)

    @property
    def drift(self) -> dict[str, Any] | None:
        """The latest drift seen: the newest live check that measured it, else the newest run's data check."""
        for check in reversed(self.live):
            if getattr(check, "drift_share", None) is not None or getattr(check, "drift_note", ""):
                return {"source": f"live check of {_when(check.time)} (served rows vs the training snapshot)",
                        "share": getattr(check, "drift_share", None), "columns": getattr(check, "drifted", []) or [],
                        "note": getattr(check, "drift_note", "")}
        for run in self.runs:
            drift = (run.data or {}).get("drift")
            if drift:
                return {"source": f"run {run.id} (its snapshot vs the previous one)", "share": drift.get("share"),
                        "columns": drift.get("columns") or [], "note": (run.data or {}).get("drift_note", "")}
        return None


def production_spans(history: list[AliasMove]) -> list[ProductionSpan]:
    """The production alias's moves as spans: each version from the move that made it production to the next."""
    moves = sorted((m for m in history if m.alias == PRODUCTION), key=lambda m: m.time)
    return [ProductionSpan(m.version, m.time, nxt.time if nxt else None, m.who, m.why, m.run_id)
            for m, nxt in zip(moves, [*moves[1:], None], strict=True)]


def gather(store: RunStore, project: str, runs: int = 50) -> ProjectPage:
    """A project's page contents: its versions, aliases and their history, its last ``runs`` runs (newest first)
    and its live checks (oldest first)."""
    registry = Registry(store)
    return ProjectPage(project=project, versions=registry.versions(project), aliases=registry.aliases(project),
                       history=registry.history(project), runs=store.find_runs(project=project, limit=runs),
                       live=store.events("live_check", project=project))


def _when(stamp: float | None) -> str:
    """A time as the page shows it (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp)) if stamp else "-"


def copy_reports(runs: list[Run], runs_root: Path, out: Path) -> dict[str, str]:
    """Copy each run's report (HTML, stylesheet, plots, diff) to ``out/runs/ID/``: run id -> the page's link."""
    links: dict[str, str] = {}
    for run in runs:
        source = runs_root / run.id
        if not (source / "report.html").is_file():
            continue
        target = out / "runs" / run.id
        target.mkdir(parents=True, exist_ok=True)
        for pattern in REPORT_FILES:
            for path in source.glob(pattern):
                if path.is_file() and not path.is_symlink():
                    shutil.copyfile(path, target / path.name)
        links[run.id] = f"runs/{run.id}/report.html"
    return links


def write_plots(page: ProjectPage, out: Path) -> dict[str, str]:
    """``runs.png`` (each run's figure over time against its target) and ``live.png`` (live accuracy and the
    labels it rests on): plot name -> file name, for the ones there was something to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn: dict[str, str] = {}
    scored = sorted((r for r in page.runs if r.value is not None), key=lambda r: r.created)
    if scored:
        fig, ax = plt.subplots(figsize=(7.5, 2.8), dpi=90)
        for ok, colour, label in ((True, "tab:green", "passed"), (False, "tab:red", "missed the target")):
            points = [r for r in scored if (r.status == RunStatus.PASSED) == ok]
            if points:
                ax.plot([r.created for r in points], [r.value for r in points], "o", color=colour, label=label)
        ax.plot([r.created for r in scored], [r.value for r in scored], "-", color="silver", zorder=0)
        ax.step([r.created for r in scored], [r.target for r in scored], "--", where="post", color="gray",
                label="target")
        _time_axis(ax, [r.created for r in scored])
        ax.set_ylabel(scored[-1].metric)
        ax.legend(loc="best", fontsize="x-small")
        fig.tight_layout()
        fig.savefig(out / RUNS_PLOT)
        plt.close(fig)
        drawn["runs"] = RUNS_PLOT
    checks = [c for c in page.live if getattr(c, "accuracy", None) is not None]
    if checks:
        fig, ax = plt.subplots(figsize=(7.5, 2.8), dpi=90)
        times = [c.time for c in checks]
        labels = ax.twinx()
        labels.bar(times, [getattr(c, "labels", 0) for c in checks], width=_bar_width(times), color="lightsteelblue",
                   label="labels in the window")
        labels.set_ylabel("labels")
        ax.set_zorder(labels.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot(times, [c.accuracy for c in checks], "o-", color="tab:blue", label="live accuracy")
        ax.plot(times, [getattr(c, "threshold", 0.0) for c in checks], "--", color="tab:red", label="threshold")
        ax.set_ylabel("accuracy")
        _time_axis(ax, times)
        ax.legend(loc="lower left", fontsize="x-small")
        fig.tight_layout()
        fig.savefig(out / LIVE_PLOT)
        plt.close(fig)
        drawn["live"] = LIVE_PLOT
    return drawn


def _time_axis(ax: Any, times: list[float]) -> None:
    """Label the x axis with UTC times."""
    ticks = sorted(set(times))
    if len(ticks) > 6:
        step = len(ticks) / 6
        ticks = [ticks[int(i * step)] for i in range(6)]
    ax.set_xticks(ticks)
    ax.set_xticklabels([time.strftime("%m-%d %H:%M", time.gmtime(t)) for t in ticks], fontsize="x-small",
                       rotation=20)


def _bar_width(times: list[float]) -> float:
    """A bar width that keeps neighbouring checks' bars apart."""
    gaps = [b - a for a, b in pairwise(sorted(times)) if b > a]
    return (min(gaps) if gaps else 600.0) * 0.6


def render(page: ProjectPage, plots: dict[str, str], reports: dict[str, str]) -> str:
    """The page's HTML (autoescaped template ``page.html.j2``)."""
    from core.notify.report import TEMPLATES

    held: dict[int, list[str]] = {}
    for alias, version in page.aliases.items():
        held.setdefault(version, []).append(alias)
    return TEMPLATES.get_template("page.html.j2").render(
        page=page, plots=plots, reports=reports, held=held, spans=page.spans, drift=page.drift, when=_when,
        stylesheet=STYLESHEET, production=page.aliases.get(PRODUCTION),
        live=[c for c in reversed(page.live)][:30])


def write_page(page: ProjectPage, out: Path, runs_root: Path) -> Path:
    """Write ``index.html``, ``page.css``, the plots and the runs' reports into ``out``: the page's path."""
    from core.notify.report import TEMPLATES

    out.mkdir(parents=True, exist_ok=True)
    reports = copy_reports(page.runs, runs_root, out)
    plots = write_plots(page, out)
    (out / STYLESHEET).write_text(TEMPLATES.get_template("page.css.j2").render(), encoding="utf-8")
    path = out / PAGE
    path.write_text(render(page, plots, reports), encoding="utf-8")
    return path
