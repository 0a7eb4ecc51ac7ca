"""Run trials in containers on a Docker engine, through the Docker SDK for Python.

Images are built from ``dockerfiles/<env>.Dockerfile`` with a context of just the Dockerfile and the
requirements file, and tagged by their content hash, so a change to the training code never rebuilds an
image. The harness package is mounted read-only, the project read-only, the trial folder read-write.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from mlops.environments import NO_PACKAGES, Images, Packages, content_hash, translate_docker_error
from training.backends._base import Backend
from training.backends._trial import OutputSink, TrialProcess, TrialSpec, thread_environment, trial_environment

CONTAINER_UID = 10001
HARNESS_MOUNT = "/opt/mlops"
#: Where Keras keeps its files in a trial container (the datasets cache is mounted at ``datasets/`` in it).
KERAS_HOME = "/tmp/keras"


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


class DockerProcess(TrialProcess):
    """A trial as a container (created on first start, started again after a kill)."""

    def __init__(self, client: Any, tag: str, create: dict[str, Any]) -> None:
        self.client, self.tag, self.create = client, tag, create
        self.container: Any = None
        self.where = f"docker {tag}"
        self._since: int | None = None

    def start(self) -> None:
        from docker.errors import DockerException

        try:
            if self.container is None:
                self.container = self.client.containers.run(self.tag, detach=True, **self.create)
                self.where = f"docker {self.tag} ({self.container.short_id})"
            else:
                self._since = int(time.time())
                self.container.start()
        except DockerException as e:
            raise translate_docker_error(f"cannot start a container from {self.tag}", e,
                                         str(self.client.api.base_url)) from e

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
            return int(self.container.wait(timeout=max(1, timeout)).get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None

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

        if self.container is None:
            return
        try:
            self.container.remove(force=True)
        except DockerException:
            pass


class DockerBackend(Backend):
    """Each trial in a fresh container: project read-only, trial folder read-write, limits enforced.

    Args:
        client: A connected ``docker.DockerClient`` (injected; see ``mlops.environments.docker_client``).
    """

    name = "docker"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.images = Images(client)

    def prepare(self, env: str, say: OutputSink, packages: Packages = NO_PACKAGES) -> str:
        return self.images.prepare_trial(env, say, packages)

    def _mounts(self, spec: TrialSpec) -> tuple[dict[str, dict[str, str]], str | None]:
        volumes = {
            str(spec.project): {"bind": "/project", "mode": "ro"},
            str(spec.run_dir): {"bind": "/run", "mode": "rw"},
            str(harness_copy(spec.run_dir.parent)): {"bind": f"{HARNESS_MOUNT}/training", "mode": "ro"},
        }
        for prefix, folder in spec.paths.items():  # the seeds' /mycode: the trial's work folder, writable
            source = spec.run_dir / "work" / folder
            source.mkdir(parents=True, exist_ok=True)
            if os.getuid() == 0:
                for d in (spec.run_dir / "work", source):
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

    def launch(self, spec: TrialSpec) -> TrialProcess:
        tag = spec.image or self.images.trial_tag(spec.env, spec.packages)
        user = f"{os.getuid()}:{os.getgid()}" if os.getuid() != 0 else f"{CONTAINER_UID}:{CONTAINER_UID}"
        if os.getuid() == 0:
            os.chown(spec.run_dir, CONTAINER_UID, CONTAINER_UID)
        volumes, script = self._mounts(spec)
        env = trial_environment({"PYTHONPATH": HARNESS_MOUNT, "HOME": "/tmp", "KERAS_HOME": KERAS_HOME,
                                 **thread_environment(spec.cpus)})
        if os.environ.get("MLOPS_HARNESS_STRICT"):
            env["MLOPS_HARNESS_STRICT"] = os.environ["MLOPS_HARNESS_STRICT"]
        create = dict(
            command=["python", *spec.harness_args("/project", "/run", script)], user=user, environment=env,
            volumes=volumes, working_dir="/tmp", network_mode="bridge" if spec.network else "none",
            mem_limit=spec.memory, memswap_limit=spec.memory, nano_cpus=int(spec.cpus * 1e9),
            pids_limit=1024, read_only=True, tmpfs={"/tmp": "rw,exec,size=1g"},
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            labels={"mlops.role": "training", "mlops.run_dir": str(spec.run_dir),
                    "mlops.project": spec.project.name, "mlops.entry": spec.entry},
        )
        return DockerProcess(self.client, tag, create)
