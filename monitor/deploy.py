"""``mlops deploy``: start (or replace) the serving container of a pushed model version.

The new container must turn healthy before the old one is retired, so a model that cannot
load never takes the service down: the old container keeps serving and the deploy fails.
"""

from __future__ import annotations

import io
import socket
import tarfile
import time
from pathlib import Path
from typing import Any

from mlops import paths
from mlops.console import Out
from mlops.errors import MlopsError
from training.backends._base import SOURCE_ROOT, content_hash, image_kind

ROLE = "serving"
SERVE_PACKAGE = SOURCE_ROOT / "monitor" / "serving"
SERVE_FILES = {"Dockerfile": SOURCE_ROOT / "dockerfiles" / "serve.Dockerfile",
               "requirements-serve.txt": SOURCE_ROOT / "requirements-serve.txt",
               **{f"serving/{p.relative_to(SERVE_PACKAGE)}": p for p in sorted(SERVE_PACKAGE.rglob("*"))
                  if p.is_file() and "__pycache__" not in p.parts}}


def serve_image(client: Any, kind: str, out: Out) -> str:
    """Build (or reuse) ``mlops-serve-<kind>:<hash>`` on top of the kind's trial image."""
    from training.backends._docker import DockerBackend, image_tag

    DockerBackend(client).prepare(kind, out.info)
    base = image_tag(kind)
    tag = f"mlops-serve-{kind}:{content_hash(*SERVE_FILES.values(), extra=base)}"
    if client.images.list(name=tag):
        return tag
    out.info(f"building serving image {tag} on {base}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, path in SERVE_FILES.items():
            tar.add(path, arcname=name)
    buf.seek(0)
    for chunk in client.api.build(fileobj=buf, custom_context=True, tag=tag, rm=True, forcerm=True,
                                  buildargs={"BASE_IMAGE": base}, decode=True):
        if "error" in chunk:
            raise MlopsError(f"building {tag} failed: {chunk['error'].strip()}")
    return tag


def free_port() -> int:
    """A free TCP port on 127.0.0.1, fixed at start so that restarts of the container keep its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_folder(project: str, version: int) -> Path:
    """The registry folder of a pushed model version."""
    return paths.registry_dir() / project / f"v{version}"


def serving_containers(client: Any, project: str | None = None) -> list[Any]:
    """Serving containers (any state), optionally of one project."""
    labels = [f"mlops.role={ROLE}"] + ([f"mlops.project={project}"] if project else [])
    return client.containers.list(all=True, filters={"label": labels})


def host_url(container: Any) -> str:
    """``http://127.0.0.1:<port>`` of the container's published port 8000."""
    container.reload()
    port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
    return f"http://127.0.0.1:{port}"


def start(client: Any, project: str, version: int, kind: str, out: Out, memory: str = "2g") -> Any:
    """Start a serving container for a model version (not yet waiting for it)."""
    folder = model_folder(project, version)
    if not (folder / "model.json").is_file():
        raise MlopsError(f"model v{version} of {project} is not in the registry ({folder}); run 'mlops push' first")
    tag = serve_image(client, kind, out)
    name = f"mlops-serve-{project}-v{version}-{int(time.time())}"
    return client.containers.run(
        tag, detach=True, name=name, volumes={str(folder): {"bind": "/model", "mode": "ro"}},
        ports={"8000/tcp": ("127.0.0.1", free_port())}, mem_limit=memory, read_only=True,
        tmpfs={"/tmp": "rw,exec,size=256m"}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
        labels={"mlops.role": ROLE, "mlops.project": project, "mlops.model_version": str(version),
                "mlops.kind": kind},
    )


def deploy(store: Any, run: dict[str, Any], out: Out, client: Any | None = None) -> dict[str, Any]:
    """Serve the run's pushed model: the new unit healthy first, then the old one retired.

    With a Docker engine the unit is a container; without one, a local serving process.

    Raises:
        MlopsError: The model was not pushed, or the new unit did not turn healthy (the old one keeps serving).
    """
    from monitor.units import DockerUnit, ServingUnit, local_units, start_local
    from training.backends._docker import docker_client

    if client is None:
        client, reason = docker_client()
        if client is None:
            out.info(f"deploy: no Docker engine answers ({reason}); serving as a local process")
    project, version = run["project"], run.get("model_version")
    if not version:
        raise MlopsError(f"run {run['_id']} has no model to deploy")
    kind = image_kind(run["kind"])
    out.step(f"deploy model v{version} of {project}")
    old: list[ServingUnit]
    if client is not None:
        old = [DockerUnit(client, c) for c in serving_containers(client, project) if c.status == "running"]
        new: ServingUnit = DockerUnit(client, start(client, project, version, kind, out))
    else:
        old = [u for u in local_units(project) if u.state()[0] == "running"]
        new = start_local(project, version, kind, out)
    state = new.wait_healthy(180)
    if state != "healthy":
        logs = new.logs(15)
        new.remove()
        store.add_event({"kind": "deploy_failed", "project": project, "version": version, "state": state})
        kept = f"; v{old[0].version} keeps serving" if old else ""
        raise MlopsError(f"model v{version} did not become healthy ({state}){kept}\n{logs}")
    url = new.url
    for unit in old:
        unit.remove()
    store.add_event({"kind": "deploy", "project": project, "version": version, "container": new.name, "url": url,
                     "run_id": run["_id"], "image_kind": kind})
    out.ok(f"serving model v{version} of {project} at {url} ({new.name})")
    return {"project": project, "version": version, "container": new.name, "url": url,
            "retired": [u.name for u in old]}
