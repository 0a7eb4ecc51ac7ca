"""Live monitoring: users' labels joined to the production model's captured predictions -> live accuracy over a
window, input drift of the served rows against the model's training snapshot, and a decision.

The predictions and labels are read through ``monitor.serving.capture`` (the same package the server writes
with): the run store's MongoDB when ``MONGODB_URI`` is set, else the project's spool in
``$MLOPS_HOME/capture/<project>/``. Each check leaves its verdict in the capture store's ``live_status`` (the
server's ``/metrics`` reads the window and drift share from it) and, when the decision changes, an event.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from core import paths, settings
from core.config import Monitoring
from core.records import Event, LiveCheck
from core.registry import PRODUCTION, Registry
from monitor.serving.capture import CapturedPrediction, CaptureStore, CaptureUnavailable, ServedModelInfo, open_capture


def project_capture(project: str) -> CaptureStore:
    """The capture store of a project, as its serving units write it."""
    store = open_capture(settings.MONGODB_URI.get(), paths.capture_dir(project))
    assert store is not None
    return store


def accuracy_of(docs: list[CapturedPrediction]) -> tuple[float | None, int]:
    """Share of labelled predictions whose label is the prediction, and how many were corrected."""
    if not docs:
        return None, 0
    corrected = sum(d.get("label") != d.get("prediction") for d in docs)
    return 1 - corrected / len(docs), corrected


def live_check(project: str, cfg: Monitoring, registry: Registry, capture: CaptureStore,
               now: float | None = None) -> LiveCheck:
    """Look at the production model of ``project`` once.

    Args:
        project: The project's name.
        cfg: ``monitoring:`` of its mlops.yaml.
        registry: The registry (which version holds ``production``, its snapshot).
        capture: Where its predictions and labels are.
        now: The time of the check (default: now).
    """
    now = now or time.time()
    base = {"project": project, "window": cfg.window, "window_minutes": cfg.window_minutes,
            "threshold": cfg.threshold, "min_labels": cfg.min_labels, "time": now}
    holder = registry.holder(project, PRODUCTION)
    if holder is None:
        return LiveCheck(**base, decision="no_production",
                         reason=f"{project} has no '{PRODUCTION}' model: nothing is monitored")
    version = holder.version
    since = now - cfg.window_minutes * 60 if cfg.window_minutes else None
    try:
        docs = capture.labelled(project, version, limit=cfg.window, since=since)
        served = capture.served(project, version, limit=cfg.drift_rows)
        model = capture.model(project, version)
    except CaptureUnavailable as e:
        return LiveCheck(**base, model_version=version, decision="no_capture", reason=str(e))
    accuracy, corrected = accuracy_of(docs)
    drift = _drift(holder, served, model, cfg)
    common = {**base, "model_version": version, "accuracy": accuracy, "labels": len(docs), "corrected": corrected,
              "served_rows": len(served), **drift}
    within = f" within {cfg.window_minutes:g} minutes" if cfg.window_minutes else ""
    if len(docs) < cfg.min_labels:
        reason = (f"v{version}: {len(docs)} labelled prediction(s) in the window{within}, fewer than min_labels "
                  f"{cfg.min_labels}: no decision")
        return LiveCheck(**common, decision="too_few_labels", reason=reason)
    assert accuracy is not None
    said = f"v{version}: live accuracy {accuracy:.3f} over the last {len(docs)} labels{within}"
    if accuracy < cfg.threshold:
        return LiveCheck(**common, decision="under_threshold",
                         reason=f"{said} is under the threshold {cfg.threshold:g} ({corrected} corrected)")
    return LiveCheck(**common, decision="ok", reason=f"{said} meets the threshold {cfg.threshold:g}")


def _drift(holder: Any, served: list[CapturedPrediction], model: ServedModelInfo | None, cfg: Monitoring
           ) -> dict[str, Any]:
    """Drift share of the served rows against the training rows of the production version's snapshot."""
    snapshot_id = holder.snapshot
    if not snapshot_id:
        return {"drift_note": f"v{holder.version} names no training snapshot (a project without data:)"}
    folder = paths.snapshots_dir() / snapshot_id
    if not folder.is_dir():
        return {"drift_note": f"the training snapshot {snapshot_id} is not in {paths.snapshots_dir()}"}
    if len(served) < 20:
        return {"drift_note": f"only {len(served)} served row(s): too few to test"}
    import pandas as pd

    from core.data import detect_drift, read_snapshot

    snapshot = read_snapshot(folder)
    label = snapshot.summary.label
    features = (model or {}).get("features") or [c for c in snapshot.summary.columns if c != label]
    rows = [d["row"] for d in served if len(d.get("row") or []) == len(features)]
    if len(rows) < 20:
        return {"drift_note": f"the served rows do not have the {len(features)} features of the snapshot"}
    current = pd.DataFrame(rows, columns=features)  # numbers, and text for a data project's categories
    numeric = [c for c in features if c in snapshot.train and pd.api.types.is_numeric_dtype(snapshot.train[c])]
    current[numeric] = current[numeric].astype("float64")
    report = detect_drift(snapshot.train, current, label)
    share = report.drift_share
    return {"drift_share": None if math.isnan(share) else share, "drifted": report.drifted_columns}


def publish(check: LiveCheck, capture: CaptureStore, registry: Registry) -> None:
    """Leave the verdict where the server's ``/metrics`` reads it, and record an event when the decision changed
    (or whenever a retrain is due)."""
    try:
        capture.put_status(check.project, check.to_doc())
    except CaptureUnavailable:
        pass
    store = registry.store
    last = next(reversed(store.events("live_check", project=check.project)), None)
    if last is None or getattr(last, "decision", None) != check.decision or check.decision == "under_threshold":
        store.add_event(Event(**{k: v for k, v in check.to_doc().items() if k not in ("time",)}, type="live_check"))


def resolve_project(ref: str, store: Any) -> tuple[str, Path | None, Monitoring]:
    """A project by its folder (``mlops.yaml`` read there) or by its name (its latest run's folder and
    configuration): ``(name, folder or None, monitoring:)``.

    Raises:
        UsageError: Neither a folder nor a project with runs.
        ConfigError: Its mlops.yaml is invalid.
    """
    from core.config import load_config
    from core.errors import UsageError
    from core.names import check_name, default_name

    folder = Path(ref)
    if folder.is_dir():
        cfg = load_config(folder)
        return cfg.name or default_name(folder.resolve().name), folder.resolve(), cfg.monitoring
    check_name(ref, "project")
    runs = store.find_runs(project=ref, limit=1)
    if not runs:
        raise UsageError(f"{ref}: neither a project folder nor a project with runs; give the folder that holds "
                         "mlops.yaml")
    run = runs[0]
    monitoring = Monitoring(**(run.config or {}).get("monitoring", {}))
    path = Path(run.path) if run.path else None
    return ref, (path if path and path.exists() else None), monitoring
