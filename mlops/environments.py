"""Where code runs: trial and serving environments (virtualenvs and Docker images) built from the
requirements files, cached by content hash, and the Docker engine client.

Both the training backends and the serving units use these, so they live in the core layer.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops import paths
from mlops.errors import BackendError, BuildError

#: Receives progress lines.
Say = Callable[[str], None]

#: Environment -> requirements file (relative to the source root).
REQUIREMENTS = {"ml": "requirements-ml.txt", "dl": "requirements-dl.txt"}
SERVE_REQUIREMENTS = "requirements-serve.txt"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
_READY = ".mlops-ready"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def requirements_file(env: str) -> Path:
    """The requirements file of a trial environment (``ml`` or ``dl``).

    Raises:
        BuildError: The tool was installed without its requirements files.
    """
    path = paths.source_root() / REQUIREMENTS[env]
    if not path.is_file():
        raise BuildError(f"{path} is missing; install mlops from its source tree (pip install -e .)")
    return path


def content_hash(*files: Path, extra: str = "") -> str:
    """A short hash of files' names and contents (and an extra string): the cache key of venvs and images."""
    h = hashlib.sha256(extra.encode())
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


# -- virtualenvs ---------------------------------------------------------------------------------

class Virtualenvs:
    """One virtualenv per set of requirements files, cached by their content hash, built once (file-locked).

    Args:
        cache_dir: Where the virtualenvs live (default ``$MLOPS_CACHE_DIR``).
        python: The interpreter that creates them (default: the one running mlops).
    """

    def __init__(self, cache_dir: Path | None = None, python: str | None = None) -> None:
        self.cache_dir = cache_dir or paths.cache_dir()
        self.python = python or sys.executable

    def path(self, env: str, extra: tuple[Path, ...] = ()) -> Path:
        """The virtualenv of ``env`` (plus extra requirements files, e.g. the serving ones)."""
        files = (requirements_file(env), *extra)
        prefix = env if not extra else f"{env}-" + "-".join(f.stem.removeprefix("requirements-") for f in extra)
        return self.cache_dir / "venvs" / f"{prefix}-{content_hash(*files)}"

    def python_of(self, env: str, extra: tuple[Path, ...] = ()) -> Path:
        """The interpreter of that virtualenv."""
        return self.path(env, extra) / "bin" / "python"

    def prepare(self, env: str, say: Say, extra: tuple[Path, ...] = ()) -> str:
        """Build the virtualenv unless a complete one exists; return a description of it.

        Raises:
            BuildError: pip failed (the message ends with the log's last lines).
        """
        venv = self.path(env, extra)
        if (venv / _READY).exists():
            return f"virtualenv {venv} (cached)"
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(venv.parent / f"{venv.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (venv / _READY).exists():
                return f"virtualenv {venv} (cached)"
            self._build(venv, (requirements_file(env), *extra), say)
        return f"virtualenv {venv} (built)"

    def _build(self, venv: Path, files: tuple[Path, ...], say: Say) -> None:
        names = " + ".join(f.name for f in files)
        say(f"building the virtualenv {venv.name} from {names} (first run only; takes a minute or two)")
        shutil.rmtree(venv, ignore_errors=True)
        log_path = venv.parent / f"{venv.name}.log"
        install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                   "--progress-bar", "off"]
        for f in files:
            install += ["-r", str(f)]
        start = time.time()
        with log_path.open("w") as log:
            for cmd in ([self.python, "-m", "venv", str(venv)], install):
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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


# -- Docker --------------------------------------------------------------------------------------

def base_image() -> str:
    """The base image passed as ``BASE_IMAGE``: ``$MLOPS_BASE_IMAGE`` or ``python:3.11-slim``."""
    return os.environ.get("MLOPS_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def docker_client(timeout: int = 5, base_url: str | None = None) -> tuple[Any | None, str]:
    """A connected Docker client and ``""``, or ``None`` and the reason no engine answers.

    Args:
        timeout: Seconds to wait for the engine's answer.
        base_url: The engine (``unix://...``, ``tcp://host:2376``); default from the environment
            (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``, as the Docker CLI reads them).
    """
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return None, "the docker Python package is not installed"
    where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=base_url, timeout=timeout) if base_url else \
            docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as e:
        return None, f"nothing answers at {where}: {type(e).__name__}"
    client.api.timeout = 600
    return client, ""


def dockerfile(name: str) -> Path:
    """``dockerfiles/<name>.Dockerfile``."""
    return paths.source_root() / "dockerfiles" / f"{name}.Dockerfile"


class Images:
    """Trial and serving images on one Docker engine, tagged by the content hash of what they are built from.

    Args:
        client: A connected ``docker.DockerClient`` (injected; see ``docker_client``).
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def trial_tag(self, env: str) -> str:
        """``mlops-<env>:<hash of Dockerfile, requirements and base image>``."""
        return f"mlops-{env}:{content_hash(dockerfile(env), requirements_file(env), extra=base_image())}"

    def exists(self, tag: str) -> bool:
        """Whether the engine has the image."""
        from docker.errors import ImageNotFound

        try:
            self.client.images.get(tag)
            return True
        except ImageNotFound:
            return False

    def prepare_trial(self, env: str, say: Say) -> str:
        """Build the environment's trial image unless it exists; return a description.

        Raises:
            BuildError: The build failed (with a hint when the base image cannot be pulled).
        """
        tag = self.trial_tag(env)
        if self.exists(tag):
            return f"image {tag} (cached)"
        files = {"Dockerfile": dockerfile(env), "requirements.txt": requirements_file(env)}
        say(f"building image {tag} from {dockerfile(env).name} on {base_image()} (first run only)")
        self.build(tag, files, {"BASE_IMAGE": base_image()}, say, labels={"mlops.env": env})
        return f"image {tag} (built)"

    def build(self, tag: str, files: dict[str, Path], buildargs: dict[str, str], say: Say,
              labels: dict[str, str] | None = None) -> None:
        """Build ``tag`` from a context of just ``files`` (context name -> path; folders are added whole).

        Raises:
            BuildError: The engine reported an error.
        """
        from docker.errors import APIError

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, path in files.items():
                tar.add(path, arcname=name, filter=_no_bytecode)
        buf.seek(0)
        start = time.time()
        error, log = None, []
        try:
            for chunk in self.client.api.build(fileobj=buf, custom_context=True, tag=tag, rm=True, forcerm=True,
                                               buildargs=buildargs, decode=True, labels=labels or {}):
                if "stream" in chunk and chunk["stream"].strip():
                    line = _ANSI.sub("", chunk["stream"]).rstrip()
                    log.append(line)
                    if line.startswith(("Step ", "Successfully", "ERROR")):
                        say("  " + line[:160])
                if "error" in chunk:
                    error = chunk["error"].strip()
        except APIError as e:
            error = str(e.explanation or e)
        if error:
            hint = " (no registry here? run scripts/bootstrap-base-image and set MLOPS_BASE_IMAGE)" \
                if "pull access" in error or "not found" in error or "manifest" in error \
                or "registry" in error or "dial tcp" in error else ""
            raise BuildError(f"building {tag} failed: {error}{hint}", log="\n".join(log[-10:]),
                             where=str(self.client.api.base_url))
        say(f"built {tag} in {time.time() - start:.0f}s")


def _no_bytecode(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name or info.name.endswith(".pyc") else info


def translate_docker_error(what: str, error: BaseException, where: str = "") -> BackendError:
    """One ``BackendError`` for a Docker SDK error (raise it ``from`` the original)."""
    explanation = getattr(error, "explanation", None) or str(error)
    return BackendError(f"{what}: {explanation}", where=where)
