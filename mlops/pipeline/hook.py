"""Git hooks for users without Jenkins: train on every push (or commit), or hand it to Jenkins.

``mlops hook install REPO`` writes ``post-receive`` into a bare repository (the server side of
``git push``) or ``post-commit`` into a working repository. The hook calls ``mlops hook run``, which
either triggers the Jenkins job through its REST API (python-jenkins) when ``JENKINS_URL`` is set, or
checks the pushed commit out and runs every stage locally; its output reaches the pusher.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from core import paths, settings
from core.console import Out
from core.errors import MlopsError, UsageError
from core.records import RunStatus

MARKER = "# installed by mlops hook install"


def _git(git_dir: Path, *args: str) -> str:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise MlopsError(f"git {' '.join(args)} failed in {git_dir}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def git_dir_of(repo: Path) -> tuple[Path, bool]:
    """The repository's git folder and whether it is bare.

    Raises:
        UsageError: ``repo`` is not a git repository.
    """
    proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--absolute-git-dir", "--is-bare-repository"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"{repo}: not a git repository (git init it, or give the bare repository you push to)")
    git_dir, bare = proc.stdout.rstrip("\n").rsplit("\n", 1)  # one value a line: the folder may hold spaces
    return Path(git_dir), bare.strip() == "true"


def install(repo: Path, force: bool = False) -> Path:
    """Install the hook; return its path.

    Raises:
        UsageError: Not a repository, or a hook that mlops did not write is in the way.
    """
    git_dir, bare = git_dir_of(repo)
    hook = git_dir / "hooks" / ("post-receive" if bare else "post-commit")
    if hook.exists() and MARKER not in hook.read_text(errors="replace") and not force:
        raise UsageError(f"{hook} exists and was not written by mlops; move it away or use --force")
    mode = "--stdin" if bare else "--rev HEAD"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(
        "#!/bin/sh\n"
        f"{MARKER}: train what is pushed (mlops run), or trigger Jenkins when JENKINS_URL is set.\n"
        f'exec {shlex.quote(sys.executable)} -m mlops hook run --git-dir "$(git rev-parse --absolute-git-dir)" '
        f"{mode}\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook


def pushed_revisions(lines: list[str]) -> list[tuple[str, str]]:
    """``(new revision, branch)`` of each branch update in post-receive input (deletions skipped)."""
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("refs/heads/") and set(parts[1]) != {"0"}:
            updates.append((parts[1], parts[2].removeprefix("refs/heads/")))
    return updates


def trigger_jenkins(branch: str, revision: str, out: Out) -> None:
    """Start the Jenkins job (``JENKINS_JOB``, default ``mlops-train``) through the REST API."""
    import jenkins

    url, job = settings.JENKINS_URL.get(), settings.JENKINS_JOB.get()
    server = jenkins.Jenkins(url, username=settings.JENKINS_USER.get(), password=settings.JENKINS_TOKEN.get(),
                             timeout=20)
    try:
        server.build_job(job, {"PROJECT_DIR": settings.PROJECT_DIR.get()})
    except (jenkins.JenkinsException, OSError) as e:
        raise MlopsError(f"cannot start Jenkins job {job} at {url}: {e}") from e
    out.info(f"mlops: started Jenkins job {job} for {branch} at {revision[:10]} ({url})")


#: How many checkouts of a repository the hook keeps (the newest); older ones are removed.
KEEP_CHECKOUTS = 5


def repository_name(git_dir: Path) -> str:
    """The repository's name: ``models`` for ``models.git`` or for ``models/.git``."""
    folder = git_dir.parent if git_dir.name == ".git" else git_dir
    return folder.name.removesuffix(".git")


def run_revision(git_dir: Path, revision: str, out: Out) -> int:
    """Check ``revision`` out into ``$MLOPS_HOME/checkouts/<repository>/`` and run every stage; return the exit
    code. The project keeps one name across pushes: ``name:`` in mlops.yaml, else the repository's name."""
    from core.names import default_name
    from mlops.pipeline.options import RunOptions
    from mlops.pipeline.run import run_project

    short = _git(git_dir, "rev-parse", "--short=12", revision)
    repo = default_name(repository_name(git_dir))
    dest = paths.home() / "checkouts" / repo / short
    if not dest.exists():
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", revision], capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    os.utime(dest)
    prune_checkouts(dest.parent, keep=KEEP_CHECKOUTS)
    project = dest / settings.PROJECT_DIR.get()
    out.info(f"mlops: training {short} of {repo} from {project}")
    within = Path(settings.PROJECT_DIR.get()).as_posix().strip("/")
    origin = str(git_dir.resolve()) + ("" if within in ("", ".") else f"#{within}")
    opts = RunOptions(backend=settings.HOOK_BACKEND.get(), project_name=repo, origin=origin, from_hook=True)
    summary = run_project(project, opts, out)
    return 0 if summary.status is RunStatus.PASSED else 1


def prune_checkouts(folder: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` most recently used checkouts in ``folder``; return the removed ones."""
    import shutil

    checkouts = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in checkouts[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return checkouts[keep:]
