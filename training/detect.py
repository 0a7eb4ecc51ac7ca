"""Decide which framework a training project uses, by reading its code (the shared libcst analysis).

Names are resolved through the script's imports, so ``import tensorflow as tf`` followed by
``tf.keras.layers.Conv2D`` counts as a Keras convolution, and a local variable that happens to be called
``Conv2D`` does not. Every file of the entry's module closure (its own modules, transitively) counts.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import DetectionError
from training.analysis import ScriptAnalysis, TaskSignal, analyze, decide_task, layer_kind
from training.harness.source import SourceError, notebook_to_python, read_source

__all__ = ["IMAGES", "Detection", "Evidence", "detect", "find_entry", "load_source"]

#: Image kind each detected kind maps to (tags are derived from these in the backends).
IMAGES = {"ml": "mlops-ml", "ann": "mlops-dl", "cnn": "mlops-dl"}

_SKIP_DIRS = {".git", ".venv", "venv", "env", "__pycache__", ".mlops", "node_modules", ".ipynb_checkpoints"}
_OTHER_FRAMEWORKS = ("torch", "xgboost", "lightgbm", "jax", "catboost")


@dataclass(frozen=True)
class Evidence:
    """One reason for a detection decision: a file, a line and what was seen there."""

    file: str
    line: int
    what: str


@dataclass
class Detection:
    """What a project trains with, which image runs it, and what the code tells about its API and task."""

    framework: str  # "sklearn" | "keras"
    kind: str  # "ml" | "ann" | "cnn"
    image: str
    entry: str
    keras_api: int | None = None  # 2: Keras 1/2 API that Keras 3 removed; 3: other Keras code; None: scikit-learn
    task: str | None = None  # "classification" | "regression"; None when the code does not tell
    evidence: list[Evidence] = field(default_factory=list)
    #: Absolute paths the code names (``/mycode/wines.csv``), where: what may stand for project files.
    absolute_paths: list[Evidence] = field(default_factory=list)
    #: Top-level modules imported by the entry's module closure that are not the project's own nor the
    #: standard library's (``seaborn``), with where each is first imported: what the environment must provide.
    imports: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return the JSON-ready form used by ``mlops detect --json``."""
        return asdict(self)


def load_source(path: Path) -> str:
    """Return the Python source of a ``.py`` file or of a notebook's code cells.

    Raises:
        DetectionError: The notebook is not valid JSON.
    """
    if path.suffix != ".ipynb":
        try:
            return read_source(path)
        except SourceError as e:
            raise DetectionError(str(e)) from e
    text = path.read_text(encoding="utf-8", errors="replace")
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
        if p.is_file() and p.suffix in (".py", ".ipynb") and not p.name.startswith("best_") \
                and p.resolve().is_relative_to(project.resolve()):  # a symlink out of the project is not read
            files.append(p)
    return files


def _analyze(path: Path, project: Path) -> ScriptAnalysis:
    """The shared analysis of one file (parsed once per content).

    Raises:
        DetectionError: The file does not parse (names the file and line).
    """
    try:
        return analyze(load_source(path))
    except SyntaxError as e:
        rel = path.relative_to(project) if project.is_dir() else path.name
        raise DetectionError(f"{rel}:{e.lineno}: syntax error: {e.msg}; fix the script and push again") from e


