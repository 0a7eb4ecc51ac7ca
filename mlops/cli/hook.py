"""``mlops hook``: git hooks that train on push, for repositories without Jenkins."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.console import Out
from mlops.cli._app import app, handles_errors

hook_app = typer.Typer(help="Git hooks that train on push, for repositories without Jenkins.", no_args_is_help=True)
app.add_typer(hook_app, name="hook")


@hook_app.command("install")
@handles_errors
def hook_install(
    repo: Annotated[Path, typer.Argument(help="A bare repository you push to, or a working repository.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a hook that mlops did not write.")] = False,
) -> None:
    """Install a hook that runs 'mlops run' on every push (bare) or commit (working repository)."""
    from mlops.pipeline.hook import install

    path = install(repo, force=force)
    print(f"installed {path}; pushes now train (set JENKINS_URL to trigger Jenkins instead)")


@hook_app.command("run")
@handles_errors
def hook_run(
    git_dir: Annotated[Path, typer.Option(help="The repository's git folder.")],
    stdin: Annotated[bool, typer.Option("--stdin", help="Read post-receive lines (old new ref) from stdin.")
                     ] = False,
    rev: Annotated[str | None, typer.Option(help="Train this revision (post-commit).")] = None,
) -> None:
    """What the installed hook calls: trigger Jenkins (JENKINS_URL set) or train the revision locally."""
    from core.settings import JENKINS_URL
    from mlops.pipeline.hook import pushed_revisions, run_revision, trigger_jenkins

    out = Out()
    updates = pushed_revisions(sys.stdin.read().splitlines()) if stdin else [(rev or "HEAD", "HEAD")]
    code = 0
    for revision, branch in updates:
        if JENKINS_URL.is_set():
            trigger_jenkins(branch, revision, out)
        else:
            code = max(code, run_revision(git_dir, revision, out))
    raise typer.Exit(code)
