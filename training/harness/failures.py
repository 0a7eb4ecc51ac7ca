"""What a script's exception means for the user, in one line (stdlib only).

A missing package or data file, or a download in a trial without network, will fail the same way whatever the
tweaks do: those say what to add, and the run stops after the baseline.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import sys

from training.harness.pip_names import pip_name

#: Python's message for ``from module import name`` when the module has no such name.
_CANNOT_IMPORT = re.compile(r"cannot import name '([^']+)' from '")


def explain(error: BaseException, where: str) -> tuple[str, str]:
    """``(kind, message)`` for an exception raised by the user's script at ``where`` (``file:line``).

    Kinds: ``missing_package``, ``missing_file``, ``download`` (no tweak fixes those) and ``script_error``.
    """
    name = type(error).__name__
    if isinstance(error, ModuleNotFoundError) and error.name:
        top = error.name.split(".")[0]
        installed = _installed(top) if "." in error.name else None
        if installed:
            return "missing_module", (f"{where} imports {error.name}, which the installed {_shown(top, installed)} "
                                      f"does not have: the module path is from another version of {top}; import "
                                      f"its names from where {top} {installed.split()[-1]} keeps them")
        return "missing_package", (f"{where} imports {error.name}, which is not installed: add "
                                   f"{pip_name(error.name)} to requirements.txt (or packages: in mlops.yaml)")
    imported = _CANNOT_IMPORT.match(str(error)) if isinstance(error, ImportError) and error.name else None
    if imported and error.name:  # type: ignore[attr-defined]
        module = error.name  # type: ignore[attr-defined]
        installed = _installed(module.split(".")[0])
        if installed:
            top = module.split(".")[0]
            return "missing_module", (f"{where} imports {imported.group(1)} from {module}, which the installed "
                                      f"{_shown(top, installed)} does not have: the name is from another version of "
                                      f"{top}; import it from where {top} {installed.split()[-1]} keeps it")
    if name == "TF1GraphModeError":
        return "unsupported", f"{where}: {error}"
    if isinstance(error, FileNotFoundError) and error.filename:
        return "missing_file", (f"{where} raised FileNotFoundError: {error.filename} does not exist in the trial; "
                                "add the file to the project, or map its folder with paths: in mlops.yaml")
    text = str(error)
    if "URL fetch failure" in text or ("urlopen error" in text and "http" in text):
        return "download", (f"{where} tries to download ({text[:160]}), but trials have no network: put the file "
                            "in the datasets cache (datasets_cache: in mlops.yaml or MLOPS_DATASETS_CACHE), or set "
                            "trial.network: true")
    return "script_error", f"{where} raised {name}: {error}"


def _installed(top: str) -> str | None:
    """``"tf_keras 2.16.0"`` for an importable top-level package (what ``keras`` is in a Keras 2 trial), else
    ``None``."""
    module = sys.modules.get(top)
    if module is None:
        try:
            if importlib.util.find_spec(top) is None:
                return None
            module = importlib.import_module(top)
        except Exception:
            return None
    version = getattr(module, "__version__", None)
    if not isinstance(version, str):
        try:
            version = importlib.metadata.version(pip_name(top))
        except importlib.metadata.PackageNotFoundError:
            return None
    return f"{module.__name__.split('.')[0]} {version}"


def _shown(top: str, installed: str) -> str:
    """``sklearn 1.9.1``, or ``keras (tf_keras 2.21.0)`` when the name stands for another package."""
    return installed if installed.split()[0] == top else f"{top} ({installed})"
