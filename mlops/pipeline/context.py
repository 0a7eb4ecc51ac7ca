"""What the stages of one run share: the typed ``RunContext``, opened once per project (configuration read, name
claimed) and filled in stage by stage.

A stage reads what an earlier stage found through a property that says, in one line, which is missing when the
stages ran out of order; nothing is typed ``Any`` and nothing is asserted at the use site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from core.config import ProjectConfig, load_config
from core.confine import check_pushed_paths
from core.console import Out
from core.errors import MlopsError, UsageError
from core.identity import claim, origin_of
from core.infra.requirements import NO_PACKAGES, Packages
from core.names import check_name, default_name
from core.records import Decision, Run, env_of
from core.registry import who
from core.store import RunStore
from mlops.pipeline.options import RunOptions

if TYPE_CHECKING:  # what the stages find: their modules import pandas, Docker and the backends
    from core.data import Snapshot
    from mlops.pipeline.data import DataCheck
    from mlops.pipeline.summary import Summary
    from training.backends import Backend
    from training.detect import Detection
    from training.resolve import Reach

T = TypeVar("T")


class StageOrderError(MlopsError):
    """A stage needs what an earlier stage finds, and that stage has not run (a programming error)."""


def resolve_project(path: Path) -> Path:
    """The absolute project path.

    Raises:
        UsageError: It does not exist.
    """
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder; give the training project's folder or script")
    return path.resolve()


@dataclass
class RunContext:
    """One project's run: what every stage gets (``cfg`` and the rest are there from the start), and what the
    stages find on the way (read through properties that check once that the stage finding it has run)."""

    project: Path
    opts: RunOptions
    out: Out
    store: RunStore
    cfg: ProjectConfig
    #: What mlops decided on its own for the script (paths mapped, repository, packages): console and report.
    resolved: list[str] = field(default_factory=list)
    #: The script's text (a data project's: the script mlops wrote, once written).
    source: str = ""
    #: The snapshot of ``data:`` and what validating it found (``None``: the project declares no data).
    snapshot: Snapshot | None = None
    data_check: DataCheck | None = None
    #: What the trials see beyond the project folder (scripts only; a data project's script sees its folder).
    reach: Reach | None = None
    packages: Packages = NO_PACKAGES
    #: The line naming the sandbox the trials get (``sandbox: bubblewrap (...)``), and what was built.
    sandbox: str = ""
    built: str = ""
    found_detection: Detection | None = None
    found_backend: Backend | None = None
    found_run: Run | None = None
    found_summary: Summary | None = None
    found_decision: Decision | None = None

    @classmethod
    def open(cls, project: Path, opts: RunOptions, out: Out, store: RunStore) -> RunContext:
        """Resolve the project, read its configuration (what the push says, confined to the project) and claim
        its name.

        Raises:
            UsageError: No such project, or its name is bound to a project from elsewhere (``core.identity``).
            ConfigError: Bad ``mlops.yaml``.
        """
        path = resolve_project(project)
        ctx = cls(project=path, opts=opts, out=out, store=store, cfg=load_config(path, opts.overrides()))
        check_pushed_paths(ctx.project_dir, load_config(path, environ={}))
        claim(store, ctx.name, opts.origin or origin_of(ctx.project_dir), who=who())
        return ctx

    @property
    def project_dir(self) -> Path:
        """The project folder (the folder around a single script)."""
        return self.project if self.project.is_dir() else self.project.parent

    @property
    def name(self) -> str:
        """``name:`` from mlops.yaml, else the name given by the caller (the git hook: the repository's), else the
        project folder's name, made a valid name (``my repo`` -> ``my-repo``).

        Raises:
            UsageError: The folder's name makes no valid name.
        """
        if self.cfg.name:
            return check_name(self.cfg.name)
        return default_name(self.opts.project_name or self.project_dir.name)

    @property
    def is_data_project(self) -> bool:
        """``data:`` and no script: mlops writes the training script."""
        from training.dataproject import is_data_project  # pandas: not for `mlops --help`

        return is_data_project(self.project_dir, self.cfg.data is not None, self.cfg.entry)

    @property
    def detection(self) -> Detection:
        """Framework, kind, entry script and image."""
        return found(self.found_detection, "the detection (framework, kind, entry script)")

    @property
    def backend(self) -> Backend:
        """Where the trials run, prepared."""
        return found(self.found_backend, "the trial environment (backend)")

    @property
    def run(self) -> Run:
        """The run on record (as its training left it)."""
        return found(self.found_run, "the run on record")

    @property
    def summary(self) -> Summary:
        """The run's summary (``summary.json``), which the later stages add to."""
        return found(self.found_summary, "the run's summary")

    @property
    def decision(self) -> Decision:
        """The gate's decision."""
        return found(self.found_decision, "the gate's decision")

    @property
    def env(self) -> str:
        """The trial environment: ``ml`` or ``dl``."""
        return env_of(self.detection.kind)


def found(value: T | None, what: str) -> T:
    """``value``, found by an earlier stage.

    Raises:
        StageOrderError: That stage has not run.
    """
    if value is None:
        raise StageOrderError(f"{what} is not known yet: the stage that finds it runs earlier in "
                              "mlops.pipeline.stages.STAGES")
    return value
