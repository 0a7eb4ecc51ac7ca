"""Build image: the trial environment (a Docker image, or a local virtualenv) with the project's packages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import BuildError
from core.infra.requirements import Packages, project_packages
from mlops.pipeline.stages._base import BaseStage

if TYPE_CHECKING:
    from mlops.pipeline.context import RunContext


@dataclass(frozen=True)
class BuildImage(BaseStage):
    """Choose the backend, say the sandbox, and build (or reuse) the environment."""

    def run(self, ctx: RunContext) -> None:
        """Record the prepared backend, the packages and what was built; ``--backend auto`` falls back to local
        virtualenvs when the Docker image cannot be built.

        Raises:
            BuildError: The environment cannot be built (with ``--backend docker``, or locally).
        """
        from training.backends import LocalBackend, get_backend, refuse_unsandboxed  # Docker: not for --help

        ctx.found_backend, why = get_backend(ctx.opts.backend, ctx.cfg.docker.hosts, from_hook=ctx.opts.from_hook)
        ctx.out.step(f"prepare: {why}")
        say_sandbox(ctx)
        ctx.packages = asked = project_packages(ctx.project_dir, ctx.cfg.packages, ctx.env)
        for line, reason in asked.ignored:
            ctx.out.info(f"{asked.source}: '{line}' is left out: {reason}")
        if asked:
            ctx.out.info(f"the project's packages ({asked.source}): {', '.join(asked.lines)}")
        try:
            ctx.built = prepare(ctx, asked)
        except BuildError as e:
            if ctx.opts.backend != "auto" or isinstance(ctx.backend, LocalBackend):
                raise
            reason = str(e).splitlines()[0]
            ctx.out.fail(f"warning: the Docker image could not be built ({reason}); training in local virtualenvs "
                         "instead. To train in Docker here, build a base image with scripts/bootstrap-base-image "
                         "and export MLOPS_BASE_IMAGE=mlops-base:bookworm (or use --backend docker to make this an "
                         "error)")
            ctx.found_backend = LocalBackend()
            refuse_unsandboxed(ctx.backend, ctx.opts.from_hook)
            say_sandbox(ctx)
            ctx.built = prepare(ctx, asked)
        ctx.out.info(ctx.built)


def say_sandbox(ctx: RunContext) -> None:
    """Print the one line naming the sandbox the trials get (kept for the run record and the report)."""
    ctx.sandbox = ctx.backend.sandbox_line(ctx.cfg.trial.memory, ctx.cfg.trial.cpus, ctx.cfg.trial.network)
    ctx.out.info(ctx.sandbox)


def prepare(ctx: RunContext, asked: Packages) -> str:
    """Prepare the backend's environment with ``asked`` and the script's imported packages; return what was
    built."""
    ctx.packages = with_imported_packages(ctx, asked)
    return ctx.backend.prepare(ctx.env, ctx.out.info, ctx.packages)


def with_imported_packages(ctx: RunContext, packages: Packages) -> Packages:
    """``packages`` and, unless ``auto_packages: false`` (``packages: none``), the pinned PyPI distributions of
    the script's imports that neither the environment nor ``packages`` provides; said in one line.

    Raises:
        BuildError: The environment itself cannot be built (to ask it what it lacks).
    """
    from training.autopackages import resolve_imports

    if ctx.is_data_project or not ctx.cfg.auto_packages or not ctx.detection.imports:
        return packages
    ctx.backend.prepare(ctx.env, ctx.out.info)  # the environment itself (cached): what can it import?
    imports = [(e.what, f"{e.file}:{e.line}") for e in ctx.detection.imports]
    missing = ctx.backend.missing_modules(ctx.env, [name for name, _ in imports])
    auto = resolve_imports(imports, missing, ctx.env, packages)
    for line in auto.lines(ctx.env):
        ctx.out.info(line)
        if line not in ctx.resolved:
            ctx.resolved.append(line)
    return packages.with_auto(auto.pins)
