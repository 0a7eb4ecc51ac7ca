"""``mlops retrain PROJECT``: what the live monitor starts (the Jenkins ``mlops-retrain`` job runs it too).

1. Ground truth: every labelled prediction of the project (its input row with the user's label) is added to the
   project's data - inserted into its ``data: mongodb:`` collection (keyed by inference id, so a second retrain
   adds nothing twice), or written as a CSV file that the run reads after ``data: path:`` files. A script project
   without ``data:`` reads its own files: the labels are not added and the record says so.
2. Two runs on the new data: the script as it is (one trial, no tweak: the seeds' "old model") and the tuned
   candidate (the seeds' "new model").
3. The better one (by the metric both were scored on, on the same snapshot) goes through the gate (the
   decision its run's Evaluate stage recorded against production), approval (``approval: manual`` makes it
   ``candidate`` for a person to promote) and deploy: the new unit must be healthy before the old one is retired.

Every step is an event of type ``retrain`` (with ``step``) in the run store, and the last one holds the chain:
labels, snapshot, runs, decision, version, deploy.
"""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path
from typing import Any

from core import paths
from core.config import load_config
from core.console import Out
from core.errors import UsageError
from core.records import Event
from core.registry import PRODUCTION, Registry
from core.store import RunStore, get_run_store
from mlops.pipeline.finish import stored_run
from mlops.pipeline.summary import Summary


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
    data = cfg.data
    digest = hashlib.sha256("".join(sorted(d["_id"] for d in docs)).encode()).hexdigest()[:12]
    where: dict[str, Any] = {"labels": len(docs), "corrected": sum(d.get("label") != d.get("prediction")
                                                                   for d in docs), "labels_hash": digest}
    if not docs:
        return {**where, "added": "nothing: no labels yet"}, {}
    if data is None:
        return {**where, "added": "nothing: a script project without data: reads its own files"}, {}
    rows = [{**dict(zip(features, d["row"], strict=True)), data.label: d["label"], "_id": f"label:{d['_id']}"}
            for d in docs]
    if data.mongodb:  # keyed by inference id: a later retrain replaces, never adds twice; missing values absent
        collection = store.data_collection(data.mongodb)
        collection.delete_many({"_id": {"$in": [row["_id"] for row in rows]}})  # two passes, not one per row
        collection.insert_many([{k: v for k, v in row.items() if v is not None} for row in rows])
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


def better(a: Summary, b: Summary) -> Summary:
    """The summary with the better value in the metric's direction (``a`` on a tie, or when ``b`` has none)."""
    if b.value is None:
        return a
    if a.value is None:
        return b
    if a.goal == "maximize":
        return b if b.value > a.value else a
    return b if b.value < a.value else a


def retrain(project_dir: Path, reason: str, out: Out, store: RunStore | None = None,
            client: Any | None = None) -> dict[str, Any]:
    """Retrain a served project with its users' labels and, when the gate blesses the better model, deploy it.

    Raises:
        UsageError: Not a project folder, or nothing holds ``production``.
    """
    from core.infra.docker_engine import docker_client
    from core.names import default_name
    from mlops.pipeline.options import RunOptions
    from mlops.pipeline.push import push_blessed
    from mlops.pipeline.run import run_project
    from monitor.deploy import deploy

    started = time.time()
    if not project_dir.is_dir():
        raise UsageError(f"{project_dir}: not a project folder")
    store = store or get_run_store()
    registry = Registry(store)
    cfg = load_config(project_dir)
    project = cfg.name or default_name(project_dir.resolve().name)
    bound = store.projects(project)  # the retrain is the tool's own: it trains under the name's bound origin
    origin = bound[0].origin if bound else None
    holder = registry.holder(project, PRODUCTION)
    if holder is None:
        raise UsageError(f"{project} has no '{PRODUCTION}' model to retrain; run and push it first")
    out.step(f"retrain {project} (production v{holder.version}): {reason}")
    features, docs = ground_truth(project, holder.version)
    where, overrides = add_ground_truth(cfg, project, features, docs, store)
    _record(store, project, "ground_truth", reason=reason, version=holder.version, **where)
    out.info(f"retrain: {where['labels']} labelled prediction(s) ({where['corrected']} corrected): {where['added']}")

    as_is = run_project(project_dir, RunOptions(fresh=True, notify=False, push=False, origin=origin,
                                                config={**overrides, "budget.max_trials": 1}), out, store)
    tuned = run_project(project_dir, RunOptions(fresh=True, notify=False, push=False, config=overrides,
                                                origin=origin), out, store)
    runs = {"as_is": as_is.id, "tuned": tuned.id}
    blessed = [summary for summary in (as_is, tuned) if summary.blessed]
    chosen = blessed[0] if len(blessed) == 1 else better(as_is, tuned)  # a blessed one first, then the better
    which = "as_is" if chosen is as_is else "tuned"
    _record(store, project, "runs", reason=reason, runs=runs, chosen=which, run_id=chosen.id,
            values={"as_is": as_is.value, "tuned": tuned.value}, snapshot=chosen.snapshot,
            blessed={"as_is": as_is.blessed, "tuned": tuned.blessed})
    out.info(f"retrain: the script as it is reached {as_is.value}, the tuned candidate {tuned.value}: "
             f"{which} goes to the gate")

    run = stored_run(store, chosen.id)
    decision = store.decision(run.id)
    result: dict[str, Any] = {"reason": reason, "labels": where["labels"], "runs": runs, "chosen": which,
                              "run_id": run.id, "version": run.model_version, "snapshot": run.snapshot,
                              "blessed": bool(decision and decision.blessed),
                              "decision": decision.line() if decision else "no decision was recorded",
                              "deployed": False}
    pushed = push_blessed(store, run, decision, cfg.approval, out) if decision is not None else None
    if pushed is None or pushed.awaiting_approval:
        if pushed is not None:
            result["approval"] = f"manual: v{pushed.version} is the candidate; mlops promote approves it"
        else:
            out.fail(f"retrain: not blessed ({result['decision']}); production stays v{holder.version}")
        _record(store, project, "decision", **result)
        return {"project": project, **result}
    if client is None:
        client, why_not = docker_client()
        if client is None:
            out.info(f"retrain: no Docker engine answers ({why_not}); serving as a local process")
    deployed = deploy(registry, project, None, out, client=client, run_id=run.id)
    result.update(deployed=True, url=deployed["url"], container=deployed["container"], retired=deployed["retired"],
                  seconds=round(time.time() - started, 1))
    _record(store, project, "deployed", **result)
    return {"project": project, **result}
