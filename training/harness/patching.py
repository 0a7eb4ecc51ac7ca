"""Safe patches and post-import hooks for the harness (stdlib only).

Rules (after mlflow's autologging safety): a patch receives the original; user
exceptions propagate unchanged; an error in our own hook code becomes a warning and
the original result is returned; patches never stack; ``revert_patches`` undoes all.
``MLOPS_HARNESS_STRICT=1`` turns hook warnings into failures (used by the tests).
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from training.harness.capture import current

_PATCHED: list[tuple[Any, str, Any]] = []
_MARK = "__mlops_original__"


class HookError(RuntimeError):
    """Raised instead of a warning when ``MLOPS_HARNESS_STRICT=1``."""


def strict() -> bool:
    """Whether hook warnings must fail the trial (test mode)."""
    return os.environ.get("MLOPS_HARNESS_STRICT") == "1"


def hook_failed(what: str, error: BaseException) -> None:
    """Report a failure inside our own hook code without breaking the user's script."""
    message = f"{what}: {type(error).__name__}: {error}"
    if strict():
        raise HookError(message) from error
    cap = current()
    if cap is not None:
        cap.warn(message)
    else:
        print(f"mlops harness: warning: {message}", file=sys.stderr)


def safe_patch(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` with ``make(original)``, unless it is already patched.

    Args:
        owner: A class or module.
        name: The attribute to replace.
        make: Receives the original callable and returns the replacement.
    """
    original = getattr(owner, name, None)
    if original is None or hasattr(original, _MARK):
        return
    patched = make(original)
    functools.update_wrapper(patched, original)
    setattr(patched, _MARK, original)
    had_own = name in vars(owner)
    _PATCHED.append((owner, name, original if had_own else None))
    setattr(owner, name, patched)


def add_attribute(owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name`` (new, or replacing what is there); ``revert_patches`` restores the previous state."""
    had_own = name in vars(owner)
    _PATCHED.append((owner, name, vars(owner)[name] if had_own else None))
    setattr(owner, name, value)


def revert_patches() -> None:
    """Undo every patch made by ``safe_patch``, newest first."""
    while _PATCHED:
        owner, name, original = _PATCHED.pop()
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Run callbacks right after a module has executed, whoever imports it."""

    def __init__(self) -> None:
        self.hooks: dict[str, list[Callable[[ModuleType], None]]] = {}
        self._busy: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.hooks or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original_exec = spec.loader.exec_module
        callbacks = self.hooks[fullname]

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            for callback in callbacks:
                _run_hook(callback, module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _run_hook(callback: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        callback(module)
    except HookError:
        raise
    except Exception as e:  # our own code failed: warn, never break the user's import
        hook_failed(f"installing hook for {module.__name__}", e)


_FINDER = _PostImportFinder()


def when_imported(module_name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` once ``module_name`` is imported (now, if it already is)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    _FINDER.hooks.setdefault(module_name, []).append(callback)
    if module_name in sys.modules:
        _run_hook(callback, sys.modules[module_name])
