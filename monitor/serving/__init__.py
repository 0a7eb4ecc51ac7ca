"""The model server shipped into the serving image: ``POST /predict``, ``GET /health``, ``GET /metrics``.

A self-contained package: it imports FastAPI, uvicorn, prometheus-client, numpy and the model's
framework, never ``mlops``, ``training`` or another ``monitor`` module (an import-linter contract
checks it), because the serving image holds only the trial image, ``requirements-serve.txt`` and this
package. Run it with ``python -m serving`` (see ``__main__.py``); ``create_app`` builds the ASGI app.
"""

from __future__ import annotations

from .app import create_app
from .settings import Settings
from .sink import NullSink, Prediction, PredictionSink

__all__ = ["NullSink", "Prediction", "PredictionSink", "Settings", "create_app"]
