"""The model server shipped into the serving image: ``POST /predict``, ``POST /feedback``, ``GET /review``,
``GET /health``, ``GET /metrics``.

A self-contained package: it imports FastAPI, uvicorn, prometheus-client, numpy, pymongo and the model's
framework, never ``mlops``, ``training`` or another ``monitor`` module (an import-linter contract
checks it), because the serving image holds only the trial image, ``requirements-serve.txt`` and this
package. Run it with ``python -m serving`` (see ``__main__.py``); ``create_app`` builds the ASGI app.

One subpackage per job:

- ``http/``: the app, ``/predict``, the routers, request bodies, labels and ``/metrics``.
- ``models/``: loading a pushed model version and scoring it (scikit-learn, Keras, forests walked at once).
- ``capture/``: where predictions and labels live (the typed store contract, MongoDB, the SQLite spool) and the
  sink that writes them off the request path.
- ``process/``: the supervisor, its workers and the connections handed between them.
- ``settings.py``: what a serving process is told through its environment.

Names are imported on first use, so the tool (which has no FastAPI) can use ``capture`` on its own: it reads
the predictions and labels the server writes through the same package.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULE_OF = {"create_app": "http.app", "Settings": "settings", "NullSink": "capture.sink",
              "CaptureSink": "capture.sink", "Prediction": "capture.sink", "PredictionSink": "capture.sink"}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
