"""Requirements: the environments' requirements files, a project's own packages and the pip environment they are
installed with.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core import paths, settings
from core.errors import BuildError

#: Receives progress lines.
Say = Callable[[str], None]


#: Environment -> requirements file (relative to the source root).
REQUIREMENTS = {"ml": "requirements-ml.txt", "dl": "requirements-dl.txt"}


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
        if self.lines and not settings.ALLOW_SOURCE_BUILDS.get():
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


#: What pip and venv keep of this process's environment when they build a virtualenv: where things are, the
#: locale, pip's own settings and proxies; no token or password of the operator's reaches a package's build.
_BUILD_ENV = re.compile(r"^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_\w+|TMPDIR|TZ|PIP_\w+|SSL_CERT_\w+|"
                        r"REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|(?i:https?_proxy|no_proxy|all_proxy)|"
                        r"PYTHONHASHSEED|SOURCE_DATE_EPOCH)$")


def build_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a virtualenv is built in: this one without anything secret (``JENKINS_TOKEN``,
    ``SMTP_PASSWORD``, ``MLOPS_FEEDBACK_TOKEN``, ...): only what ``_BUILD_ENV`` names."""
    return {k: v for k, v in (settings.environment() if environ is None else environ).items()
            if _BUILD_ENV.match(k)}
