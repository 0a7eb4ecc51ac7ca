"""Decide which framework a training project uses, by reading its code (AST).

Names are resolved through the script's imports, so ``import tensorflow as tf``
followed by ``tf.keras.layers.Conv2D`` counts as a Keras convolution, and a
local variable that happens to be called ``Conv2D`` does not.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops.errors import DetectionError
from training.harness.source import notebook_to_python

__all__ = ["IMAGES", "Detection", "Evidence", "detect", "find_entry", "load_source"]

#: Image kind each detected kind maps to (tags are derived from these in the backends).
IMAGES = {"ml": "mlops-ml", "ann": "mlops-dl", "cnn": "mlops-dl"}

_SKIP_DIRS = {".git", ".venv", "venv", "env", "__pycache__", ".mlops", "node_modules", ".ipynb_checkpoints"}
_CONV = re.compile(r"^(Conv|Convolution|SeparableConv|SeparableConvolution|DepthwiseConv)\d?D(Transpose)?$")
_TRAIN_CALLS = {"fit", "fit_generator", "train_on_batch", "fit_transform", "partial_fit"}
_OTHER_FRAMEWORKS = ("torch", "xgboost", "lightgbm", "jax", "catboost")


@dataclass(frozen=True)
class Evidence:
    """One reason for a detection decision: a file, a line and what was seen there."""

    file: str
    line: int
    what: str


@dataclass
class Detection:
    """What a project trains with and which image runs it."""

    framework: str  # "sklearn" | "keras"
    kind: str  # "ml" | "ann" | "cnn"
    image: str
    entry: str
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return the JSON-ready form used by ``mlops detect --json``."""
        return asdict(self)


