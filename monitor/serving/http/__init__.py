"""The web app: ``create_app`` (``app.py``), ``POST /predict`` answered before routing (``predict.py``), the other
routes one router per concern (``routers/``), request bodies (``schemas.py``), labels (``feedback.py``),
``/metrics`` (``metrics.py``, ``gauges.py``) and the model's slot in the app's state (``state.py``)."""
