"""The run as ``mlops run --json`` and ``summary.json`` show it: a typed record built from the ``Run`` (every
field of the run, so a new one appears without an edit here), its trials, where its files are, and what the gate
and the push add; the run's verdict line; reading a run named by an id, a summary or ``latest``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field

from core import paths
from core.console import Out
from core.errors import UsageError
from core.records import Decision, Run, RunStatus, Trial, TrialStatus
from core.store import RunStore


class Pushed(BaseModel):
    """What a push moved: ``alias`` of ``project`` now points at ``version`` (its model folder ``path``)."""

    project: str
    version: int
    path: str
    alias: str
    #: The version went to ``candidate``: a person promotes it (``approval: manual``, or inputs that change).
    awaiting_approval: bool = False


class TrialSummary(BaseModel):
    """The part of a trial that summaries show."""

    number: int
    status: TrialStatus
    value: float | None = None
    label: str = ""
    tweaks: list[str] = Field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, trial: Trial) -> Self:
        """The summary of ``trial``."""
        return cls.model_validate(trial.model_dump(include=set(cls.model_fields)))


class Summary(Run):
    """A run's summary: the run record (``run_id`` for its id), its trials and files, then what the later stages
    add: the gate's decision, the verdict, the push, the mail."""

    id: str = Field("", alias="run_id")
    trials: list[TrialSummary] = Field(default_factory=list)
    run_dir: str = ""
    report: str = ""
    blessed: bool | None = None
    decision: Decision | None = None
    verdict: str | None = None
    pushed: Pushed | None = None
    #: Why a blessed model was not pushed: production moved after the gate (a compare-and-swap failed).
    push_refused: str | None = None
    #: How the report mail went (``core.notify.send_run_report``).
    mail: dict[str, Any] | None = None

    @classmethod
    def of(cls, run: Run, trials: list[Trial]) -> Self:
        """The summary of a finished run and its trials."""
        run_dir = paths.runs_dir() / run.id
        return cls.model_validate({**dict(run), "trials": [TrialSummary.of(t) for t in trials],
                                   "run_dir": str(run_dir), "report": str(run_dir / "report.html")})

    @classmethod
    def read(cls, path: Path) -> Self:
        """A ``summary.json`` written by ``mlops train --out``."""
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    @property
    def passed(self) -> bool:
        """The target reached and, once evaluated, the gate blessed it."""
        return self.status is RunStatus.PASSED and self.blessed is not False

    def gated(self, decision: Decision) -> None:
        """Add the gate's decision."""
        self.blessed, self.decision = decision.blessed, decision

    def write(self, path: Path) -> None:
        """Write the summary as ``path``: its JSON document (``to_doc``, also what ``--json`` prints)."""
        path.write_text(json.dumps(self.to_doc(), indent=2), encoding="utf-8")


def say_verdict(out: Out, summary: Summary | None) -> None:
    """The run's last console line: ``PASSED  accuracy 0.9722 vs target 0.9  (run ..., 1 trial(s))``, and the
    gate's decision before it."""
    if summary is None:
        return
    if summary.decision is not None:
        blessed = summary.decision.blessed
        (out.ok if blessed else out.fail)(f"{'BLESSED' if blessed else 'NOT BLESSED'}: {summary.decision.reason}")
    value = summary.value
    line = f"{summary.metric} {value:.4f} vs target {summary.target}" if value is not None else \
        summary.error or "no trial produced a metric"
    on = {"test": " on the test split", "confirmed": " (mean over seeds)"}.get(summary.measured_on, "")
    note = f"  (run {summary.id}, {len(summary.trials)} trial(s))"
    (out.ok if summary.passed else out.fail)(f"{'PASSED' if summary.passed else 'FAILED'}  {line}{on}{note}")


def export_run(summary: Summary, out_dir: Path, out: Out) -> None:
    """Copy what CI archives into ``out_dir``: summary.json, report.html and plots, best script, diff, model."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(summary.run_dir)
    for name in ("report.html", "report.css", "metric.png", "curves.png", "timeline.png", "best.diff",
                 Path(summary.best_script or "").name):
        if name and (run_dir / name).is_file():
            shutil.copy2(run_dir / name, out_dir / name)
    if summary.model:
        (out_dir / "model").mkdir(exist_ok=True)
        shutil.copy2(summary.model, out_dir / "model" / Path(summary.model).name)
    summary.write(out_dir / "summary.json")
    out.info(f"artifacts in {out_dir}")


def verdict(run: Run) -> str:
    """One line a person understands: passed or not, the metric against the target, and why it stopped."""
    if run.status is RunStatus.RUNNING:
        return f"RUNNING: run {run.id} has not finished"
    if run.status is RunStatus.INTERRUPTED:
        return (f"INTERRUPTED: run {run.id} did not finish ({run.interrupted}); 'mlops run {run.path}' "
                "continues it")
    if run.status is RunStatus.ABORTED:
        return f"ABORTED: run {run.id} was {run.error or 'aborted'}; its trials so far are kept"
    if run.value is None:
        return f"FAILED: no {run.metric} was measured ({run.error or 'no trial finished'})"
    op = ">=" if run.goal == "maximize" else "<="
    if run.status is RunStatus.PASSED:
        return (f"PASSED: {run.metric} {run.value:.4f} {op} target {run.target} "
                f"(best trial {run.best_trial}, run {run.id})")
    side = "under" if op == ">=" else "over"
    why = f" after {run.stopped}" if run.stopped else ""
    return (f"FAILED: {run.metric} {run.value:.4f} is {side} the target {run.target}{why}; the best model "
            f"(trial {run.best_trial}) is kept at {run.model}")


def resolve_run(store: RunStore, ref: str) -> Run:
    """The run named by an id, a ``summary.json`` path, or ``latest``.

    Raises:
        UsageError: Nothing matches.
    """
    run_id = ref
    if ref == "latest":
        runs = store.find_runs(limit=1)
        if not runs:
            raise UsageError(f"no runs recorded in {store.description}")
        return runs[0]
    if ref.endswith(".json"):
        path = Path(ref)
        if not path.is_file():
            raise UsageError(f"{ref}: no such file; 'mlops train --out DIR' writes DIR/summary.json")
        try:
            run_id = json.loads(path.read_text(encoding="utf-8"))["run_id"]
        except (json.JSONDecodeError, KeyError) as e:
            raise UsageError(f"{ref}: not a summary written by mlops (no run_id)") from e
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in {store.description}; see 'mlops runs'")
    return run
