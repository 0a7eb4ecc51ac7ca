"""The local backend's sandbox: bubblewrap (``bwrap``, what Flatpak uses) around each trial and warm zygote.

A sandboxed trial has its own PID, network, IPC, UTS, mount (and, where the kernel allows, user) namespaces, an
unprivileged uid, a fresh ``/proc``, ``/dev`` and private ``/tmp``; of the host it sees only read-only binds of
what it needs (system libraries, the virtualenvs, the harness source, the project, the folders the spec names)
and one writable bind: its run folder. ``MLOPS_HOME``, ``$HOME``, ``/etc/shadow`` and other projects are not
there. Every descendant dies with it: the PID namespace ends when its first process does, and
``--die-with-parent`` ties that to the backend.

What a trial sees is decided in one place, ``view``; a new read-only folder of ``TrialSpec`` is one line there.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from core import paths, settings
from core.infra.virtualenvs import BASE_LINK
from training.backends._trial import TrialSpec

#: The unprivileged uid and gid a trial runs as (``nobody``), where user namespaces allow it.
SANDBOX_UID = 65534
#: Top-level system folders bound read-only (or re-created as the symlinks they are, on merged-/usr systems).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: What Python and its libraries read from ``/etc``: name resolution, users, time zone, certificates, linker
#: cache. Not ``shadow``, not ``ssh/``, not anything else.
ETC = ("resolv.conf", "hosts", "host.conf", "nsswitch.conf", "gai.conf", "protocols", "services", "passwd",
       "group", "localtime", "timezone", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates",
       "ca-certificates.conf", "alternatives", "mime.types", "fonts", "matplotlibrc", "os-release")
#: Allows running unsandboxed where ``--backend auto`` would refuse (the operator's environment, never a push).
ALLOW_UNSANDBOXED = settings.ALLOW_UNSANDBOXED.env
#: The ``bwrap`` program (default: ``bwrap`` on ``PATH``; empty: bubblewrap is not used).
BWRAP = settings.BWRAP.env


def _bwrap_program() -> str | None:
    name = settings.BWRAP.get()
    return shutil.which(name) if name else None


@functools.cache
def _probe(program: str, user: bool) -> bool:
    args = [program, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
            "--dev", "/dev"]
    if user:
        args += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    try:
        return subprocess.run([*args, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def bwrap() -> str | None:
    """The ``bwrap`` program when it can make namespaces here (checked once), else ``None``."""
    program = _bwrap_program()
    return program if program and _probe(program, False) else None


def user_namespaces() -> bool:
    """Whether a sandbox can run as the unprivileged ``SANDBOX_UID`` (user namespaces are allowed)."""
    program = bwrap()
    return program is not None and _probe(program, True)


def unavailable_reason() -> str:
    """Why bubblewrap is not used here, for the sandbox line."""
    program = _bwrap_program()
    if not settings.BWRAP.get():
        return f"{BWRAP} is empty"
    if program is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if bwrap() is not None:
        return "bubblewrap is turned off for this backend"
    return f"{program} cannot create namespaces here (are unprivileged user namespaces disabled?)"


def _ro(path: Path | str) -> list[str]:
    return ["--ro-bind", str(path), str(path)]


def _system() -> list[str]:
    args: list[str] = []
    for top in SYSTEM:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += _ro(top)
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _interpreter(python: Path) -> list[str]:
    """The virtualenvs (a project's layered virtualenv reads its environment's through a ``.pth``) and, when the
    base interpreter is not a system one, its installation."""
    venv = python.absolute().parent.parent
    args = _ro(venv.parent)
    for link in venv.glob(f"lib/python3*/site-packages/{BASE_LINK}"):  # a project's layer: its environment's
        base = Path(link.read_text().strip())  # site-packages, which may live elsewhere (a linked cache)
        if base.is_dir() and not _inside(base, [venv.parent]):
            args += _ro(base)
    real = Path(os.path.realpath(python))
    if not any(str(real).startswith(top + "/") for top in SYSTEM):
        args += _ro(real.parent.parent)
    return args


def _inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def view(spec: TrialSpec, python: Path, writable: Path) -> list[str]:
    """The bwrap arguments that make what a trial sees: system folders, its interpreter, the harness, and
    ``writable`` (its run folder, or a warm zygote's) writable, the project and the folders it names read-only.

    Binds apply in order, so a read-only one placed after ``writable`` wins inside it (a data project's
    generated folder lives in the run folder). Add a read-only folder of ``TrialSpec`` here, as one line.
    """
    harness = paths.source_root() / "training"
    args = [*_system(), *_interpreter(python), *_ro(harness)]
    args += ["--bind", str(writable), str(writable)]
    read_only = [spec.tree, spec.project] if spec.tree else [spec.project]  # the repository first: it holds the project
    if spec.datasets_cache:
        read_only.append(spec.datasets_cache)
    read_only += [Path(f) for f in spec.paths.values() if os.path.isabs(f)]  # relative ones are in the project
    bound: list[Path] = []
    for folder in read_only:
        folder = folder.absolute()
        if folder.exists() and not _inside(folder, bound):
            args += _ro(folder)
            bound.append(folder)
    return args


def command(spec: TrialSpec, python: Path, writable: Path, argv: list[str], cwd: Path) -> list[str]:
    """``bwrap ... python argv``: the trial's (or a zygote's) command in its sandbox.

    Raises:
        RuntimeError: bubblewrap is not usable here (callers check ``bwrap()`` first).
    """
    program = bwrap()
    if program is None:
        raise RuntimeError(unavailable_reason())
    args = [program, "--unshare-all", "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]
    if spec.network:
        args.append("--share-net")
    if user_namespaces():
        args += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    args += view(spec, python, writable)
    args += ["--chdir", str(cwd), "--", str(python), *argv]
    return args


def environment(env: dict[str, str]) -> dict[str, str]:
    """A trial's environment inside the sandbox: no host ``HOME`` or ``TMPDIR``."""
    return {**env, "HOME": "/tmp", "TMPDIR": "/tmp"}


