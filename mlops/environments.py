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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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
BASE_LINK = "_mlops_base_env.pth"  # a layered virtualenv's path to its environment's site-packages
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


# -- a project's own packages -----------------------------------------------------------------------

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
#: Packages the trial environments provide: a project may not replace them (the image decides their version).
PROVIDED_ALIASES = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "keras", "tf-keras",
                    "scikit-learn", "sklearn", "numpy", "scipy", "pandas", "joblib", "matplotlib", "h5py"}


def normalize_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def provided(env: str) -> set[str]:
    """Normalized names of what an environment's requirements file installs (and their usual aliases)."""
    names = {normalize_name(n) for n in PROVIDED_ALIASES}
    for line in requirements_file(env).read_text().splitlines():
        m = _NAME.match(line.split("#", 1)[0])
        if m:
            names.add(normalize_name(m.group(1)))
    return names


@dataclass(frozen=True)
class Packages:
    """What a project needs on top of its trial environment (``requirements.txt``, ``packages:``).

    Args:
        lines: Requirement lines to install, in order.
        ignored: ``(line, why)`` of lines left out because the environment provides that package.
        source: Where they came from, for messages.
    """

    lines: tuple[str, ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()
    source: str = ""
    #: Pinned distributions for the script's imports (``seaborn==0.13.2``), installed from wheels only.
    auto: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.lines or self.auto)

    def text(self) -> str:
        """The requirements file to install: from wheels only (a push's packages are not built on the machine
        that trains it, outside the trial's sandbox) unless the operator sets ``MLOPS_ALLOW_SOURCE_BUILDS=1``;
        the automatic ones from wheels always."""
        text = "".join(line + "\n" for line in (*self.lines, *self.auto))
        if self.lines and os.environ.get("MLOPS_ALLOW_SOURCE_BUILDS") != "1":
            text += "--only-binary=:all:\n"
        elif self.auto:
            text += f"--only-binary={','.join(_NAME.match(a).group(1) for a in self.auto)}\n"  # type: ignore[union-attr]
        return text

    def with_auto(self, pins: list[str] | tuple[str, ...]) -> Packages:
        """These packages and the pinned ones installed for the script's imports."""
        return Packages(self.lines, self.ignored, self.source, tuple(pins))

    def described(self) -> str:
        """What they are, for a progress line (``seaborn==0.13.2 (for the script's imports)``)."""
        parts = [f"{', '.join(self.lines)} (from {self.source})"] if self.lines else []
        if self.auto:
            parts.append(f"{', '.join(self.auto)} (for the script's imports)")
        return "; ".join(parts)

    def digest(self) -> str:
        """The cache key part of these packages."""
        return hashlib.sha256(self.text().encode()).hexdigest()[:12]


#: No packages beyond the environment's.
NO_PACKAGES = Packages()


def project_packages(project_dir: Path, declared: list[str], env: str) -> Packages:
    """The packages a project asks for: its ``requirements.txt`` and ``packages:`` of mlops.yaml, without the
    ones its environment provides (their version is the image's: a project's ``tensorflow==2.4`` is left out,
    with a note)."""
    wanted: list[str] = []
    source = []
    req = project_dir / "requirements.txt"
    if req.is_file():
        source.append("requirements.txt")
        for raw in req.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith(("#", "-")):
                wanted.append(line)
    if declared:
        source.append("packages: in mlops.yaml")
        wanted += [d.strip() for d in declared if d.strip()]
    have = provided(env)
    lines, ignored = [], []
    for line in wanted:
        m = _NAME.match(line)
        name = normalize_name(m.group(1)) if m else line
        if name in have:
            ignored.append((line, f"the {env} environment provides {m.group(1) if m else line}"))
        elif line not in lines:
            lines.append(line)
    return Packages(tuple(lines), tuple(ignored), " and ".join(source))


# -- virtualenvs ---------------------------------------------------------------------------------

#: What pip and venv keep of this process's environment when they build a virtualenv: where things are, the
#: locale, pip's own settings and proxies; no token or password of the operator's reaches a package's build.
_BUILD_ENV = re.compile(r"^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_\w+|TMPDIR|TZ|PIP_\w+|SSL_CERT_\w+|"
                        r"REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|(?i:https?_proxy|no_proxy|all_proxy)|"
                        r"PYTHONHASHSEED|SOURCE_DATE_EPOCH)$")


def build_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a virtualenv is built in: this one without anything secret (``JENKINS_TOKEN``,
    ``SMTP_PASSWORD``, ``MLOPS_FEEDBACK_TOKEN``, ...): only what ``_BUILD_ENV`` names."""
    return {k: v for k, v in (os.environ if environ is None else environ).items() if _BUILD_ENV.match(k)}


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


def serving_client(trained_on: str = "") -> tuple[Any | None, str]:
    """Where a run's model is served: a Docker client, or ``None`` and why it is a local process.

    A run that trained in local virtualenvs (``trained_on == "local"``: no engine, or one that could not build its
    image) is served by a local process too; the engine that could not build the trial image cannot build the
    serving one.
    """
    if trained_on == "local":
        return None, "the run trained in local virtualenvs"
    return docker_client()


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

    def trial_tag(self, env: str, packages: Packages = NO_PACKAGES) -> str:
        """``mlops-<env>:<hash of Dockerfile, requirements and base image>``; with a project's packages, the
        image derived from it: ``mlops-<env>-pkgs:<hash of that and the packages>``."""
        tag = f"mlops-{env}:{content_hash(dockerfile(env), requirements_file(env), extra=base_image())}"
        if packages:
            return f"mlops-{env}-pkgs:{content_hash(extra=tag + packages.text())}"
        return tag

    def exists(self, tag: str) -> bool:
        """Whether the engine has the image."""
        from docker.errors import ImageNotFound

        try:
            self.client.images.get(tag)
            return True
        except ImageNotFound:
            return False

    def prepare_trial(self, env: str, say: Say, packages: Packages = NO_PACKAGES) -> str:
        """Build the environment's trial image (and the layer with a project's packages) unless it exists;
        return a description.

        Raises:
            BuildError: The build failed (with a hint when the base image cannot be pulled).
        """
        tag = self.trial_tag(env, packages)
        if self.exists(tag):
            return f"image {tag} (cached)"
        if packages:
            base = self.trial_tag(env)
            self.prepare_trial(env, say)
            with tempfile.TemporaryDirectory() as tmp:
                req, con = Path(tmp) / "requirements.txt", Path(tmp) / "constraints.txt"
                req.write_text(packages.text())
                con.write_text(requirements_file(env).read_text())
                say(f"building image {tag}: {packages.described()} on {base} (first run only)")
                self.build(tag, {"Dockerfile": dockerfile("packages"), "requirements.txt": req,
                                 "constraints.txt": con}, {"BASE_IMAGE": base}, say, labels={"mlops.env": env})
            return f"image {tag} (built)"
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
