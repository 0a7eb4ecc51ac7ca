"""TensorFlow 1 calls that Keras 2 scripts of 2018-2020 make around their model, on TensorFlow 2 (stdlib only).

Installed for Keras 2 scripts by ``keras_compat.install``, once TensorFlow is imported. Each shim is listed in the
trial's ``shims`` the first time the script uses it:

* ``tf.set_random_seed(s)`` -> ``tf.random.set_seed(s)``;
* ``tf.ConfigProto(...)``, ``tf.Session(config=...)``, ``K.set_session(sess)`` (also from
  ``keras.backend.tensorflow_backend``), ``tf.GPUOptions``: used to set threads or GPU memory. Threads are set by
  mlops (the trial's CPUs), GPU memory grows as needed: the session is kept for the script, nothing else changes;
* ``tf.global_variables_initializer()`` and ``sess.run()`` of it: Keras initialises its variables itself;
* ``tf.logging.set_verbosity(...)`` and the rest of ``tf.logging`` -> ``tf.compat.v1.logging``;
* ``tf.get_default_graph()`` -> ``tf.compat.v1.get_default_graph()``.

A TensorFlow 1 graph-mode training loop (``tf.placeholder``, ``sess.run`` of a tensor) does not run on
TensorFlow 2: it stops the trial with ``TF1GraphModeError``, whose message names the call.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from training.harness.patching import add_attribute

#: ``tf.<name>`` calls of TensorFlow 1 graph mode: they stop the trial with a message naming them.
GRAPH_MODE = ("placeholder", "placeholder_with_default", "variable_scope", "get_variable", "train.Saver")


class TF1GraphModeError(RuntimeError):
    """The script trains in TensorFlow 1 graph mode (placeholders, ``sess.run``), which TensorFlow 2 cannot run."""


def graph_mode_message(call: str) -> str:
    """The one-line reason a graph-mode call stops the trial."""
    return (f"{call} is TensorFlow 1 graph mode (placeholders, sess.run), which TensorFlow 2 does not run; "
            "train with model.fit (Keras), or port the loop to TensorFlow 2")


class _Initializer:
    """What ``tf.global_variables_initializer()`` returns: nothing to run, Keras initialises its variables."""

    def __repr__(self) -> str:
        return "<global_variables_initializer (a no-op on TensorFlow 2)>"


def install(tf: types.ModuleType, used: Callable[[str, str], None]) -> None:
    """Add the TensorFlow 1 names a Keras 2 script calls to ``tf`` (reverted with the harness patches).

    Args:
        tf: The ``tensorflow`` module.
        used: ``used(key, message)`` records a shim the first time the script uses it.
    """
    v1 = tf.compat.v1

    def set_random_seed(seed: int) -> None:
        used("tf.set_random_seed", "tf.set_random_seed() is TensorFlow 1; used tf.random.set_seed()")
        tf.random.set_seed(seed)

    def config_proto(*args: Any, **kwargs: Any) -> Any:
        used("tf.ConfigProto", "tf.ConfigProto() is TensorFlow 1; used tf.compat.v1.ConfigProto() (the trial's "
                               "threads are set by mlops, GPU memory grows as needed)")
        return v1.ConfigProto(*args, **kwargs)

    def gpu_options(*args: Any, **kwargs: Any) -> Any:
        used("tf.GPUOptions", "tf.GPUOptions() is TensorFlow 1; used tf.compat.v1.GPUOptions()")
        return v1.GPUOptions(*args, **kwargs)

    def global_variables_initializer() -> _Initializer:
        used("tf.global_variables_initializer", "tf.global_variables_initializer() is TensorFlow 1; nothing to "
                                                "run (Keras initialises its variables)")
        return _Initializer()

    def get_default_graph() -> Any:
        used("tf.get_default_graph", "tf.get_default_graph() is TensorFlow 1; used tf.compat.v1.get_default_graph()")
        return v1.get_default_graph()

    def graph_mode(call: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise TF1GraphModeError(graph_mode_message(f"tf.{call}()"))

        return refuse

    names: dict[str, Any] = {
        "set_random_seed": set_random_seed, "ConfigProto": config_proto, "GPUOptions": gpu_options,
        "Session": _session_class(used), "global_variables_initializer": global_variables_initializer,
        "get_default_graph": get_default_graph, "logging": _Logging(v1.logging, used),
    }
    names.update({call: graph_mode(call) for call in GRAPH_MODE if "." not in call})
    for name, value in names.items():
        if not hasattr(tf, name):
            add_attribute(tf, name, value)


def _session_class(used: Callable[[str, str], None]) -> type:
    class Session:
        """``tf.Session(config=...)`` kept for a Keras 2 script that sets threads or GPU memory through it."""

        def __init__(self, target: str = "", graph: Any = None, config: Any = None) -> None:
            used("tf.Session", "tf.Session() is TensorFlow 1; kept as a placeholder for its config (threads are "
                               "set by mlops, GPU memory grows as needed; Keras 2 on TensorFlow 2 needs no session)")
            self.graph, self.config = graph, config

        def run(self, fetches: Any, *args: Any, **kwargs: Any) -> Any:
            if fetches is None or isinstance(fetches, _Initializer) or (
                    isinstance(fetches, (list, tuple)) and all(isinstance(f, _Initializer) for f in fetches)):
                return None
            raise TF1GraphModeError(graph_mode_message("sess.run()"))

        def as_default(self) -> Session:
            return self

        def close(self) -> None:
            return None

        def __enter__(self) -> Session:
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

    return Session


def set_session(used: Callable[[str, str], None]) -> Callable[[Any], None]:
    """``K.set_session(sess)``: the session's config is for threads and GPU memory, which mlops sets."""

    def set_session(session: Any) -> None:
        used("K.set_session", "keras.backend.set_session() is TensorFlow 1; ignored it (threads are set by mlops, "
                              "GPU memory grows as needed)")

    return set_session


def get_session(used: Callable[[str, str], None]) -> Callable[[], Any]:
    """``K.get_session()``: a session object, for scripts that pass it on to ``set_session``."""

    def get_session() -> Any:
        return _session_class(used)()

    return get_session


class _Logging:
    """``tf.logging``: TensorFlow 1's logging module, served from ``tf.compat.v1.logging``."""

    def __init__(self, target: Any, used: Callable[[str, str], None]) -> None:
        self._target, self._used = target, used

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._used("tf.logging", "tf.logging is TensorFlow 1; used tf.compat.v1.logging")
        return getattr(self._target, attr)
