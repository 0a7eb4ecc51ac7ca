"""The Evaluate stage: the gate's decision on a run's model version, made once and recorded.

For a data project the candidate and the production model are compared on the same test rows: the candidate's
snapshot's test split (neither model trained on it: a snapshot keeps the splits of production's), and, when
production was trained on another snapshot, production's test split too. A model's predictions of its own test
rows are kept with its version; other rows are predicted by the model served in its serving environment (a
container, or a local serving process without Docker), which is also the infra validation: before a version can
be blessed it must load there and answer ``/predict`` on a few test rows with the predictions it made in
training. Script projects are compared on what each script reported, and their infra validation checks that the
model loads and answers ``/predict``.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from core import paths
from core.config import GateMetric, ProjectConfig
from core.console import Out
from core.errors import MlopsError, UsageError
from core.evaluation import evaluate_predictions
from core.gate import decide
from core.records import Decision, Evaluation, Event, InfraCheck, ModelVersion, Run, env_of
from core.registry import PRODUCTION, Registry
from core.store import RunStore

#: Test rows the served model must predict like in training.
INFRA_ROWS = 5
#: Rows per ``/predict`` request.
BATCH = 500
#: Seconds a serving unit may take to load its model.
HEALTHY_WITHIN_S = 180
PREDICTIONS_FILE = "test_predictions.json"


class Units:
    """Serving units started for the gate, one per model version, removed when the gate is done."""

    def __init__(self, registry: Registry, out: Out, client: Any = None) -> None:
        self.registry, self.out, self.client = registry, out, client
        self.started: dict[int, Any] = {}
        self.failed: dict[int, str] = {}

    def __enter__(self) -> Units:
        return self

    def __exit__(self, *exc: object) -> None:
        for unit in self.started.values():
            try:
                unit.remove()
            except MlopsError as e:
                self.out.fail(f"warning: could not remove the serving unit {unit.name}: {e}")

    def url(self, version: ModelVersion) -> str:
        """The address of a unit serving ``version`` (started on first use).

        Raises:
            MlopsError: It could not be started or did not load its model; the message says why.
        """
        from monitor.units import probe_env, start_unit

        if version.version in self.failed:
            raise MlopsError(self.failed[version.version])
        if version.version not in self.started:
            env = env_of(version.kind or ("ml" if version.format == "joblib" else "ann"))
            where = "a container" if self.client is not None else "a local process"
            self.out.info(f"gate: serving model v{version.version} in {where} to evaluate it ({env} environment)")
            begun = time.time()
            try:
                unit = start_unit(self.client, self.registry, version.project, version.version, env, self.out,
                                  settings=probe_env())  # the probes are not live predictions: nothing captured
            except MlopsError as e:
                self.failed[version.version] = f"it could not be started: {str(e).splitlines()[0]}"
                raise MlopsError(self.failed[version.version]) from e
            self.started[version.version] = unit
            state = unit.wait_healthy(HEALTHY_WITHIN_S)
            if state != "healthy":
                last = [line for line in unit.logs(20).splitlines() if line.strip()][-1:] or ["no log"]
                self.failed[version.version] = (f"it did not load its model in its serving environment ({state}): "
                                                f"{last[0].strip()}")
                raise MlopsError(self.failed[version.version])
            self.out.info(f"gate: model v{version.version} serves at {unit.url} ({time.time() - begun:.1f}s)")
        return self.started[version.version].url


def _post(url: str, rows: list[Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/predict", data=json.dumps({"rows": rows}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("detail", detail)
        except ValueError:
            pass
        raise MlopsError(f"/predict answered {e.code}: {detail}") from e
    except OSError as e:
        raise MlopsError(f"/predict did not answer: {e}") from e


def _rows(frame: Any, features: list[str]) -> list[dict[str, Any]]:
    """Rows as ``{"feature": value}`` objects, missing values as ``null``."""
    out = []
    for record in frame[features].to_dict("records"):
        row = {}
        for key, value in record.items():
            value = value.item() if hasattr(value, "item") else value
            row[key] = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        out.append(row)
    return out


def served_predictions(units: Units, version: ModelVersion, frame: Any, features: list[str]) -> dict[str, Any]:
    """``{"predictions", "probabilities", "classes"}`` of a served version for the rows of ``frame``."""
    url = units.url(version)
    rows = _rows(frame, features)
    predictions: list[Any] = []
    probabilities: list[Any] = []
    classes = None
    for first in range(0, len(rows), BATCH):
        answer = _post(url, rows[first:first + BATCH])
        predictions += answer["predictions"]
        probabilities += answer.get("probabilities") or []
        classes = answer.get("classes", classes)
    return {"predictions": [str(p) if isinstance(p, str) else p for p in predictions],
            "probabilities": probabilities or None, "classes": [str(c) for c in classes] if classes else None}


def _stored(registry: Registry, version: ModelVersion) -> dict[str, Any] | None:
    path = registry.folder(version.project, version.version) / PREDICTIONS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _snapshot(snapshot_id: str | None) -> Any:
    from core.data import read_snapshot

    folder = paths.snapshots_dir() / str(snapshot_id)
    return read_snapshot(folder) if snapshot_id and folder.is_dir() else None


class DataGate:
    """Evaluations of a data project's candidate and of production on the same test rows."""

    def __init__(self, run: Run, cfg: ProjectConfig, registry: Registry, units: Units) -> None:
        self.run, self.cfg, self.registry, self.units = run, cfg, registry, units
        self.positive = (run.data or {}).get("positive")
        self.notes: list[str] = []

    def evaluate(self, predicted: dict[str, Any], snapshot: Any) -> Evaluation:
        from training.dataproject import held_out_labels

        classes = predicted.get("classes")
        if predicted.get("probabilities") and not classes:
            predicted = {**predicted, "probabilities": None}
        return evaluate_predictions(held_out_labels(snapshot), predicted["predictions"], task=self.run.task,
                                    classes=classes, probabilities=predicted.get("probabilities"),
                                    positive=self.positive, cost=(self.cfg.cost.fp, self.cfg.cost.fn),
                                    snapshot=snapshot.summary.id, split="test")

    def on_rows(self, version: ModelVersion, snapshot: Any) -> Evaluation:
        """A version's evaluation on a snapshot's test rows: its kept predictions when those are its own test
        rows, else the served model's.

        Raises:
            MlopsError: The version cannot be served or refused the rows.
        """
        stored = _stored(self.registry, version)
        if stored is not None and version.snapshot == snapshot.summary.id:
            return self.evaluate(stored, snapshot)
        label = snapshot.summary.label
        features = [c for c in snapshot.summary.columns if c != label]
        return self.evaluate(served_predictions(self.units, version, snapshot.test, features), snapshot)

    def infra(self, version: ModelVersion, snapshot: Any) -> InfraCheck:
        """Infra validation: the served version predicts a few test rows as it did in training."""
        begun = time.time()
        stored = _stored(self.registry, version)
        if stored is None:
            return InfraCheck(status="failed", reason=f"model v{version.version} has no {PREDICTIONS_FILE} to "
                                                      "compare the served predictions with")
        label = snapshot.summary.label
        features = [c for c in snapshot.summary.columns if c != label]
        picked = infra_rows(stored["predictions"])
        rows = snapshot.test.iloc[picked]
        try:
            served = served_predictions(self.units, version, rows, features)["predictions"]
        except MlopsError as e:
            return InfraCheck(status="failed", reason=f"model v{version.version} cannot be served: {e}",
                              seconds=round(time.time() - begun, 2))
        expected = [stored["predictions"][i] for i in picked]
        mismatches = sum(_differ(a, b) for a, b in zip(served, expected, strict=True))
        where = self.units.started[version.version].name
        if mismatches:
            return InfraCheck(status="failed", where=where, rows=len(rows), mismatches=mismatches,
                              seconds=round(time.time() - begun, 2),
                              reason=f"served, it predicted {mismatches} of {len(rows)} test rows differently from "
                                     f"training (served {served[:3]}, trained {expected[:3]})")
        return InfraCheck(status="passed", where=where, rows=len(rows), seconds=round(time.time() - begun, 2),
                          reason=f"{len(rows)} test rows predicted as in training")


