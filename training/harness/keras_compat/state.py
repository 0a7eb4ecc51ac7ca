"""What the Keras compat layer did for one script: the translations it made, whether ``keras`` is ``tf_keras``."""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Callable


class KerasCompat:
    """One script's Keras translations, made by ``keras_compat.install`` and passed to every shim.

    Args:
        warn: Called once per translation with a one-line message (the harness records it in the trial).
    """

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.warn = warn
        #: Whether ``keras`` (and ``tensorflow.keras``) is ``tf_keras`` in this process.
        self.redirect = False
        #: The import hook serving removed Keras module paths, while installed.
        self.finder: importlib.abc.MetaPathFinder | None = None
        self._applied: list[str] = []
        self._patched: set[int] = set()
        self._active = True

    def used(self, key: str, message: str) -> None:
        """Record a translation: the first time ``key`` is used, list it and ``warn`` with ``message``."""
        if key not in self._applied:
            self._applied.append(key)
            self.warn(message)

    note = used  # the harness's fit hook records Keras 1 arguments it translates itself

    def applied(self) -> list[str]:
        """The translations the script actually used, in the order of first use (for the trial record)."""
        return list(self._applied)

    def first_install(self, module: object) -> bool:
        """Whether the API patches still have to go on this Keras package (once per package, while installed)."""
        if not self._active or id(module) in self._patched:
            return False
        self._patched.add(id(module))
        return True

    def uninstall(self) -> None:
        """Remove the import hook and the ``tf_keras`` redirect (patches are undone by ``revert_patches``)."""
        if self.finder is not None and self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        if self.redirect:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        self.redirect = False
        self._active = False
