"""A project name is an identity: bound at its first run to where the project comes from, refused elsewhere.

The origin is the project's git remote (normalised: ``github.com/team/models`` for the https and the ssh
address alike, credentials never kept), with ``#sub/folder`` when the project is a folder of the repository;
without a remote, the project folder's resolved path. The git hook passes its repository's path (each push is
checked out into a new folder). Only the operator moves a name to another origin (``mlops projects rebind``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import UsageError
from core.names import check_name
from core.records import ProjectRecord
from core.store import RunStore

_SCP = re.compile(r"^(?:[^@/:]+@)?([^/:]+):(?!//)(.+)$")  # git@host:team/repo.git
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(text: str) -> str:
    """Text from a project made safe for one console or mail line (control characters escaped)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def normalise_remote(url: str, base: Path | None = None) -> str:
    """A git remote as an identity: ``host/path`` without scheme, user, password, port or ``.git``; a local
    remote as its resolved path (relative ones from ``base``)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ssh", "git", "git+ssh", "ssh+git") and parts.hostname:
        host, path = parts.hostname.lower(), parts.path
    elif parts.scheme == "file":
        return str(Path(parts.path).resolve())
    elif (scp := _SCP.match(url)) and not url.startswith(("/", ".")):
        host, path = scp.group(1).lower(), scp.group(2)
    else:
        return str(((base or Path.cwd()) / url).resolve())
    path = path.strip("/").removesuffix(".git").rstrip("/")
    return f"{host}/{path}"


def _git(folder: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def origin_of(folder: Path) -> str:
    """Where a project folder comes from: its git remote (``origin``, else the first) with ``#sub/folder``, or
    the folder's resolved path when it is not in a checkout with a remote."""
    folder = folder.resolve()
    top = _git(folder, "rev-parse", "--show-toplevel")
    remotes = _git(folder, "remote").split() if top else []
    if not remotes:
        return str(folder)
    remote = "origin" if "origin" in remotes else remotes[0]
    url = _git(folder, "remote", "get-url", remote)
    if not url:
        return str(folder)
    within = folder.relative_to(Path(top).resolve()).as_posix()
    return normalise_remote(url, Path(top)) + ("" if within == "." else f"#{within}")


def claim(store: RunStore, name: str, origin: str, who: str = "", run: str = "") -> ProjectRecord:
    """Bind ``name`` to ``origin`` if it is free; refuse it if it is bound elsewhere.

    Raises:
        UsageError: The name belongs to another origin; the message names it and what to do.
    """
    check_name(name)
    held = store.bind_project(ProjectRecord(name=name, origin=origin, who=who, why=f"first run {run}".strip()))
    if held.origin != origin:
        raise UsageError(f"project '{name}' belongs to {shown(held.origin)} (bound {_when(held.time)}), not to "
                         f"{shown(origin)}; rename this one with 'name:' in mlops.yaml, or the operator can rebind "
                         f"it: mlops projects rebind {name} {_quoted(origin)}")
    return held


def rebind(store: RunStore, name: str, origin: str, who: str, why: str = "") -> ProjectRecord:
    """The operator's move of a name to another origin (the next run from there may use it; the operator's gate,
    if any, stays)."""
    check_name(name)
    before = store.projects(name)
    kept = {"gate": before[0].gate, "target": before[0].target} if before else {}
    return store.bind_project(ProjectRecord(name=name, origin=origin, who=who, why=why or "rebound by the operator",
                                            **kept), replace=True)


def set_gate(store: RunStore, name: str, gate: dict[str, Any] | None, target: float | None, who: str
             ) -> ProjectRecord:
    """The operator's gate and target for a project's candidates (``None`` for both: production's again).

    Raises:
        UsageError: The project has no bound name yet (run it first), or a rule is invalid.
    """
    from pydantic import ValidationError

    from core.config import METRICS, GateMetric

    check_name(name)
    before = store.projects(name)
    if not before:
        raise UsageError(f"project '{name}' has not run yet; 'mlops projects' lists the projects")
    for metric, rule in (gate or {}).items():
        if metric not in METRICS:
            raise UsageError(f"--gate: unknown metric '{metric}'; use one of {', '.join(METRICS)}")
        try:
            GateMetric.model_validate(rule or {})
        except ValidationError as e:
            first = e.errors()[0]
            raise UsageError(f"--gate: {metric}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    record = before[0].model_copy(update={"gate": {m: dict(r or {}) for m, r in gate.items()} if gate else None,
                                          "target": target, "who": who})
    return store.bind_project(record, replace=True)


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(shown(text))
