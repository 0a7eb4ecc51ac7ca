"""Serving units: a serving container, or (without Docker) a local serving process, behind one interface,
and how to start one for a model version in the registry.

Both kinds answer the same few questions, so one restart policy (the watchdog) serves both. Docker SDK
errors are translated into ``BackendError`` here, at the boundary.
"""

from __future__ import annotations

import abc
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from core import paths
from core.console import Out
from core.errors import DeployError, UsageError
from core.infra.docker_engine import translate_docker_error
from core.infra.images import SERVE_REQUIREMENTS, Images, dockerfile
from core.infra.requirements import content_hash
from core.infra.virtualenvs import Virtualenvs
from core.registry import Registry
from core.settings import MODEL_DIR, MONGODB_URI, UNIT, environment
from monitor.serving.settings import CAPTURE_DIR_ENV, CAPTURE_ENV, UNIT_ENVS

ROLE = "serving"


#: The one module of the core the serving package imports (the settings' declarations, standard library only).
SETTINGS_MODULE = ("core/__init__.py", "core/settings.py")


def _serve_files() -> dict[str, Path]:
    """The serving image's build context: its Dockerfile, requirements, the serving package as a whole and, beside
    it, the settings' declarations."""
    root = paths.source_root()
    package = root / "monitor" / "serving"
    return {"Dockerfile": dockerfile("serve"), "requirements-serve.txt": root / SERVE_REQUIREMENTS,
            **{f"serving/{f.relative_to(package)}": f for f in sorted(package.rglob("*"))
               if f.is_file() and "__pycache__" not in f.parts},
            **{name: root / name for name in SETTINGS_MODULE}}


def serving_path() -> str:
    """The ``PYTHONPATH`` of a serving process run from this source tree: the serving package's folder, then the
    tree (for ``core.settings``, which the serving image holds beside the package)."""
    root = paths.source_root()
    return os.pathsep.join([str(root / "monitor"), str(root)])


#: What a unit's record or container keeps of what it was started with (``unit_env``).
KEPT_ENVS = (*UNIT_ENVS, MONGODB_URI.env, CAPTURE_DIR_ENV)


def unit_env(project: str, capture_at: str | None = None) -> dict[str, str]:
    """What a serving unit is started with: the settings of ``UNIT_ENVS`` that are set here (the feedback token,
    capture, retention, the request limits), and where it captures: the run store's MongoDB when ``MONGODB_URI``
    is set, else the project's spool (``capture_at``: where it is mounted, for a container).

    A unit keeps them (a local unit in its private record, a container in its own environment), so that a restart
    or a rollback by ``mlops watch`` starts it the same way whatever the watchdog's own environment holds.
    """
    env = {s.env: str(s.text()) for s in UNIT if s.is_set()}
    if MONGODB_URI.is_set():
        env[MONGODB_URI.env] = str(MONGODB_URI.text())
    else:
        folder = paths.capture_dir(project)
        folder.mkdir(parents=True, exist_ok=True)
        env[CAPTURE_DIR_ENV] = capture_at or str(folder)
    return env


def probe_env() -> dict[str, str]:
    """What a unit that only answers the gate's probes is started with: no capture (its answers are not live
    predictions, and never reach the capture store or ``/review``) and no feedback token."""
    return {CAPTURE_ENV: "off"}


def free_port() -> int:
    """A free TCP port on 127.0.0.1, fixed at start so that restarts keep the unit's address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_folder(registry: Registry, project: str, version: int) -> Path:
    """The registry folder of a version, checked to hold a model.

    Raises:
        DeployError: The version's files are not in the registry.
    """
    folder = registry.folder(project, version)
    if not (folder / "model.json").is_file():
        raise DeployError(f"model v{version} of {project} is not in the registry ({folder}); "
                          "see 'mlops models PROJECT'")
    return folder


class ServingUnit(abc.ABC):
    """One running model server."""

    name: str
    project: str
    version: int
    env: str

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Where the server answers on this machine."""

    @abc.abstractmethod
    def state(self) -> tuple[str, str | None]:
        """``(status, health)``: status ``running`` or ``exited``; health ``healthy``, ``unhealthy``,
        ``starting`` or ``None``."""

    @abc.abstractmethod
    def restart(self) -> None:
        """Start it again with the same model."""

    @abc.abstractmethod
    def logs(self, tail: int = 20) -> str:
        """Its last log lines."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Stop it for good."""

    @abc.abstractmethod
    def start_version(self, registry: Registry, version: int, out: Out) -> ServingUnit:
        """Start a unit of the same kind serving another model version of the project."""

    def wait_healthy(self, timeout: float = 120) -> str:
        """Wait for ``healthy`` (or ``exited``/``unhealthy``/``timeout``)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, health = self.state()
            if status == "exited":
                return "exited"
            if health in ("healthy", "unhealthy"):
                return health
            time.sleep(0.3)
        return "timeout"


# -- containers ----------------------------------------------------------------------------------

def serve_image(client: Any, env: str, out: Out) -> str:
    """Build (or reuse) ``mlops-serve-<env>:<hash>`` on top of the environment's trial image."""
    images = Images(client)
    images.prepare_trial(env, out.info)
    base = images.trial_tag(env)
    files = _serve_files()
    tag = f"mlops-serve-{env}:{content_hash(*files.values(), extra=base)}"
    if not images.exists(tag):
        out.info(f"building serving image {tag} on {base}")
        images.build(tag, files, {"BASE_IMAGE": base}, out.info)
    return tag


