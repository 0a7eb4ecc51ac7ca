"""Docker images for trials and serving, built from the Dockerfiles and the requirements files, cached by content
hash.
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from core import paths
from core.errors import BuildError
from core.infra.docker_engine import base_image
from core.infra.requirements import NO_PACKAGES, Packages, Say, content_hash, requirements_file

SERVE_REQUIREMENTS = "requirements-serve.txt"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


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