def allowed_unsandboxed() -> bool:
    """Whether the operator's environment allows running pushes without a sandbox (``MLOPS_ALLOW_UNSANDBOXED=1``)."""
    return settings.ALLOW_UNSANDBOXED.get()


def pushed(from_hook: bool = False) -> str | None:
    """What runs a push here, when something does: the git hook, or Jenkins (its build variables)."""
    if from_hook:
        return "the git hook"
    for setting in (settings.JENKINS_URL, settings.BUILD_ID, settings.JENKINS_HOME):
        if setting.is_set():
            return f"Jenkins ({setting.env} is set)"
    return None


def describe(sandboxed: bool, limits: set[str], cgroup_version: str, memory: str, cpus: float, network: bool) -> str:
    """The sandbox line of a local run: ``sandbox: bubblewrap (...)`` or ``sandbox: NONE (...)``."""
    enforced = (f"memory {memory} via cgroup {cgroup_version}" if "memory" in limits
                else f"memory {memory} NOT enforced (no writable cgroup)")
    cpu = (f"cpus {cpus:g} via cgroup {cgroup_version}" if "cpu" in limits
           else f"cpus {cpus:g} as thread pools only (no writable cgroup)")
    if not sandboxed:
        return (f"sandbox: NONE ({unavailable_reason()}; the trial runs as this user and can read what it can; "
                f"{enforced}; {cpu}; network {'on' if network else 'NOT off'})")
    spaces = "pid, ipc, uts, mount" + ("" if network else ", net") + (", user" if user_namespaces() else "")
    uid = f"uid {SANDBOX_UID}" if user_namespaces() else "this user's uid"
    net = "network on (trial.network)" if network else "no network"
    return f"sandbox: bubblewrap ({spaces} namespaces; {uid}; project read-only; {net}; {enforced}; {cpu})"


__all__ = ["ALLOW_UNSANDBOXED", "BWRAP", "SANDBOX_UID", "allowed_unsandboxed", "bwrap", "command", "describe",
           "environment", "pushed", "unavailable_reason", "user_namespaces", "view"]

