"""Detect: configuration, framework, kind, entry script (for a data project: the model mlops will write)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError
from mlops.pipeline.stages._base import BaseStage

if TYPE_CHECKING:
    from mlops.pipeline.context import RunContext
    from training.detect import Detection


@dataclass(frozen=True)
class Detect(BaseStage):
    """Read the code (or the data) and decide the framework, the model kind, the task and the image."""

    def run(self, ctx: RunContext) -> None:
        """Record the detection, the task's configuration, the script's text and what the trials see.

        Raises:
            ConfigError: ``confirm:`` on a data project, ``framework:`` on a script, or a ``paths:`` folder missing.
            DetectionError: The code shows no framework.
        """
        from training.detect import load_source  # libcst and pandas: not for `mlops --help`
        from training.resolve import reach_of

        ctx.out.step(f"detect {ctx.project}")
        data_project = ctx.is_data_project
        ctx.found_detection = d = data_detection(ctx) if data_project else script_detection(ctx)
        ctx.cfg = ctx.cfg.for_task(d.task)
        check_paths(ctx)
        why = "the task's default metric" if ctx.cfg.metric_is_default else "from mlops.yaml"
        ctx.out.info(f"{d.entry}: {d.framework} ({d.kind}) -> image {d.image}; {d.task or 'classification'}, "
                     f"judged on {ctx.cfg.metric} ({why}), target {ctx.cfg.target:g}")
        if data_project:
            return
        ctx.source = load_source(ctx.project_dir / d.entry)
        ctx.reach = reach_of(ctx.project_dir, d, ctx.cfg.paths)
        for line in ctx.reach.lines:
            ctx.out.info(line)
        ctx.resolved += ctx.reach.lines


def data_detection(ctx: RunContext) -> Detection:
    """A data project's detection: the model mlops will write for its snapshot's task."""
    from training.dataproject import data_detection as detection

    if ctx.cfg.confirm:
        raise ConfigError("mlops.yaml", "confirm", "is for script projects; a data project is scored once on its "
                                                   "test split, which no trial sees")
    summary = ctx.snapshot.summary if ctx.snapshot is not None else None
    return detection(ctx.cfg.framework, summary.task if summary else None, summary.id if summary else "")


def script_detection(ctx: RunContext) -> Detection:
    """A script's detection, read from its code."""
    from training.detect import detect

    if ctx.cfg.framework:
        raise ConfigError("mlops.yaml", "framework", "is for data projects (data: and no script); your script's "
                                                     "code decides the framework")
    return detect(ctx.project, ctx.cfg.entry, ctx.cfg.image)


def check_paths(ctx: RunContext) -> None:
    """``paths:`` folders and the datasets cache must exist.

    Raises:
        ConfigError: One does not, with what to do.
    """
    for prefix, folder in ctx.cfg.paths.items():
        if not (ctx.project_dir / folder).is_dir():
            raise ConfigError("mlops.yaml", f"paths.{prefix}", f"'{folder}' is not a folder of the project "
                                                               f"{ctx.project_dir}")
    cache = ctx.cfg.datasets_cache
    if cache and not Path(cache).expanduser().is_dir():
        raise ConfigError("datasets_cache (or MLOPS_DATASETS_CACHE)", "", f"{cache} is not a folder; create it and "
                          "put the files Keras downloads there (e.g. mnist.npz)")
