"""The stage list is the one place a stage is named: ``mlops run`` runs it in order, each stage is a command, the
context says which stage is missing, and the summary carries the whole run record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from core.console import Out
from core.records import Run, RunStatus
from core.store import get_run_store
from mlops.cli import app
from mlops.pipeline.context import RunContext, StageOrderError
from mlops.pipeline.options import RunOptions
from mlops.pipeline.run import run_stages
from mlops.pipeline.stages import STAGES, BaseStage, OutsideRun, Stage, stage_called
from mlops.pipeline.summary import Summary


@dataclass(frozen=True)
class Recording(BaseStage):
    """A stage that notes its name in the context's ``resolved`` lines."""

    def run(self, ctx: RunContext) -> None:
        ctx.resolved.append(self.name)


def context(folder: Path) -> RunContext:
    """The context of a one-script project in ``folder``."""
    (folder / "train.py").write_text("print('accuracy', 1.0)\n")
    return RunContext.open(folder, RunOptions(), Out(quiet=True), get_run_store())


def test_every_stage_is_a_stage_named_once_with_a_command_of_the_cli() -> None:
    assert all(isinstance(stage, Stage) for stage in STAGES)
    assert len({stage.name for stage in STAGES}) == len(STAGES)
    group = typer.main.get_command(app)
    for stage in STAGES:
        if stage.cli:
            command = group
            for word in stage.cli:
                command = command.commands[word]  # type: ignore[attr-defined]
            assert command.help.startswith(f'Jenkins stage "{stage.name}": '), stage.name
    assert stage_called("data", "validate").name == "Validate data"
    with pytest.raises(LookupError, match="no stage calls 'mlops nothing'"):
        stage_called("nothing")


def test_mlops_run_runs_the_stages_of_the_list_in_order_up_to_the_one_asked(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first, outside, second, third = (Recording("A", "mlops a"), OutsideRun("B", "mlops b"), Recording("C", "mlops c"),
                                     Recording("D", "mlops d"))
    monkeypatch.setattr("mlops.pipeline.run.STAGES", (first, outside, second, third))
    ctx = context(tmp_path)
    run_stages(ctx, until=second)
    assert ctx.resolved == ["A", "C"]
    run_stages(ctx)
    assert ctx.resolved == ["A", "C", "A", "C", "D"]


def test_mlops_run_help_lists_the_stages_it_runs() -> None:
    shown = " ".join(CliRunner().invoke(app, ["run", "--help"]).output.split())
    listed = ", ".join(s.name.lower() for s in STAGES if s.in_run)
    assert f"Run every stage locally: {listed}; then the report mail." in shown


def test_what_a_stage_needs_from_an_earlier_one_is_said_in_one_line_when_that_one_has_not_run(
        tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert ctx.name == tmp_path.name and ctx.project_dir == tmp_path
    with pytest.raises(StageOrderError, match=r"^the run on record is not known yet: the stage that finds it runs "
                                              r"earlier in mlops\.pipeline\.stages\.STAGES$"):
        stage_called("evaluate").run(ctx)
    with pytest.raises(StageOrderError, match=r"^the gate's decision is not known yet"):
        _ = ctx.decision


def test_the_summary_is_the_whole_run_record_with_its_id_as_run_id_and_reads_back(tmp_path: Path) -> None:
    run = Run(id="r1", project="wine", status=RunStatus.PASSED, value=0.95, owner="host:1", build_url="http://ci")
    summary = Summary.of(run, [])
    doc = summary.to_doc()
    assert doc["run_id"] == "r1" and "id" not in doc and "_id" not in doc
    assert set(Run.model_fields) - {"id"} <= set(doc)  # a field added to Run is in the summary with no edit
    assert doc["status"] == "passed" and doc["owner"] == "host:1" and doc["report"].endswith("r1/report.html")
    summary.write(tmp_path / "summary.json")
    assert Summary.read(tmp_path / "summary.json") == summary
    assert summary.passed  # not evaluated yet: the target decides
    summary.blessed = False
    assert not summary.passed
