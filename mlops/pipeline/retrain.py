"""``mlops retrain PROJECT``: what the live monitor starts (the Jenkins ``mlops-retrain`` job runs it too).

1. Ground truth: every labelled prediction of the project (its input row with the user's label) is added to the
   project's data - inserted into its ``data: mongodb:`` collection (keyed by inference id, so a second retrain
   adds nothing twice), or written as a CSV file that the run reads after ``data: path:`` files. A script project
   without ``data:`` reads its own files: the labels are not added and the record says so.
2. Two runs on the new data: the script as it is (one trial, no tweak: the seeds' "old model") and the tuned
   candidate (the seeds' "new model").
3. The better one goes through the gate (its run's recorded decision when the gate stage recorded one, else
   the target), approval (``approval: manual`` makes it ``candidate``) and deploy: the new unit must be healthy
   before the old one is retired.

Every step is an event of type ``retrain`` (with ``step``) in the run store, and the last one holds the chain:
labels, snapshot, runs, decision, version, deploy.
"""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path
from typing import Any

from mlops import paths
from mlops.config import load_config
from mlops.console import Out
from mlops.errors import UsageError
from mlops.records import Event
from mlops.registry import PRODUCTION, Registry
from mlops.store import RunStore, get_run_store


def _record(store: RunStore, name: str, step: str, **fields: Any) -> None:
    store.add_event(Event(**{**fields, "type": "retrain", "project": name, "step": step}))


def ground_truth(project: str, version: int | None) -> tuple[list[str], list[dict[str, Any]]]:
    """The feature names (of the production version, as its server said) and every labelled prediction."""
    from monitor.live import project_capture

    capture = project_capture(project)
    try:
        docs = capture.labelled(project)
        model = capture.model(project, version) or {}
    finally:
        capture.close()
    width = max((len(d.get("row") or []) for d in docs), default=0)
    features = model.get("features") or [f"x{i}" for i in range(width)]
    return features, [d for d in docs if len(d.get("row") or []) == len(features)]


def add_ground_truth(cfg: Any, project: str, features: list[str], docs: list[dict[str, Any]], store: RunStore
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Put the labelled rows where the next run reads its data.

    Returns:
        ``(where, overrides)``: what was added where, and config fields the runs must take (an extra file).
    """
    data = getattr(cfg, "data", None)
    digest = hashlib.sha256("".join(sorted(d["_id"] for d in docs)).encode()).hexdigest()[:12]
    where: dict[str, Any] = {"labels": len(docs), "corrected": sum(d.get("label") != d.get("prediction")
                                                                   for d in docs), "labels_hash": digest}
    if not docs:
        return {**where, "added": "nothing: no labels yet"}, {}
    if data is None:
        return {**where, "added": "nothing: a script project without data: reads its own files"}, {}
    rows = [{**dict(zip(features, d["row"], strict=True)), data.label: d["label"], "_id": f"label:{d['_id']}"}
            for d in docs]
    if data.mongodb:
        collection = store.data_collection(data.mongodb)
        for row in rows:
            collection.replace_one({"_id": row["_id"]}, row, upsert=True)
        return {**where, "added": f"mongodb:{data.mongodb}"}, {}
    folder = paths.home() / "ground-truth" / project
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"labels-{digest}.csv"
    with target.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*features, data.label])
        writer.writeheader()
        for row in rows:
            row.pop("_id")
            writer.writerow(row)
    return {**where, "added": str(target)}, {"data.path": [*data.path, str(target)]}


def better(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The summary with the better value in the metric's direction (``a`` on a tie, or when ``b`` has none)."""
    if b.get("value") is None:
        return a
    if a.get("value") is None:
        return b
    if a.get("goal", "maximize") == "maximize":
        return b if b["value"] > a["value"] else a
    return b if b["value"] < a["value"] else a


def retrain(project_dir: Path, reason: str, out: Out, store: RunStore | None = None,
            client: Any | None = None) -> dict[str, Any]:
    """Retrain a served project with its users' labels and, when the gate blesses the better model, deploy it.

    Raises:
        UsageError: Not a project folder, or nothing holds ``production``.
    """
    from mlops.environments import docker_client
    from mlops.pipeline.run import RunOptions, push_model, run_project
    from monitor.deploy import deploy

    started = time.time()
    if not project_dir.is_dir():
        raise UsageError(f"{project_dir}: not a project folder")
    store = store or get_run_store()
    registry = Registry(store)
    cfg = load_config(project_dir)
    project = cfg.name or project_dir.resolve().name
    holder = registry.holder(project, PRODUCTION)
    if holder is None:
        raise UsageError(f"{project} has no '{PRODUCTION}' model to retrain; run and push it first")
    out.step(f"retrain {project} (production v{holder.version}): {reason}")
    features, docs = ground_truth(project, holder.version)
    where, overrides = add_ground_truth(cfg, project, features, docs, store)
    _record(store, project, "ground_truth", reason=reason, version=holder.version, **where)
    out.info(f"retrain: {where['labels']} labelled prediction(s) ({where['corrected']} corrected): {where['added']}")

    as_is = run_project(project_dir, RunOptions(max_trials=1, fresh=True, notify=False, push=False,
                                                config=overrides), out, store)
    tuned = run_project(project_dir, RunOptions(fresh=True, notify=False, push=False, config=overrides), out, store)
    runs = {"as_is": as_is["run_id"], "tuned": tuned["run_id"]}
    chosen = better(as_is, tuned)
    which = "as_is" if chosen is as_is else "tuned"
    _record(store, project, "runs", reason=reason, runs=runs, chosen=which, run_id=chosen["run_id"],
            values={"as_is": as_is.get("value"), "tuned": tuned.get("value")}, snapshot=chosen.get("snapshot"))
    out.info(f"retrain: the script as it is reached {as_is.get('value')}, the tuned candidate {tuned.get('value')}: "
             f"{which} goes to the gate")

    run = store.get_run(chosen["run_id"])
    assert run is not None
    decision = store.decision(run.id) if hasattr(store, "decision") else None
    blessed = bool(decision.blessed) if decision is not None else run.reached_target and run.model_version is not None
    why = decision.line() if decision is not None else \
        (f"{run.metric} {run.value} {'reaches' if blessed else 'misses'} the target {run.target}")
    result: dict[str, Any] = {"project": project, "reason": reason, "labels": where["labels"], "runs": runs,
                              "chosen": which, "run_id": run.id, "blessed": blessed, "decision": why,
                              "version": run.model_version, "deployed": False}
    if not blessed:
        _record(store, project, "decision", **result)
        out.fail(f"retrain: not blessed ({why}); production stays v{holder.version}")
        return result
    approval = getattr(cfg, "approval", "auto")
    if approval == "manual":
        registry.promote(project, run.model_version, "candidate", why=f"retrain: {reason}", run_id=run.id)
        result["approval"] = "manual: candidate waits for 'mlops promote'"
        _record(store, project, "decision", **result)
        return result
    push_model(store, run, out)
    if client is None:
        client, why_not = docker_client()
        if client is None:
            out.info(f"retrain: no Docker engine answers ({why_not}); serving as a local process")
    deployed = deploy(registry, project, None, out, client=client, run_id=run.id)
    result.update(deployed=True, url=deployed["url"], container=deployed["container"], retired=deployed["retired"],
                  seconds=round(time.time() - started, 1))
    _record(store, project, "deployed", **result)
    return result
