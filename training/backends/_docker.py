"""Run trials in containers on Docker engines, through the Docker SDK for Python.

Images are built from ``dockerfiles/<env>.Dockerfile`` with a context of just the Dockerfile and the
requirements file, and tagged by their content hash, so a change to the training code never rebuilds an
image. On the local engine the harness package is mounted read-only, the project read-only, the trial folder
read-write. On an engine of another machine (``docker.hosts``) nothing is mounted: the same files go into the
container as an archive and the results come back as archives (see ``_archives``); the epoch events (for
pruning) and checkpoints are fetched every few seconds while the trial runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core import paths, settings
from core.infra.docker_engine import translate_docker_error
from core.infra.images import Images
from core.infra.requirements import NO_PACKAGES, Packages, content_hash
from training.backends import _archives
from training.backends._base import PROBE, Backend
from training.backends._capacity import Capacity
from training.backends._docker_warm import (
    RUN_MOUNT,
    WARM_ROLE,
    WarmContainerProcess,
    WarmContainers,
    in_container,
    run_folder_of,
    warm_key,
)
from training.backends._hosts import CPUS_LABEL, DockerHost, local_host, pick_host
from training.backends._trial import OutputSink, TrialProcess, TrialSpec, thread_environment, trial_environment

CONTAINER_UID = _archives.CONTAINER_UID
HARNESS_MOUNT = "/opt/mlops"
#: Where a trial container sees the repository a project is a folder of (``TrialSpec.tree``), read-only.
REPO_MOUNT = "/repo"
#: Where Keras keeps its files in a trial container (the datasets cache is mounted at ``datasets/`` in it).
KERAS_HOME = "/tmp/keras"
#: Keras's folder in a container of another machine (``/tmp`` is a tmpfs there, hiding what the archive put in).
SHIPPED_KERAS_HOME = "/opt/keras"
#: Seconds between two fetches of a running shipped trial's epoch events (and, after a new epoch, checkpoint).
SYNC_EVERY_S = 2.0


def harness_files() -> list[Path]:
    """The files shipped into trial environments: ``training/__init__.py`` and the whole harness package."""
    from training.harness import PACKAGE_DIR

    files = [PACKAGE_DIR.parent / "__init__.py"]
    files += sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    return files


def harness_copy(folder: Path) -> Path:
    """A copy of the harness package in ``folder`` (a run folder), to mount into trial containers.

    Only the run folder and the project must exist on the engine's host: when mlops itself runs in a
    container (Jenkins with the host's Docker socket), its own source tree does not.

    Returns:
        The folder to mount at ``/opt/mlops/training``.
    """
    from training.harness import PACKAGE_DIR

    files = harness_files()
    root = PACKAGE_DIR.parent
    target = folder / f".harness-{content_hash(*files, extra=''.join(str(f.relative_to(root)) for f in files))}"
    if not target.exists():
        tmp = folder / f".harness-tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        for f in files:
            dest = tmp / f.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        os.replace(tmp, target)
    return target


def _harness_args(spec: TrialSpec, run_dir: str, script: str | None) -> list[str]:
    """The harness's arguments in a trial container: the project at ``/project``, or the repository it is a
    folder of at ``/repo`` (read-only) and the project in it."""
    if spec.tree is None:
        return spec.harness_args("/project", run_dir, script)
    return spec.harness_args(f"{REPO_MOUNT}/{spec.project_in_tree()}", run_dir, script, REPO_MOUNT)


@contextlib.contextmanager
def placement_lock() -> Iterator[None]:
    """Held while a worker of this machine picks a host and creates its container there, so that two workers
    starting trials at the same moment do not both see the same host free (workers of other machines may still:
    Docker shares the CPUs then)."""
    path = paths.cache_dir() / "docker-placement.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


class DockerProcess(TrialProcess):
    """A trial as a container: created on the freest host at its first start, started again after a kill.

    On a host of another machine its files go in as an archive before the first start, its epoch events (and
    after a new epoch its checkpoint) are fetched while it runs, and its results when it ends.
    """

    def __init__(self, backend: DockerBackend, spec: TrialSpec, tag: str) -> None:
        self.backend, self.spec, self.tag = backend, spec, tag
        self.client: Any = None
        self.container: Any = None
        self.ships_files = False
        self.where = f"docker {tag}"
        self._since: int | None = None
        self._sync: threading.Thread | None = None
        self._stop_sync = threading.Event()
        self._events_size = 0
        self._epochs = 0

    def start(self) -> None:
        from docker.errors import DockerException

        try:
            if self.container is None:
                self._create()
            else:
                self._since = int(time.time())
            self.container.start()
        except DockerException as e:
            raise translate_docker_error(f"cannot start a container from {self.tag}", e, self.host) from e
        if self.ships_files and self._sync is None:
            self._sync = threading.Thread(target=self._follow, daemon=True)
            self._sync.start()

    def _create(self) -> None:
        with placement_lock():
            host = pick_host(self.backend.hosts)
            self.client, self.host, self.ships_files = host.client, host.url, host.ships_files
            self.container = host.client.containers.create(self.tag, **self.backend.container_args(self.spec, host))
        if self.ships_files:
            self.container.put_archive("/", self.backend.archive(self.spec))
        self.where = f"docker {self.tag} ({self.container.short_id})" + (
            f" on {self.host}" if len(self.backend.hosts) > 1 or self.ships_files else "")

    def lines(self) -> Any:
        buffer = ""
        for chunk in self.container.logs(stream=True, follow=True, since=self._since):
            buffer += chunk.decode("utf-8", errors="replace")
            *complete, buffer = buffer.split("\n")
            yield from complete
        if buffer:
            yield buffer

    def wait(self, timeout: float) -> int | None:
        import requests

        try:
            code = int(self.container.wait(timeout=max(1, timeout)).get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None
        if self.ships_files:
            self._fetch_results()
        return code

    def _follow(self) -> None:
        """While a shipped trial runs: bring its epoch events (and after a new epoch its checkpoint) here."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        while not self._stop_sync.wait(SYNC_EVERY_S):
            try:
                self._fetch_events()
            except (DockerException, RequestException, OSError):
                continue  # the container is gone or busy: the final fetch brings what exists

    def _fetch_events(self) -> None:
        data = _archives.read_file(self.container, "/run/events.jsonl")
        if data is None or len(data) <= self._events_size:
            return
        run_dir = self.spec.run_dir
        tmp = run_dir / ".events.jsonl.incoming"
        tmp.write_bytes(data)
        os.replace(tmp, run_dir / "events.jsonl")
        self._events_size = len(data)
        epochs = data.count(b"\n")
        if epochs > self._epochs:
            self._epochs = epochs
            _archives.fetch_replacing(self.container, "/run/checkpoint", run_dir / "checkpoint")

    def _fetch_results(self) -> None:
        from docker.errors import DockerException

        try:
            for name in _archives.RESULTS:
                if name in ("model", "checkpoint"):
                    _archives.fetch_replacing(self.container, f"/run/{name}", self.spec.run_dir / name)
                else:
                    _archives.fetch(self.container, f"/run/{name}", self.spec.run_dir)
        except DockerException as e:
            raise translate_docker_error(f"cannot fetch the results of {self.where}", e, self.host) from e

    def kill(self) -> None:
        from docker.errors import DockerException

        if self.container is None:
            return
        try:
            self.container.kill()
        except DockerException:
            pass

    def _state(self) -> dict[str, Any]:
        self.container.reload()
        return self.container.attrs.get("State", {})

    def killed_from_outside(self, exit_code: int) -> bool:
        return exit_code in (137, 143) and not self._state().get("OOMKilled")

    def failure(self, exit_code: int, spec: TrialSpec) -> tuple[str, str] | None:
        if self._state().get("OOMKilled"):
            return "out_of_memory", (f"the trial ran out of memory (limit {spec.memory}) and was killed; "
                                     "raise trial.memory in mlops.yaml or use less data")
        return None

    def remove(self) -> None:
        from docker.errors import DockerException

        self._stop_sync.set()
        if self._sync is not None:
            self._sync.join(timeout=SYNC_EVERY_S + 5)
        if self.container is None:
            return
        try:
            self.container.remove(force=True)
        except DockerException:
            pass


class DockerBackend(Backend):
    """Each trial in a fresh container on the freest Docker host: project read-only, trial folder read-write,
    limits enforced.

    Args:
        client: A connected ``docker.DockerClient`` of the local engine (injected; see
            ``core.infra.docker_engine.docker_client``), when ``hosts`` is not given.
        hosts: The engines trials may run on (``docker.hosts``); each trial goes to the one with the most free
            CPUs when it starts.
    """

    name = "docker"

    def __init__(self, client: Any = None, hosts: list[DockerHost] | None = None, warm: bool | None = None) -> None:
        from training.backends._local import warm_by_default

        if not hosts:
            if client is None:
                raise ValueError("DockerBackend needs a client or hosts, but got neither")
            hosts = [local_host(client)]
        self.hosts = hosts
        self.client = hosts[0].client
        self.images = Images(self.client)
        self.warm = warm_by_default() if warm is None else warm
        self.warm_containers = WarmContainers(self.client)

    def close(self) -> None:
        self.warm_containers.close()

    def capacity(self) -> Capacity:
        """The largest engine's CPUs and memory (each trial is also bounded by the engine it lands on); engines
        that do not answer are left out."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        answering = []
        for host in self.hosts:
            try:
                answering.append((host.cpus, host.memory or 0, host.url))
            except (DockerException, RequestException):
                continue
        if not answering:
            return Capacity(float("inf"), None, "no Docker engine")
        where = f"the Docker engine {answering[0][2]}" if len(self.hosts) == 1 else "the largest Docker engine"
        return Capacity(max(a[0] for a in answering), max(a[1] for a in answering) or None, where)

    def sandbox_line(self, memory: str, cpus: float, network: bool) -> str:
        shipped = any(h.ships_files for h in self.hosts)
        uid = CONTAINER_UID if shipped or os.getuid() == 0 else os.getuid()
        where = ", ".join(h.url for h in self.hosts)
        files = ("project and harness shipped as root-owned archives" if shipped
                 else "project read-only; read-only root filesystem")
        net = "network on (trial.network)" if network else "no network"
        return (f"sandbox: docker on {where} (a container per trial: pid, net, ipc, uts, mount namespaces; uid {uid}; "
                f"all capabilities dropped; {files}; {net}; memory {memory}, cpus {cpus:g} via the engine)")

    def prepare(self, env: str, say: OutputSink, packages: Packages = NO_PACKAGES) -> str:
        if len(self.hosts) == 1:
            return self.images.prepare_trial(env, say, packages)
        done = []
        for host in self.hosts:
            say(f"{host.url}:")
            done.append(f"{Images(host.client).prepare_trial(env, say, packages)} on {host.url}")
        return "; ".join(done)

    def missing_modules(self, env: str, names: list[str]) -> list[str]:
        from docker.errors import DockerException

        if not names:
            return []
        tag = self.images.trial_tag(env)
        try:
            out = self.client.containers.run(tag, ["python", "-I", "-c", PROBE, *names], network_mode="none",
                                             remove=True, stdout=True, stderr=False, cap_drop=["ALL"],
                                             security_opt=["no-new-privileges"], mem_limit="512m")
        except DockerException as e:
            raise translate_docker_error(f"cannot list the modules of {tag}", e, self.hosts[0].url) from e
        return list(json.loads(out.decode("utf-8")))

    def stop_trial(self, labels: dict[str, str]) -> None:
        """Remove the containers of a trial (its worker died) on every host."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        wanted = [f"{key}={value}" for key, value in labels.items()]
        for host in self.hosts:
            try:
                for container in host.client.containers.list(all=True, filters={"label": wanted}):
                    container.remove(force=True)
            except (DockerException, RequestException):
                continue

    def _mounts(self, spec: TrialSpec) -> tuple[dict[str, dict[str, str]], str | None]:
        volumes = {
            str(spec.tree or spec.project): {"bind": REPO_MOUNT if spec.tree else "/project", "mode": "ro"},
            str(spec.run_dir): {"bind": "/run", "mode": "rw"},
            str(harness_copy(spec.run_dir.parent)): {"bind": f"{HARNESS_MOUNT}/training", "mode": "ro"},
        }
        for prefix, folder in spec.paths.items():  # the seeds' /mycode: the trial's work folder, writable
            source = spec.run_dir / "work" / spec.project_in_tree() / folder
            source.mkdir(parents=True, exist_ok=True)
            if os.getuid() == 0:
                work = spec.run_dir / "work"
                between = [work / rel for rel in reversed(source.relative_to(work).parents)]  # work/Chap4 ...
                for d in (*between, source):
                    os.chown(d, CONTAINER_UID, CONTAINER_UID)
            volumes[str(source.resolve())] = {"bind": prefix, "mode": "rw"}
        if spec.datasets_cache:
            volumes[str(spec.datasets_cache)] = {"bind": f"{KERAS_HOME}/datasets", "mode": "ro"}
        script = None
        if spec.script:
            try:
                script = "/run/" + str(spec.script.resolve().relative_to(spec.run_dir.resolve()))
            except ValueError:
                volumes[str(spec.script)] = {"bind": "/opt/trial/script.py", "mode": "ro"}
                script = "/opt/trial/script.py"
        return volumes, script

    @staticmethod
    def _shipped_script(spec: TrialSpec) -> str | None:
        """Where a rewritten script is in a shipped container (in ``/run`` when it is in the trial folder)."""
        if not spec.script:
            return None
        try:
            return "/run/" + spec.script.resolve().relative_to(spec.run_dir.resolve()).as_posix()
        except ValueError:
            return "/opt/trial/script.py"

    def archive(self, spec: TrialSpec) -> bytes:
        """What a container on another machine gets instead of the mounts (see ``_mounts``)."""
        tar = _archives.TarBuilder()
        root = harness_files()[0].parent.parent
        for f in harness_files():
            tar.file(f"opt/mlops/{f.relative_to(root).as_posix()}", f.read_bytes())
        tar.tree(spec.tree or spec.project, REPO_MOUNT.strip("/") if spec.tree else "project", skip=_archives.SKIP)
        tar.tree(spec.run_dir, "run", uid=CONTAINER_UID, writable=True, skip=("trial.log",))
        if spec.script and self._shipped_script(spec) == "/opt/trial/script.py":
            tar.file("opt/trial/script.py", spec.script.read_bytes())
        work = "/run/work" + ("" if spec.tree is None else "/" + spec.project_in_tree())
        for prefix, folder in spec.paths.items():  # /mycode -> the work folder the harness mirrors the project into
            tar.link(prefix.strip("/"), work + ("" if folder in (".", "") else "/" + folder.strip("/")))
        tar.folder(SHIPPED_KERAS_HOME.strip("/"), uid=CONTAINER_UID)
        if spec.datasets_cache:
            tar.tree(spec.datasets_cache, f"{SHIPPED_KERAS_HOME.strip('/')}/datasets")
        return tar.bytes()

    def container_args(self, spec: TrialSpec, host: DockerHost) -> dict[str, Any]:
        """The arguments of ``containers.create`` for a trial on ``host``."""
        keras_home = SHIPPED_KERAS_HOME if host.ships_files else KERAS_HOME
        cpus, memory = host.bound(spec.cpus, spec.memory)
        env = trial_environment({"PYTHONPATH": HARNESS_MOUNT, "HOME": "/tmp", "KERAS_HOME": keras_home,
                                 **thread_environment(cpus)})
        if settings.HARNESS_STRICT.is_set():
            env[settings.HARNESS_STRICT.env] = settings.HARNESS_STRICT.text()
        create: dict[str, Any] = dict(
            environment=env, working_dir="/tmp", network_mode="bridge" if spec.network else "none",
            mem_limit=memory, memswap_limit=memory, nano_cpus=int(cpus * 1e9),
            pids_limit=1024, tmpfs={"/tmp": "rw,exec,size=1g"}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            labels={"mlops.role": "training", "mlops.run_dir": str(spec.run_dir), "mlops.project": spec.project.name,
                    "mlops.entry": spec.entry, CPUS_LABEL: f"{cpus:g}", **spec.labels},
        )
        if host.ships_files:
            # No read-only root filesystem here (Docker refuses archives into one); the project and the harness
            # are read-only all the same: owned by root, and the trial runs as an unprivileged user.
            create.update(command=["python", *_harness_args(spec, "/run", self._shipped_script(spec))],
                          user=f"{CONTAINER_UID}:{CONTAINER_UID}")
            return create
        user = f"{os.getuid()}:{os.getgid()}" if os.getuid() != 0 else f"{CONTAINER_UID}:{CONTAINER_UID}"
        if os.getuid() == 0:
            os.chown(spec.run_dir, CONTAINER_UID, CONTAINER_UID)
        volumes, script = self._mounts(spec)
        create.update(command=["python", *_harness_args(spec, "/run", script)], user=user,
                      volumes=volumes, read_only=True)
        return create

    def launch(self, spec: TrialSpec) -> TrialProcess:
        tag = spec.image or self.images.trial_tag(spec.env, spec.packages)
        warm = self._warm_launch(spec, tag) if self.warm else None
        return warm or DockerProcess(self, spec, tag)

    def _warm_launch(self, spec: TrialSpec, tag: str) -> TrialProcess | None:
        """The trial forked in the run's warm container (started on first use), or ``None``: it starts cold
        (an engine of another machine, a trial with network, a script outside the run folder, no container)."""
        from training.backends._local import harness_id
        from training.backends._warm import zygote_kind

        script = in_container(spec, spec.script) if spec.script else None
        if len(self.hosts) > 1 or self.hosts[0].ships_files or spec.network or (spec.script and script is None):
            return None
        trial_dir = in_container(spec, spec.run_dir)
        assert trial_dir is not None
        kind = zygote_kind(spec.env, spec.keras_api)
        create = self.container_args(spec, self.hosts[0])
        volumes = {path: mount for path, mount in create["volumes"].items() if mount["bind"] != "/run"
                   and not mount["bind"].startswith("/opt/trial") and mount["bind"] not in spec.paths}
        volumes[str(run_folder_of(spec))] = {"bind": RUN_MOUNT, "mode": "rw"}
        create.update(image=tag, volumes=volumes, init=True, auto_remove=True,
                      command=["python", "-m", "training.harness.zygote", "--socket", "/warm/zygote.sock",
                               "--preload", kind, "--idle", "300", "--container"],
                      labels={**create["labels"], "mlops.role": WARM_ROLE, "mlops.run_dir": str(run_folder_of(spec))})
        for key in list(create["labels"]):
            if key.startswith("mlops.trial") or key in ("mlops.entry",):
                create["labels"].pop(key)
        key = warm_key(tag, kind, harness_id(), sorted((k, str(v)) for k, v in volumes.items()), spec.memory,
                       spec.cpus, create["user"], sorted(create["environment"].items()))
        if self.warm_containers.socket_for(key, create, run_folder_of(spec)) is None:
            return None
        argv = _harness_args(spec, trial_dir, script)[2:]
        argv += [f"--map={prefix}={folder}" for prefix, folder in spec.paths.items()]
        return WarmContainerProcess(self.warm_containers, key, create, run_folder_of(spec), argv, "/tmp", tag,
                                    self.hosts[0].url)