def load_source(path: Path) -> str:
    """Return the Python source of a ``.py`` file or of a notebook's code cells.

    Raises:
        DetectionError: The notebook is not valid JSON.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    try:
        return notebook_to_python(text)
    except ValueError as e:
        raise DetectionError(f"{path.name}: {e}") from e


def _python_files(project: Path) -> list[Path]:
    if project.is_file():
        return [project]
    files = []
    for p in sorted(project.rglob("*")):
        rel = p.relative_to(project)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if p.is_file() and p.suffix in (".py", ".ipynb") and not p.name.startswith("best_"):
            files.append(p)
    return files


class _Resolver(ast.NodeVisitor):
    """Collect fully-qualified names used in one module, resolved through its imports."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.uses: list[tuple[str, int]] = []  # (qualified name, line)
        self.calls_fit = False
        self.local_imports: set[str] = set()

    @staticmethod
    def _norm(name: str) -> str:
        for prefix in ("tensorflow.python.keras", "tensorflow.keras", "tf_keras"):
            if name == prefix or name.startswith(prefix + "."):
                return "keras" + name[len(prefix):]
        return name

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                root = a.name.split(".")[0]
                self.aliases[root] = root
            self.uses.append((self._norm(a.name), node.lineno))
            self.local_imports.add(a.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            if node.module:
                self.local_imports.add(node.module.split(".")[0])
            return
        self.local_imports.add(node.module.split(".")[0])
        for a in node.names:
            full = f"{node.module}.{a.name}"
            self.aliases[a.asname or a.name] = full
            self.uses.append((self._norm(full), node.lineno))

    def _qualify(self, node: ast.expr) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.aliases:
            return None
        return self._norm(".".join([self.aliases[node.id], *reversed(parts)]))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        q = self._qualify(node)
        if q:
            self.uses.append((q, node.lineno))
        else:
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        q = self._qualify(node)
        if q:
            self.uses.append((q, node.lineno))

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and node.func.attr in _TRAIN_CALLS:
            self.calls_fit = True
        self.generic_visit(node)


def _parse(path: Path, project: Path) -> _Resolver:
    """Parse a file once per content version (entry search, module closure and detection all ask)."""
    return _parse_cached(path, project, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _parse_cached(path: Path, project: Path, mtime_ns: int) -> _Resolver:
    source = load_source(path)
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        rel = path.relative_to(project) if project.is_dir() else path.name
        raise DetectionError(f"{rel}:{e.lineno}: syntax error: {e.msg}; fix the script and push again") from e
    r = _Resolver()
    r.visit(tree)
    return r


def find_entry(project: Path, configured: str | None = None) -> Path:
    """Return the script that trains: ``entry`` from ``mlops.yaml``, else ``train.py``, else the single trainer.

    Raises:
        DetectionError: No Python code, several candidates, or the configured entry is missing.
    """
    if project.is_file():
        return project
    if configured:
        p = project / configured
        if not p.is_file():
            raise DetectionError(f"mlops.yaml: entry: {configured} does not exist in {project}")
        return p
    for name in ("train.py", "train.ipynb"):
        if (project / name).is_file():
            return project / name
    files = _python_files(project)
    if not files:
        raise DetectionError(f"{project}: no Python script or notebook found; add a train.py")
    if len(files) == 1:
        return files[0]
    trainers = [f for f in files if _parse(f, project).calls_fit]
    if len(trainers) == 1:
        return trainers[0]
    names = ", ".join(str(f.relative_to(project)) for f in (trainers or files))
    if not trainers:
        raise DetectionError(f"{project}: no script calls fit() ({names}); name the training script train.py")
    raise DetectionError(f"{project}: several scripts train ({names}); set 'entry:' in mlops.yaml")


def _module_closure(entry: Path, project: Path) -> list[Path]:
    """The entry file and the project's own modules it imports, transitively."""
    root = project if project.is_dir() else entry.parent
    seen: list[Path] = []
    todo = [entry]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.append(f)
        for mod in _parse(f, project).local_imports:
            for cand in (root / f"{mod}.py", root / mod / "__init__.py", f.parent / f"{mod}.py"):
                if cand.is_file() and cand not in seen:
                    todo.append(cand)
    return seen


def detect(project: Path, entry: str | None = None, image_override: str | None = None) -> Detection:
    """Detect the framework and model kind of a project folder, script or notebook.

    Args:
        project: A folder, a ``.py`` file or an ``.ipynb`` notebook.
        entry: The entry point configured in ``mlops.yaml``, if any.
        image_override: An image named in ``mlops.yaml`` that replaces the mapped one.

    Returns:
        The detection, with evidence lines.

    Raises:
        DetectionError: No trainable code, or code using neither framework.
    """
    project = project.resolve()
    if not project.exists():
        raise DetectionError(f"{project}: no such file or folder")
    entry_path = find_entry(project, entry)
    base = project if project.is_dir() else project.parent
    evidence: list[Evidence] = []
    keras = sklearn = conv = False
    others: set[str] = set()
    for f in _module_closure(entry_path, project):
        r = _parse(f, project)
        rel = str(f.relative_to(base))
        seen: set[str] = set()
        for name, line in r.uses:
            root = name.split(".")[0]
            if root in _OTHER_FRAMEWORKS:
                others.add(root)
            if root not in ("keras", "tensorflow", "sklearn") or name in seen:
                continue
            seen.add(name)
            last = name.split(".")[-1]
            if root == "sklearn":
                sklearn = True
                what = f"scikit-learn: {name}"
            else:
                keras = True
                conv_layer = root == "keras" and bool(_CONV.match(last))
                conv = conv or conv_layer
                what = f"convolution layer: {name}" if conv_layer else f"keras/tensorflow: {name}"
            evidence.append(Evidence(rel, line, what))
    if not keras and not sklearn:
        found = f" (found {', '.join(sorted(others))})" if others else ""
        raise DetectionError(
            f"{entry_path.relative_to(base)}: uses neither scikit-learn nor Keras/TensorFlow{found}; "
            "nothing to train"
        )
    framework = "keras" if keras else "sklearn"
    kind = ("cnn" if conv else "ann") if keras else "ml"
    return Detection(
        framework=framework,
        kind=kind,
        image=image_override or IMAGES[kind],
        entry=str(entry_path.relative_to(base)),
        evidence=evidence,
    )
