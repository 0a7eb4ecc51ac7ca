"""Time the call the server makes on an already validated array, one round per line read from stdin (the seconds
the round lasts); each round's medians printed as one JSON line (``bench/serving``).

Runs in the serving virtualenv with ``monitor/`` on the path. Arguments: the model folder, the rows as JSON.
"""

import json
import statistics
import sys
import time
from pathlib import Path

from serving.models import load_model

model = load_model(Path(sys.argv[1]))
x = model.to_array(json.loads(sys.argv[2]))
calls = {"p50_ms": lambda: model.predict(x)}
if hasattr(model, "with_probabilities"):  # scikit-learn: the estimator's own call too, as made without our server
    estimator = model.model
    own = estimator.predict_proba if model.with_probabilities else estimator.predict
    calls["estimator_p50_ms"] = lambda: own(model._as_input(x))
for call in calls.values():
    for _ in range(30):
        call()
print("ready", flush=True)
for line in sys.stdin:
    seconds = float(line) / len(calls)
    out = {}
    for name, call in calls.items():
        times, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times) * 1000
    print(json.dumps(out), flush=True)
