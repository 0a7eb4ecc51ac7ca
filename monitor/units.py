"""What the watchdog supervises: a serving container, or (without Docker) a local serving process.

Both kinds answer the same few questions, so one restart policy serves both.
"""

from __future__ import annotations

import abc
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from mlops import paths
from mlops.console import Out
from mlops.errors import MlopsError


class ServingUnit(abc.ABC):
    """One running model server."""

    name: str
    project: str
    version: int
    kind: str

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
    def start_version(self, version: int, out: Out) -> ServingUnit:
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


class DockerUnit(ServingUnit):
    """A serving container."""

    def __init__(self, client: Any, container: Any) -> None:
        self.client, self.container = client, container
        self.name = container.name
        self.project = container.labels.get("mlops.project", "?")
        self.version = int(container.labels.get("mlops.model_version", 0))
        self.kind = container.labels.get("mlops.kind", "ml")

    @property
    def url(self) -> str:
        from monitor.deploy import host_url

        return host_url(self.container)

    def state(self) -> tuple[str, str | None]:
        self.container.reload()
        st = self.container.attrs["State"]
        status = "running" if st["Status"] in ("running", "created", "restarting") else "exited"
        return status, st.get("Health", {}).get("Status")

    def restart(self) -> None:
        self.container.restart(timeout=5)

    def logs(self, tail: int = 20) -> str:
        return self.container.logs(tail=tail).decode(errors="replace")

    def remove(self) -> None:
        self.container.remove(force=True)

    def start_version(self, version: int, out: Out) -> ServingUnit:
        from monitor.deploy import start

        return DockerUnit(self.client, start(self.client, self.project, version, self.kind, out))


def serving_records() -> Path:
    """``$MLOPS_HOME/serving``: one JSON record per local serving process."""
    return paths.home() / "serving"


class LocalUnit(ServingUnit):
    """A serving process on this machine (uvicorn in a virtualenv of the model's kind), for hosts without Docker."""

    def __init__(self, record: Path) -> None:
        self.record = record
        self.data: dict[str, Any] = json.loads(record.read_text())
        self.name, self.project = self.data["name"], self.data["project"]
        self.version, self.kind = int(self.data["version"]), self.data["kind"]

    @property
    def url(self) -> str:
        """Where it listens."""
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

    def start_version(self, version: int, out: Out) -> ServingUnit:
        return start_local(self.project, version, self.kind, out)

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
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.record)


def _spawn(data: dict[str, Any]) -> dict[str, Any]:
    """Start the server process described by a record; return the fields that change."""
    from training.backends._base import SOURCE_ROOT

    log = open(data["log"], "a")  # handed to the child process, closed here once it has it
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "PYTHONPATH": str(SOURCE_ROOT / "monitor"), "MLOPS_MODEL_DIR": data["model_dir"],
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([data["python"], "-m", "serving", "--host", "127.0.0.1", "--port", str(data["port"])],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    return {"pid": proc.pid, "started": time.time()}


def start_local(project: str, version: int, kind: str, out: Out) -> LocalUnit:
    """Start a local serving process for a pushed model version (its virtualenv is built once)."""
    from monitor.deploy import free_port, model_folder
    from training.backends import LocalBackend
    from training.backends._base import SOURCE_ROOT

    folder = model_folder(project, version)
    if not (folder / "model.json").is_file():
        raise MlopsError(f"model v{version} of {project} is not in the registry ({folder}); run 'mlops push' first")
    backend = LocalBackend()
    extra = (SOURCE_ROOT / "requirements-serve.txt",)
    backend.prepare(kind, out.info, extra=extra)
    records = serving_records()
    records.mkdir(parents=True, exist_ok=True)
    name = f"mlops-serve-{project}-v{version}-{int(time.time() * 1000)}"
    data = {"name": name, "project": project, "version": version, "kind": kind, "port": free_port(),
            "python": str(backend.venv_dir(kind, extra) / "bin" / "python"), "model_dir": str(folder),
            "log": str(records / f"{name}.log")}
    data.update(_spawn(data))
    record = records / f"{name}.json"
    record.write_text(json.dumps(data, indent=2))
    return LocalUnit(record)


def local_units(project: str | None = None) -> list[LocalUnit]:
    """Local serving processes on record, optionally of one project."""
    units = [LocalUnit(p) for p in sorted(serving_records().glob("*.json"))] if serving_records().exists() else []
    return [u for u in units if project is None or u.project == project]


def all_units(client: Any | None) -> list[ServingUnit]:
    """Every serving unit: containers when Docker answers, and local processes."""
    from monitor.deploy import serving_containers

    units: list[ServingUnit] = [DockerUnit(client, c) for c in serving_containers(client)] if client else []
    return [*units, *local_units()]
