"""Local trial environments: virtualenvs built from the requirements files, cached by content hash."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core import paths
from core.errors import BuildError
from core.infra.requirements import NO_PACKAGES, Packages, Say, build_environment, content_hash, requirements_file

BASE_LINK = "_mlops_base_env.pth"  # a layered virtualenv's path to its environment's site-packages


_READY = ".mlops-ready"


def _complete(venv: Path) -> bool:
    """Built to the end, and a layered one still sees the environment it was layered on."""
    if not (venv / _READY).exists():
        return False
    link = next(venv.glob(f"lib/python3*/site-packages/{BASE_LINK}"), None)
    return link is None or Path(link.read_text().strip()).is_dir()


class Virtualenvs:
    """One virtualenv per set of requirements files, cached by their content hash, built once (file-locked).

    Args:
        cache_dir: Where the virtualenvs live (default ``$MLOPS_CACHE_DIR``).
        python: The interpreter that creates them (default: the one running mlops).
    """

    def __init__(self, cache_dir: Path | None = None, python: str | None = None) -> None:
        self.cache_dir = cache_dir or paths.cache_dir()
        self.python = python or sys.executable

    def path(self, env: str, extra: tuple[Path, ...] = (), packages: Packages = NO_PACKAGES) -> Path:
        """The virtualenv of ``env`` (plus extra requirements files, e.g. the serving ones, or a project's
        packages: a virtualenv layered on the environment's one)."""
        if packages:
            key = content_hash(requirements_file(env), extra=packages.text())
            return self.cache_dir / "venvs" / f"{env}-pkgs-{key}"
        files = (requirements_file(env), *extra)
        prefix = env if not extra else f"{env}-" + "-".join(f.stem.removeprefix("requirements-") for f in extra)
        return self.cache_dir / "venvs" / f"{prefix}-{content_hash(*files)}"

    def python_of(self, env: str, extra: tuple[Path, ...] = (), packages: Packages = NO_PACKAGES) -> Path:
        """The interpreter of that virtualenv."""
        return self.path(env, extra, packages) / "bin" / "python"

    def prepare(self, env: str, say: Say, extra: tuple[Path, ...] = (), packages: Packages = NO_PACKAGES) -> str:
        """Build the virtualenv unless a complete one exists; return a description of it.

        Raises:
            BuildError: pip failed (the message ends with the log's last lines).
        """
        if packages:
            self.prepare(env, say)
        venv = self.path(env, extra, packages)
        if _complete(venv):
            return f"virtualenv {venv} (cached)"
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(venv.parent / f"{venv.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _complete(venv):
                return f"virtualenv {venv} (cached)"
            if packages:
                self._build_layer(venv, env, packages, say)
            else:
                self._build(venv, (requirements_file(env), *extra), say)
        return f"virtualenv {venv} (built)"

    def _build_layer(self, venv: Path, env: str, packages: Packages, say: Say) -> None:
        """A virtualenv that sees the environment's packages (a ``.pth`` file) and adds the project's."""
        base = self.path(env)
        req = venv.parent / f"{venv.name}.requirements.txt"
        req.write_text(packages.text())
        site = next((base / "lib").glob("python3*/site-packages")).resolve()  # not through a symlink that may go

        def link(_: Say) -> None:
            target = next((venv / "lib").glob("python3*/site-packages"))
            (target / BASE_LINK).write_text(str(site) + "\n")

        say(f"adding {packages.described()} to the {env} environment (first run only)")
        self._build(venv, (), say, requirements=[str(req)], constraints=requirements_file(env), after_venv=link)

    def _build(self, venv: Path, files: tuple[Path, ...], say: Say, requirements: list[str] | None = None,
               constraints: Path | None = None, after_venv: Callable[[Say], None] | None = None) -> None:
        names = " + ".join([f.name for f in files] + [Path(r).name for r in requirements or []])
        say(f"building the virtualenv {venv.name} from {names} (first run only; takes a minute or two)")
        shutil.rmtree(venv, ignore_errors=True)
        log_path = venv.parent / f"{venv.name}.log"
        install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                   "--progress-bar", "off"]
        for f in [*map(str, files), *(requirements or [])]:
            install += ["-r", f]
        if constraints:
            install += ["-c", str(constraints)]
        start = time.time()
        with log_path.open("w") as log:
            for i, cmd in enumerate(([self.python, "-m", "venv", str(venv)], install)):
                if i == 1 and after_venv:
                    after_venv(say)
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=build_environment())
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    if line.startswith(("Collecting", "Successfully installed")):
                        say("  " + line.rstrip()[:120])
                if proc.wait() != 0:
                    log.flush()
                    tail = "".join(log_path.read_text().splitlines(keepends=True)[-5:])
                    shutil.rmtree(venv, ignore_errors=True)
                    raise BuildError(f"building the virtualenv {venv.name} failed ({' '.join(cmd[-2:])}); "
                                     f"see {log_path}", log=tail, where=str(self.cache_dir))
        (venv / _READY).write_text(f"built in {time.time() - start:.0f}s from {names}\n")
        say(f"built {venv} in {time.time() - start:.0f}s")