def infra_rows(predictions: list[Any], k: int = INFRA_ROWS) -> list[int]:
    """The test rows the served model must predict: the first ``k``, and for a classifier the first row of each
    class it predicted in training (so a rare class is among them)."""
    picked = list(range(min(k, len(predictions))))
    if all(isinstance(p, str) for p in predictions):
        for cls in sorted(set(predictions)):
            first = predictions.index(cls)
            if first not in picked:
                picked.append(first)
    return picked


def _differ(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return not math.isclose(float(a), float(b), rel_tol=1e-5, abs_tol=1e-6)
    return str(a) != str(b)


def _data_decision(run: Run, cfg: ProjectConfig, registry: Registry, units: Units, candidate: ModelVersion,
                   production: ModelVersion | None) -> Decision:
    gate = DataGate(run, cfg, registry, units)
    snapshot = _snapshot(run.snapshot)
    if snapshot is None or run.evaluation is None:
        raise UsageError(f"run {run.id}: its snapshot {run.snapshot} or its test evaluation is missing; run it again")
    candidates = {"candidate": run.evaluation}
    baseline: dict[str, Evaluation] | None = None
    compared = "the candidate's test rows"
    reached = cfg.reached(run.evaluation.metrics.get(cfg.metric))
    infra = gate.infra(candidate, snapshot) if reached else InfraCheck(
        status="skipped", reason="the target was not reached, so the model was not served")
    if production is not None:
        baseline = {}
        try:
            baseline["candidate"] = gate.on_rows(production, snapshot)
        except MlopsError as e:
            gate.notes.append(f"production v{production.version} on the candidate's test rows: {e}")
        other = _snapshot(production.snapshot) if production.snapshot != run.snapshot else None
        if other is not None:
            compared += f" and production's ({other.summary.id})"
            try:
                baseline["production"] = gate.on_rows(production, other)
                candidates["production"] = gate.on_rows(candidate, other)
            except MlopsError as e:
                gate.notes.append(f"on production's test rows: {e}")
                baseline.pop("production", None)
        if not baseline:  # production cannot be evaluated on these rows: its recorded figures are all there is
            baseline = {"candidate": Evaluation(split="recorded", metrics=production.metrics or (
                {production.metric: production.value} if production.value is not None else {}))}
            compared = f"its recorded figures ({'; '.join(gate.notes)})"
    return decide(run_id=run.id, project=run.project, version=candidate.version, metric=cfg.metric, goal=cfg.goal,
                  target=cfg.target or 0.0, gate=cfg.gate, candidate=candidates, baseline=baseline,
                  baseline_version=production.version if production else None, infra=infra,
                  compared_on=f"the same test rows: {compared}")


def _script_infra(units: Units, version: ModelVersion) -> InfraCheck:
    """A script's model served: it loads, and answers ``/predict`` for one row of the shape it expects."""
    begun = time.time()
    try:
        url = units.url(version)
        with urllib.request.urlopen(f"{url}/health", timeout=30) as answer:
            health = json.loads(answer.read())
        width = math.prod(health.get("input_shape") or [len(health.get("features") or [])] or [1])
        if not width:
            raise MlopsError("its input shape is unknown")
        answer = _post(url, [[0.0] * width])
        if len(answer.get("predictions", [])) != 1:
            raise MlopsError(f"/predict gave {answer.get('predictions')!r} for one row")
    except (MlopsError, OSError, ValueError) as e:
        return InfraCheck(status="failed", reason=f"model v{version.version} cannot be served: {e}",
                          seconds=round(time.time() - begun, 2))
    return InfraCheck(status="passed", where=units.started[version.version].name, rows=1,
                      seconds=round(time.time() - begun, 2),
                      reason=f"loads and answers /predict for a row of {width} values (the script's test rows are "
                             "not known to mlops)")


def _script_decision(run: Run, cfg: ProjectConfig, store: RunStore, units: Units, candidate: ModelVersion,
                     production: ModelVersion | None) -> Decision:
    trials = store.trials(run.id)
    best = next((t for t in trials if t.number == run.best_trial), None)
    metrics = dict(best.metrics if best else {})
    if run.value is not None:
        metrics[cfg.metric] = run.value  # the confirmed mean, when confirm: asked for one
    candidates = {"candidate": Evaluation(split=run.measured_on, metrics=metrics)}
    baseline = None
    if production is not None:
        recorded = production.metrics or ({production.metric: production.value} if production.value is not None
                                          else {})
        baseline = {"candidate": Evaluation(split="reported", metrics=recorded)}
    infra = _script_infra(units, candidate) if cfg.reached(run.value) else InfraCheck(
        status="skipped", reason="the target was not reached, so the model was not served")
    return decide(run_id=run.id, project=run.project, version=candidate.version, metric=cfg.metric, goal=cfg.goal,
                  target=cfg.target or 0.0, gate=cfg.gate, candidate=candidates, baseline=baseline,
                  baseline_version=production.version if production else None, infra=infra,
                  compared_on="the figures each script reported (a script evaluates on its own test rows)")


def gate_run(store: RunStore, run: Run, out: Out, client: Any = ...) -> Decision:
    """The gate's decision on a finished run: made and recorded the first time, read back afterwards.

    Args:
        store: The run store.
        run: A finished run.
        out: Progress lines.
        client: A Docker client to serve the models in containers, ``None`` for local serving processes; by
            default one is made when an engine answers.

    Raises:
        UsageError: The run has not finished, or its data is gone.
    """
    existing = store.decision(run.id)
    if existing is not None:
        return existing
    if not run.status.finished:
        raise UsageError(f"run {run.id} has not finished ({run.status}); evaluate it once it has")
    cfg = ProjectConfig.model_validate(run.config)
    registry = Registry(store)
    out.step(f"evaluate run {run.id}: the gate")
    candidate = registry.get(run.project, run.model_version) if run.model_version else None
    holder = registry.holder(run.project, PRODUCTION)
    production = holder if holder is not None and candidate is not None and holder.version != candidate.version \
        else None
    from mlops.pipeline.held import check_inputs, held_config, inputs_of

    loosened: list[str] = []
    if production is not None:
        cfg, loosened = held_config(store, cfg, production)
        for line in loosened:
            out.fail(f"gate loosened by the push: {line}")
    if client is ...:
        from core.infra.docker_engine import serving_client

        client = serving_client(run.backend)[0] if candidate is not None else None
    with Units(registry, out, client) as units:
        if candidate is None:
            decision = decide(run_id=run.id, project=run.project, version=None, metric=cfg.metric or run.metric,
                              goal=run.goal, target=run.target, gate=cfg.gate, candidate={}, baseline=None,
                              baseline_version=None, infra=InfraCheck(reason="no model"))
        elif run.data_project:
            decision = _data_decision(run, cfg, registry, units, candidate, production)
        else:
            decision = _script_decision(run, cfg, store, units, candidate, production)
        if decision.blessed and production is not None and candidate is not None:
            check_inputs(decision, store, units, candidate, production, cfg.breaking)
        elif candidate is not None and candidate.version in units.started:
            inputs_of(store, units, candidate)  # served anyway: what it takes is kept for the next candidates
    decision.gate = {name: rule.model_dump(exclude_none=True) for name, rule in
                     (cfg.gate or {cfg.metric or run.metric: GateMetric()}).items()}
    decision.loosened = loosened
    decision = store.record_decision(decision)
    if candidate is not None:
        store.update_model_version(run.project, candidate.version, decision={
            "blessed": decision.blessed, "reason": decision.reason, "run_id": run.id, "time": decision.time,
            "baseline_version": decision.baseline_version})
    store.add_event(Event(type="gate", project=run.project, run_id=run.id, version=decision.version,
                          blessed=decision.blessed, reason=decision.reason))
    for check in decision.checks:
        mark = "pass" if check.passed else "FAIL"
        base = "" if check.baseline is None else f"  production {check.baseline:.4g}"
        limit = "" if check.limit is None else f"  limit {check.limit:.4g}"
        value = "-" if check.candidate is None else f"{check.candidate:.4g}"
        out.info(f"  {mark}  {check.metric:<10} {check.check:<9} ({check.rows}'s test rows)  candidate {value}"
                 f"{base}{limit}")
    out.info(f"  infra validation: {decision.infra.status}: {decision.infra.reason}")
    return decision


def decision_file(summary: Path) -> Path:
    """Where ``mlops push`` says that a candidate awaits a person's approval (beside a ``summary.json``)."""
    return summary.parent / "awaiting-approval.json"