def serving_containers(client: Any, project: str | None = None) -> list[Any]:
    """Serving containers (any state), optionally of one project."""
    labels = [f"mlops.role={ROLE}"] + ([f"mlops.project={project}"] if project else [])
    return client.containers.list(all=True, filters={"label": labels})


def start_container(client: Any, registry: Registry, project: str, version: int, env: str, out: Out,
                    memory: str = "2g", settings: dict[str, str] | None = None) -> DockerUnit:
    """Start a serving container for a model version (not yet waiting for it), with ``settings`` in its
    environment (default: ``unit_env``)."""
    from docker.errors import DockerException

    folder = model_folder(registry, project, version)
    tag = serve_image(client, env, out)
    name = f"mlops-serve-{project}-v{version}-{int(time.time())}"
    settings = unit_env(project, capture_at="/capture") if settings is None else settings
    volumes = {str(folder): {"bind": "/model", "mode": "ro"}}
    extra: dict[str, Any] = {}
    if CAPTURE_DIR_ENV in settings:  # the spool is shared with the mlops commands: same user on both sides
        spool = paths.capture_dir(project)
        spool.mkdir(parents=True, exist_ok=True)
        volumes[str(spool)] = {"bind": settings[CAPTURE_DIR_ENV], "mode": "rw"}
        extra["user"] = f"{os.getuid()}:{os.getgid()}"
    try:
        container = client.containers.run(
            tag, detach=True, name=name, volumes=volumes, environment=settings, **extra,
            ports={"8000/tcp": ("127.0.0.1", free_port())}, mem_limit=memory, read_only=True,
            tmpfs={"/tmp": "rw,exec,size=256m"}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            labels={"mlops.role": ROLE, "mlops.project": project, "mlops.model_version": str(version),
                    "mlops.env": env},
        )
    except DockerException as e:
        raise translate_docker_error(f"cannot start a serving container from {tag}", e) from e
    return DockerUnit(client, container)


class DockerUnit(ServingUnit):
    """A serving container."""

    def __init__(self, client: Any, container: Any) -> None:
        self.client, self.container = client, container
        self.name = container.name
        self.project = container.labels.get("mlops.project", "?")
        self.version = int(container.labels.get("mlops.model_version", 0))
        self.env = container.labels.get("mlops.env", "ml")

    def _call(self, what: str, fn: Any) -> Any:
        from docker.errors import DockerException

        try:
            return fn()
        except DockerException as e:
            raise translate_docker_error(f"{what} {self.name}", e) from e

    @property
    def url(self) -> str:
        self._call("inspecting", self.container.reload)
        port = self.container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        return f"http://127.0.0.1:{port}"

    def state(self) -> tuple[str, str | None]:
        self._call("inspecting", self.container.reload)
        st = self.container.attrs["State"]
        status = "running" if st["Status"] in ("running", "created", "restarting") else "exited"
        return status, st.get("Health", {}).get("Status")

    def restart(self) -> None:
        self._call("restarting", lambda: self.container.restart(timeout=5))

    def logs(self, tail: int = 20) -> str:
        return self._call("reading the logs of", lambda: self.container.logs(tail=tail)).decode(errors="replace")

    def remove(self) -> None:
        self._call("removing", lambda: self.container.remove(force=True))

    def start_version(self, registry: Registry, version: int, out: Out) -> ServingUnit:
        return start_container(self.client, registry, self.project, version, self.env, out,
                               settings=self.settings())

    def settings(self) -> dict[str, str]:
        """What the container was started with (``KEPT_ENVS`` of its environment)."""
        self._call("inspecting", self.container.reload)
        pairs = (item.split("=", 1) for item in self.container.attrs["Config"].get("Env") or [] if "=" in item)
        return {name: value for name, value in pairs if name in KEPT_ENVS}


# -- local processes -----------------------------------------------------------------------------

def serving_records() -> Path:
    """``$MLOPS_HOME/serving``: one JSON record per local serving process."""
    return paths.home() / "serving"


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write a unit's record readable by this user only (it holds the feedback token), replacing it at once."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(json.dumps(data, indent=2))
    os.replace(tmp, path)


