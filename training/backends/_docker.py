"""Run trials in containers on a Docker engine, through the Docker SDK for Python.

Images are built from ``dockerfiles/<kind>.Dockerfile`` with a context of just the
Dockerfile and the requirements file, and tagged by their content hash, so a change
to the training code never rebuilds an image.
"""

from __future__ import annotations

import collections
import io
import os
import re
import shutil
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from mlops.errors import MlopsError
from training.backends._base import (
    SOURCE_ROOT,
    Backend,
    EpochWatcher,
    OutputSink,
    TrialResult,
    TrialSpec,
    content_hash,
    requirements_file,
)
from training.backends._local import TAIL_LINES, trial_environment

DEFAULT_BASE_IMAGE = "python:3.11-slim"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
CONTAINER_UID = 10001
HARNESS_MOUNT = "/opt/mlops"


def base_image() -> str:
    """The base image passed as ``BASE_IMAGE``: ``$MLOPS_BASE_IMAGE`` or ``python:3.11-slim``."""
    return os.environ.get("MLOPS_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def docker_client(timeout: int = 5) -> tuple[Any | None, str]:
    """A connected Docker client and ``""``, or ``None`` and the reason no engine answers."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return None, "the docker Python package is not installed"
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as e:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return None, f"nothing answers at {where}: {type(e).__name__}"
    client.api.timeout = 600
    return client, ""


def dockerfile(kind: str) -> Path:
    """``dockerfiles/ml.Dockerfile`` or ``dockerfiles/dl.Dockerfile``."""
    return SOURCE_ROOT / "dockerfiles" / f"{kind}.Dockerfile"


def image_tag(kind: str, base: str | None = None) -> str:
    """``mlops-<kind>:<hash of Dockerfile, requirements and base image>``."""
    return f"mlops-{kind}:{content_hash(dockerfile(kind), requirements_file(kind), extra=base or base_image())}"


def _build_context(kind: str) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(dockerfile(kind), arcname="Dockerfile")
        tar.add(requirements_file(kind), arcname="requirements.txt")
    buf.seek(0)
    return buf


#: The harness modules a trial imports (standard library only).
HARNESS_FILES = ("__init__.py", "_capture.py", "_checkpoint.py", "_patching.py", "_hooks.py", "_source.py",
                 "harness.py")


def harness_copy(folder: Path) -> Path:
    """A copy of the harness in ``folder`` (a run folder), to mount into trial containers.

    Only the run folder and the project must exist on the engine's host: when mlops itself runs
    in a container (Jenkins with the host's Docker socket), its own source tree does not.
    """
    source = SOURCE_ROOT / "training"
    target = folder / f".harness-{content_hash(*(source / f for f in HARNESS_FILES))}"
    if not target.exists():
        tmp = folder / f".harness-tmp-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        for name in HARNESS_FILES:
            shutil.copy2(source / name, tmp / name)
        os.replace(tmp, target)
    return target


def _kill_quietly(container: Any) -> None:
    from docker.errors import DockerException

    try:
        container.kill()
    except DockerException:
        pass


class DockerBackend(Backend):
    """Each trial in a fresh container: project read-only, run folder read-write, limits enforced.

    Args:
        client: A connected ``docker.DockerClient`` (injected; see ``docker_client``).
    """

    name = "docker"

    def __init__(self, client: Any) -> None:
        self.client = client

    def prepare(self, kind: str, say: OutputSink) -> str:
        """Build the kind's image unless one with the same content tag exists."""
        from docker.errors import APIError, ImageNotFound

        tag = image_tag(kind)
        try:
            self.client.images.get(tag)
            return f"image {tag} (cached)"
        except ImageNotFound:
            pass
        base = base_image()
        say(f"building image {tag} from {dockerfile(kind).name} on {base} (first run only)")
        start = time.time()
        error = None
        try:
            stream = self.client.api.build(fileobj=_build_context(kind), custom_context=True, tag=tag, rm=True,
                                           forcerm=True, buildargs={"BASE_IMAGE": base}, decode=True,
                                           labels={"mlops.kind": kind})
            for chunk in stream:
                if "stream" in chunk and chunk["stream"].strip():
                    line = _ANSI.sub("", chunk["stream"]).rstrip()
                    if line.startswith(("Step ", "Successfully", "ERROR")):
                        say("  " + line[:160])
                if "error" in chunk:
                    error = chunk["error"].strip()
        except APIError as e:
            error = str(e.explanation or e)
        if error:
            hint = " (no registry here? run scripts/bootstrap-base-image and set MLOPS_BASE_IMAGE)" \
                if "pull access" in error or "not found" in error or "manifest" in error else ""
            raise MlopsError(f"building {tag} from {dockerfile(kind)} failed: {error}{hint}")
        say(f"built {tag} in {time.time() - start:.0f}s")
        return f"image {tag} (built)"

    def _container_paths(self, spec: TrialSpec) -> tuple[dict[str, dict[str, str]], str | None]:
        volumes = {
            str(spec.project): {"bind": "/project", "mode": "ro"},
            str(spec.run_dir): {"bind": "/run", "mode": "rw"},
            str(harness_copy(spec.run_dir.parent)): {"bind": f"{HARNESS_MOUNT}/training", "mode": "ro"},
        }
        script = None
        if spec.script:
            try:
                script = "/run/" + str(spec.script.resolve().relative_to(spec.run_dir.resolve()))
            except ValueError:
                volumes[str(spec.script)] = {"bind": "/opt/trial/script.py", "mode": "ro"}
                script = "/opt/trial/script.py"
        return volumes, script

    def run_trial(self, spec: TrialSpec, output: OutputSink) -> TrialResult:
        """Run the harness in a fresh container; stream its output; map OOM, kills and time-outs to errors."""
        import requests
        from docker.errors import DockerException

        tag = spec.image or image_tag(spec.kind)
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        user = f"{os.getuid()}:{os.getgid()}" if os.getuid() != 0 else f"{CONTAINER_UID}:{CONTAINER_UID}"
        if os.getuid() == 0:
            os.chown(spec.run_dir, CONTAINER_UID, CONTAINER_UID)
        volumes, script = self._container_paths(spec)
        command = ["python", *spec.harness_args("/project", "/run", script)]
        env = trial_environment({"PYTHONPATH": HARNESS_MOUNT, "HOME": "/tmp"})
        if os.environ.get("MLOPS_HARNESS_STRICT"):
            env["MLOPS_HARNESS_STRICT"] = os.environ["MLOPS_HARNESS_STRICT"]
        start = time.time()
        try:
            container = self.client.containers.run(
                tag, command, detach=True, user=user, environment=env, volumes=volumes,
                working_dir="/tmp", network_mode="bridge" if spec.network else "none",
                mem_limit=spec.memory, memswap_limit=spec.memory, nano_cpus=int(spec.cpus * 1e9),
                pids_limit=1024, read_only=True, tmpfs={"/tmp": "rw,exec,size=1g"},
                cap_drop=["ALL"], security_opt=["no-new-privileges"],
                labels={"mlops.role": "training", "mlops.run_dir": str(spec.run_dir),
                        "mlops.project": spec.project.name, "mlops.entry": spec.entry},
            )
        except DockerException as e:
            raise MlopsError(f"cannot start a container from {tag}: {e}") from e
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        log_path = spec.run_dir / "trial.log"

        def pump(since: int | None) -> None:
            buffer = ""
            with log_path.open("a", encoding="utf-8") as log:
                for chunk in container.logs(stream=True, follow=True, since=since):
                    buffer += chunk.decode("utf-8", errors="replace")
                    *lines, buffer = buffer.split("\n")
                    for line in lines:
                        log.write(line + "\n")
                        tail.append(line)
                        output(line)
                if buffer:
                    log.write(buffer + "\n")
                    tail.append(buffer)
                    output(buffer)

        where = f"docker {tag} ({container.short_id})"
        watcher = None
        if spec.on_epoch:
            watcher = EpochWatcher(spec.run_dir / "events.jsonl", spec.on_epoch, lambda: _kill_quietly(container))
            watcher.start()
        deadline = start + spec.time_limit_s
        restarts, since = 0, None
        try:
            while True:
                reader = threading.Thread(target=pump, args=(since,), daemon=True)
                reader.start()
                try:
                    status = container.wait(timeout=max(1, deadline - time.time()))
                    exit_code = int(status.get("StatusCode", -1))
                except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                    container.kill()
                    reader.join(timeout=5)
                    return TrialResult.timed_out(spec, "\n".join(tail), time.time() - start, where, restarts)
                reader.join(timeout=10)
                if watcher and watcher.stopped_at is not None:
                    watcher.finish()
                    return watcher.pruned_result("\n".join(tail), time.time() - start, where)
                container.reload()
                state = container.attrs.get("State", {})
                killed = (exit_code in (137, 143) and not state.get("OOMKilled")
                          and not (spec.run_dir / "metrics.json").exists())
                if not (killed and restarts < spec.restarts):
                    break
                restarts += 1
                output(f"mlops: the trial container was killed (exit code {exit_code}); starting it again "
                       f"({restarts}/{spec.restarts}): training resumes from its last checkpoint")
                since = int(time.time())
                container.start()
            if watcher:
                watcher.finish()
            duration = time.time() - start
            result = TrialResult.from_run_dir(spec.run_dir, exit_code, "\n".join(tail), duration, where)
            result.restarts = restarts
            if state.get("OOMKilled"):
                result.status, result.error_kind = "failed", "out_of_memory"
                result.error = (f"the trial ran out of memory (limit {spec.memory}) and was killed; "
                                "raise trial.memory in mlops.yaml or use less data")
            elif killed:
                result.error_kind = "killed"
                result.error = (f"the trial container was killed (exit code {exit_code}) before it finished"
                                + (f", also after {restarts} restart(s)" if restarts else ""))
            return result
        finally:
            try:
                container.remove(force=True)
            except DockerException:
                pass