def _inside(path: Path, project: Path) -> Path:
    """``path`` when it stays in the project once its symlinks are followed.

    Raises:
        DetectionError: It leads out of the project (a symlink to a file of the host).
    """
    if not path.resolve().is_relative_to(project.resolve()):
        raise DetectionError(f"{path.relative_to(project)} leads to {path.resolve()}, outside the project "
                             f"{project}; a push may only name files inside its project")
    return path


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
        return _inside(p, project)
    for name in ("train.py", "train.ipynb"):
        if (project / name).is_file():
            return _inside(project / name, project)
    files = _python_files(project)
    if not files:
        raise DetectionError(f"{project}: no Python script or notebook found; add a train.py")
    if len(files) == 1:
        return files[0]
    trainers = [f for f in files if _analyze(f, project).calls_fit]
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
        for mod in _analyze(f, project).local_imports:
            for cand in (root / f"{mod}.py", root / mod / "__init__.py", f.parent / f"{mod}.py"):
                if cand.is_file() and cand not in seen and cand.resolve().is_relative_to(root.resolve()):
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
    if entry_path.suffix == ".ipynb" and not load_source(entry_path).strip():
        raise DetectionError(f"{entry_path.relative_to(base)}: the notebook has no code cells (only markdown or "
                             "empty ones); put the training code in a code cell")
    evidence: list[Evidence] = []
    api: list[Evidence] = []
    keras3: list[Evidence] = []
    signals: list[tuple[str, TaskSignal]] = []
    literals: list[Evidence] = []
    imported: dict[str, Evidence] = {}
    keras = tensorflow = sklearn = conv = False
    others: set[str] = set()
    for f in _module_closure(entry_path, project):
        script = _analyze(f, project)
        rel = str(f.relative_to(base))
        seen: set[str] = set()
        for use in script.uses:
            name = use.name
            root = name.split(".")[0]
            if root in _OTHER_FRAMEWORKS:
                others.add(root)
            if root not in ("keras", "tensorflow", "sklearn") or name in seen:
                continue
            seen.add(name)
            if root == "sklearn":
                sklearn = True
                what = f"scikit-learn: {name}"
            else:
                keras = keras or root == "keras"
                tensorflow = tensorflow or root == "tensorflow"
                conv_layer = layer_kind(name) == "conv"
                conv = conv or conv_layer
                what = f"convolution layer: {name}" if conv_layer else f"keras/tensorflow: {name}"
            evidence.append(Evidence(rel, use.line, what))
        api += [Evidence(rel, f.line, f.what) for f in script.keras2]
        keras3 += [Evidence(rel, f.line, f.what) for f in script.keras3]
        signals += [(rel, s) for s in script.task_signals]
        literals += [Evidence(rel, f.line, f.what) for f in script.absolute_paths]
        for imp in script.imports:
            top = imp.what.split(".")[0]
            if top not in imported and not _own_module(top, f, base) and top not in _STDLIB:
                imported[top] = Evidence(rel, imp.line, top)
    if not keras and not tensorflow and not sklearn:
        found = f" (found {', '.join(sorted(others))})" if others else ""
        raise DetectionError(
            f"{entry_path.relative_to(base)}: uses neither scikit-learn nor Keras/TensorFlow{found}; "
            "nothing to train"
        )
    framework = "keras" if keras or tensorflow else "sklearn"
    kind = ("cnn" if conv else "ann") if framework == "keras" else "ml"
    keras_api = None
    if framework == "keras":
        keras_api = 2 if api else 3
        if not api:
            first = next(e for e in evidence if not e.what.startswith("scikit-learn"))
            api = keras3 or [Evidence(first.file, first.line, "Keras 3 API: no Keras 2-only name or argument "
                                                               "(np_utils, keras.layers.core, nb_epoch=, lr=, ...)")]
    task = decide_task([s for _, s in signals])
    evidence += api
    evidence += [Evidence(rel, s.line, f"{task}: {s.what}") for rel, s in signals if s.task == task]
    return Detection(
        framework=framework,
        kind=kind,
        image=image_override or IMAGES[kind],
        entry=str(entry_path.relative_to(base)),
        keras_api=keras_api,
        task=task,
        evidence=evidence,
        absolute_paths=literals,
        imports=list(imported.values()),
    )


#: The standard library's top-level modules (and ``__future__``).
_STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


def _own_module(name: str, importer: Path, root: Path) -> bool:
    """Whether ``name`` is a module of the project (beside the importer or at the project's root)."""
    return any((folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()
               or (folder / name).is_dir() for folder in {importer.parent, root})
