"""Run 2020-era Keras 2 scripts unchanged on today's TensorFlow, reporting every translation (stdlib only).

``install(keras_api, warn)`` runs before the user's script. For a script written for Keras 2
(``keras_api == 2``, see ``keras_api_of``) it redirects ``keras`` and ``keras.*`` to ``tf_keras`` (Keras 2
itself, maintained by the TensorFlow team) and sets ``TF_USE_LEGACY_KERAS=1`` so that ``tensorflow.keras``
is the same Keras 2; any other script keeps Keras 3. On top of either, shims supply what both lost, one module
per job:

* ``version``: which Keras a script was written for (the markers of ``training.harness.keras_markers``);
* ``imports``: removed module paths, served by an import hook (``keras.utils.np_utils``, ``keras.layers.core``,
  ``keras_preprocessing``, ...);
* ``keras2_api``: Keras 1/2 names and arguments, patched on the classes once Keras is imported
  (``predict_classes``, ``*_generator``, ``Dense(output_dim=)``, ``Adam(lr=)``, ...);
* ``keras3_api``: what Keras 3 changed silently (file names, ``optimizer.lr``, ``metrics_names``, ...);
* ``tf1_compat`` (beside this package): the TensorFlow 1 calls Keras 2 scripts make around their model.

Each translation calls ``warn`` once with what it did and is listed by ``KerasCompat.applied()``; nothing
changes silently. Patches go through ``training.harness.patching`` so ``revert_patches`` undoes them.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import types
from collections.abc import Callable

from training.harness import patching
from training.harness.keras_compat import keras2_api, keras3_api
from training.harness.keras_compat.imports import CompatFinder
from training.harness.keras_compat.state import KerasCompat
from training.harness.keras_compat.version import keras_api_of
from training.harness.keras_markers import LAYER_MODULES
from training.harness.patching import hook_failed, when_imported

__all__ = ["LAYER_MODULES", "KerasCompat", "install", "keras_api_of", "model_classes"]

#: The API patches, in the order they go on: for every Keras, then for Keras 3 only.
_PARTS = (keras2_api.model_methods, keras2_api.layer_arguments, keras2_api.optimizers, keras2_api.backend,
          keras3_api.preprocessing, keras3_api.plot_model)
_KERAS3_PARTS = (keras3_api.saving, keras3_api.keras3_semantics)


def install(keras_api: int | None, warn: Callable[[str], None]) -> KerasCompat:
    """Prepare the import system for the user's script; call it before ``hooks.install``.

    Args:
        keras_api: 2 for a script written for Keras 2 (then ``keras`` is ``tf_keras``), 3 or ``None`` to keep
            Keras 3. The redirect needs ``tf_keras`` installed and neither Keras nor TensorFlow imported yet
            (TensorFlow may be, when it was imported with ``TF_USE_LEGACY_KERAS=1``); otherwise the script runs
            on Keras 3 and ``warn`` says why.
        warn: Called once per translation with a one-line message (the harness records it in the trial).

    Returns:
        The script's translations; ``uninstall()`` it when the script is done.
    """
    compat = KerasCompat(warn)
    if keras_api == 2:
        legacy = os.environ.get("TF_USE_LEGACY_KERAS") == "1"  # TensorFlow imported that way (a warm zygote)
        loaded = [name for name in ("keras", "tensorflow") if name in sys.modules
                  and not (name == "tensorflow" and legacy)]
        if loaded:
            warn(f"Keras 2 script, but {loaded[0]} was imported before the harness: it runs on Keras 3")
        elif importlib.machinery.PathFinder.find_spec("tf_keras") is None:
            warn("Keras 2 script, but tf-keras is not installed in this environment: it runs on Keras 3")
        else:
            compat.redirect = True
            os.environ["TF_USE_LEGACY_KERAS"] = "1"
            compat.used("keras -> tf_keras", "Keras 2 script: `keras` and `tensorflow.keras` are tf_keras "
                        "(Keras 2, from the tf-keras package)")
    compat.finder = CompatFinder(compat)
    hooks = sys.meta_path.index(patching._FINDER) + 1 if patching._FINDER in sys.meta_path else 0
    sys.meta_path.insert(hooks, compat.finder)
    when_imported("keras", lambda keras: _install_api(keras, compat))
    when_imported("tf_keras", lambda keras: _install_api(keras, compat))
    if keras_api == 2:
        when_imported("tensorflow", lambda tf: _install_tf1(tf, compat))
    return compat


def _install_api(keras: types.ModuleType, compat: KerasCompat) -> None:
    if not compat.first_install(keras):
        return
    keras3 = keras.__name__ == "keras" and keras.__version__.startswith("3")
    for part in _PARTS + (_KERAS3_PARTS if keras3 else ()):
        try:
            part(keras, keras3, compat)
        except Exception as e:
            hook_failed(f"installing Keras compat {part.__name__}", e)


def _install_tf1(tf: types.ModuleType, compat: KerasCompat) -> None:
    from training.harness import tf1_compat

    try:
        tf1_compat.install(tf, compat.used)
    except Exception as e:
        hook_failed("installing the TensorFlow 1 shims", e)


def model_classes() -> tuple[type, ...]:
    """The ``Model`` classes of the Keras packages imported so far (Keras 3's and/or tf_keras's)."""
    found = []
    for name in ("keras", "tf_keras"):
        module = sys.modules.get(name)
        cls = getattr(module, "Model", None)
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)