class LocalUnit(ServingUnit):
    """A serving process on this machine (uvicorn in a virtualenv of the model's environment).

    Its record (``serving_records()/<name>.json``, mode 0600) keeps what it was started with (``settings``), so
    that a restart or a rollback starts it the same way.
    """

    def __init__(self, record: Path) -> None:
        self.record = record
        self.data: dict[str, Any] = json.loads(record.read_text())
        self.name, self.project = self.data["name"], self.data["project"]
        self.version, self.env = int(self.data["version"]), self.data["env"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.data['port']}"

    def _alive(self) -> bool:
        pid = self.data["pid"]
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that ended: reap it
                return False
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a dead process nobody reaped yet (its parent, `mlops deploy`, has exited) is a zombie
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True

    def state(self) -> tuple[str, str | None]:
        if not self._alive():
            return "exited", None
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return "running", "healthy" if r.status == 200 else "starting"
        except urllib.error.HTTPError:
            return "running", "starting"
        except OSError:
            grace = time.time() - self.data["started"] < 90
            return "running", "starting" if grace else "unhealthy"

    def restart(self) -> None:
        self._stop()
        self.data.update(_spawn(self.data))
        self._save()

    def logs(self, tail: int = 20) -> str:
        try:
            return "".join(Path(self.data["log"]).read_text(errors="replace").splitlines(keepends=True)[-tail:])
        except OSError:
            return ""

    def remove(self) -> None:
        self._stop()
        self.record.unlink(missing_ok=True)

    def start_version(self, registry: Registry, version: int, out: Out) -> ServingUnit:
        return start_local(registry, self.project, version, self.env, out, settings=self.data.get("settings"))

    def _stop(self) -> None:
        if self._alive():
            try:
                os.killpg(self.data["pid"], signal.SIGTERM)
            except ProcessLookupError:
                return
            for _ in range(50):
                if not self._alive():
                    return
                time.sleep(0.1)
            os.killpg(self.data["pid"], signal.SIGKILL)

    def _save(self) -> None:
        _write_private(self.record, self.data)


def _spawn(data: dict[str, Any]) -> dict[str, Any]:
    """Start the server process described by a record (with its ``settings``; a record written before units kept
    them: ``unit_env``); return the fields that change."""
    log = open(data["log"], "a")  # handed to the child process, closed here once it has it
    settings = data["settings"] if "settings" in data else unit_env(data["project"])
    here = environment()
    env = {"PATH": here.get("PATH", "/usr/bin:/bin"), "HOME": here.get("HOME", "/tmp"),
           "PYTHONPATH": serving_path(), MODEL_DIR.env: data["model_dir"],
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **settings}
    proc = subprocess.Popen([data["python"], "-m", "serving", "--host", "127.0.0.1", "--port", str(data["port"])],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    return {"pid": proc.pid, "started": time.time()}


def start_local(registry: Registry, project: str, version: int, env: str, out: Out,
                settings: dict[str, str] | None = None) -> LocalUnit:
    """Start a local serving process for a model version (its virtualenv is built once), with ``settings`` in its
    environment (default: ``unit_env``), kept in its record."""
    folder = model_folder(registry, project, version)
    venvs = Virtualenvs()
    extra = (paths.source_root() / SERVE_REQUIREMENTS,)
    venvs.prepare(env, out.info, extra=extra)
    records = serving_records()
    records.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"mlops-serve-{project}-v{version}-{int(time.time() * 1000)}"
    data = {"name": name, "project": project, "version": version, "env": env, "port": free_port(),
            "python": str(venvs.python_of(env, extra)), "model_dir": str(folder),
            "log": str(records / f"{name}.log"), "settings": unit_env(project) if settings is None else settings}
    data.update(_spawn(data))
    record = records / f"{name}.json"
    _write_private(record, data)
    return LocalUnit(record)


def local_units(project: str | None = None) -> list[LocalUnit]:
    """Local serving processes on record, optionally of one project."""
    units = [LocalUnit(p) for p in sorted(serving_records().glob("*.json"))] if serving_records().exists() else []
    return [u for u in units if project is None or u.project == project]


def all_units(client: Any | None, project: str | None = None) -> list[ServingUnit]:
    """Every serving unit: containers when Docker answers, and local processes."""
    units: list[ServingUnit] = [DockerUnit(client, c) for c in serving_containers(client, project)] if client \
        else []
    return [*units, *local_units(project)]


def start_unit(client: Any | None, registry: Registry, project: str, version: int, env: str,
               out: Out, settings: dict[str, str] | None = None) -> ServingUnit:
    """A container when Docker answers, else a local process, with ``settings`` in its environment (default:
    ``unit_env``)."""
    if client is not None:
        return start_container(client, registry, project, version, env, out, settings=settings)
    return start_local(registry, project, version, env, out, settings=settings)


def healthy_url(client: Any | None, project: str) -> str:
    """The URL of the project's healthy serving unit.

    Raises:
        UsageError: It has none.
    """
    running = [u for u in all_units(client, project) if u.state() == ("running", "healthy")]
    if not running:
        raise UsageError(f"{project} has no healthy serving unit; deploy it ('mlops deploy latest'), or give --url")
    return running[0].url
