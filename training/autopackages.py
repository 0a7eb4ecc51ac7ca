"""Packages a script imports that its environment lacks, installed by themselves (``packages:`` of mlops.yaml,
``auto_packages``).

A third-party import that is neither in the trial environment nor in ``requirements.txt`` / ``packages:`` is
looked up on PyPI (import name -> distribution: ``training.harness.pip_names``, else the same name), resolved
from wheels only (nothing is built on the host) against the environment's own pins, and pinned: the run record
keeps the versions, the project's cached layer (virtualenv or image) installs them. An import that resolves to
nothing is left to the trial, which says what to add.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from core import paths
from core.infra.requirements import (
    PROVIDED_ALIASES,
    Packages,
    content_hash,
    normalize_name,
    provided,
    requirements_file,
)
from training.harness.pip_names import pip_name

__all__ = ["NEVER_AUTO", "AutoPackages", "resolve_imports"]

#: Modules the trial provides without a package (the harness's own ``training``, served Keras 2 paths).
HARNESS_MODULES = {"training", "keras_preprocessing"}
#: Frameworks of their own (hundreds of MB, their own runtime): named in requirements.txt, never added silently.
NEVER_AUTO = {"torch", "torchvision", "torchaudio", "jax", "jaxlib", "mxnet", "paddle", "paddlepaddle", "cntk",
              "theano", "caffe", "tensorflow-gpu", "tf-nightly"}
#: Seconds pip may take to resolve them (it downloads metadata from PyPI).
RESOLVE_TIMEOUT_S = 180


@dataclass
class AutoPackages:
    """What the script's imports need: the pinned distributions, and the imports left as they are."""

    pins: list[str] = field(default_factory=list)
    #: ``(where, import, why)`` of imports not installed (nothing on PyPI as a wheel, a framework of its own).
    left: list[tuple[str, str, str]] = field(default_factory=list)
    #: Import -> where it is imported, of the pinned ones.
    sources: dict[str, str] = field(default_factory=dict)

    def lines(self, env: str) -> list[str]:
        """One line for what was installed, one per import left out (the console and the report)."""
        out = []
        if self.pins:
            where = ", ".join(f"{src} imports {name}" for name, src in self.sources.items())
            out.append(f"installed for the script's imports, from PyPI wheels into the project's {env} layer: "
                       f"{', '.join(self.pins)} ({where}; packages: none in mlops.yaml turns this off)")
        for where, name, why in self.left:
            out.append(f"{where} imports {name}, which the {env} environment lacks: {why}")
        return out


#: What pip says when a distribution has no version that installs here (as opposed to PyPI not answering).
_NOT_FOUND = ("No matching distribution found", "Could not find a version", "ResolutionImpossible",
              "conflicting dependencies")


#: What pip says when PyPI does not answer (it then also says "No matching distribution found").
_OFFLINE = ("Could not fetch URL", "NewConnectionError", "Max retries exceeded", "Temporary failure in name "
            "resolution", "Network is unreachable", "Read timed out", "ProxyError", "SSLError")


class Unreachable(Exception):
    """pip could not ask PyPI (no network, a time-out): nothing is decided, nothing is remembered."""


def _resolve(dists: list[str], env: str) -> dict[str, str] | None:
    """``{distribution: version}`` pip would install from wheels for ``dists`` on the environment's pins, or
    ``None`` when they do not resolve together.

    Raises:
        Unreachable: pip failed for another reason than the distributions (PyPI did not answer).
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
               "--disable-pip-version-check", "--report", str(report), "-c", str(requirements_file(env)),
               *dists]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise Unreachable(f"pip took more than {RESOLVE_TIMEOUT_S}s") from e
        if proc.returncode != 0 or not report.is_file():
            offline = [line for line in proc.stderr.splitlines() if any(s in line for s in _OFFLINE)
                       and "404" not in line]
            if not offline and any(s in proc.stderr for s in _NOT_FOUND):
                return None
            raise Unreachable((proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1])
        data = json.loads(report.read_text(encoding="utf-8"))
    wanted = {normalize_name(d) for d in dists}
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in data.get("install", [])
            if normalize_name(item["metadata"]["name"]) in wanted}


def _cached_resolve(dists: list[str], env: str) -> dict[str, str | None]:
    """Each distribution's version (``None``: no wheel resolves), remembered per environment so that a project
    gets the same versions run after run (and PyPI is asked once)."""
    cache = paths.cache_dir() / "auto-packages" / f"{env}-{content_hash(requirements_file(env))}.json"
    known: dict[str, str | None] = json.loads(cache.read_text()) if cache.is_file() else {}
    todo = [d for d in dists if d not in known]
    if todo:
        together = _resolve(todo, env)
        if together is not None and len(together) == len(todo):
            by_name = {normalize_name(k): v for k, v in together.items()}
            known.update({d: by_name.get(normalize_name(d)) for d in todo})
        else:  # one of them does not resolve: find which, one at a time
            for d in todo:
                alone = _resolve([d], env)
                known[d] = next(iter(alone.values())) if alone else None
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        tmp.replace(cache)
    return {d: known[d] for d in dists}


def resolve_imports(imports: list[tuple[str, str]], missing: list[str], env: str, packages: Packages
                    ) -> AutoPackages:
    """The distributions to install for the imports the environment lacks.

    Args:
        imports: ``(module, where)`` of each third-party top-level import of the script (``("seaborn",
            "train.py:3")``).
        missing: The modules of ``imports`` the environment cannot import (``Backend.missing_modules``).
        env: The trial environment (``ml`` or ``dl``): its requirements file constrains the versions.
        packages: What the project asks for already (requirements.txt, ``packages:``): not added again.
    """
    asked = {normalize_name(line.split("=")[0].split("<")[0].split(">")[0].split("[")[0].strip())
             for line in packages.lines}
    have = provided(env) | {normalize_name(n) for n in PROVIDED_ALIASES}
    result = AutoPackages()
    wanted: dict[str, tuple[str, str]] = {}
    for module, where in imports:
        if module not in missing or module in HARNESS_MODULES:
            continue
        dist = pip_name(module)
        norm = normalize_name(dist)
        if norm in asked:
            continue
        if norm in have or norm in NEVER_AUTO:
            result.left.append((where, module, f"{dist} is not installed automatically (a framework of its own, "
                                               "or one the image decides); add it to requirements.txt"))
            continue
        wanted.setdefault(dist, (module, where))
    try:
        versions = _cached_resolve(sorted(wanted), env) if wanted else {}
    except Unreachable as e:
        result.left += [(where, module, f"PyPI could not be asked for {dist} ({e}); add it to requirements.txt, "
                                        "or run again with network") for dist, (module, where) in wanted.items()]
        return result
    for dist, (module, where) in wanted.items():
        version = versions.get(dist)
        if version is None:
            result.left.append((where, module, f"no wheel of a PyPI distribution '{dist}' installs with this "
                                               "environment; the trial will say so"))
        else:
            result.pins.append(f"{dist}=={version}")
            result.sources[module] = where
    return result
