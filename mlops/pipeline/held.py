"""What a candidate is held to once a version holds ``production``: production's gate (or the operator's), and
production's inputs.

The gate production was gated with is recorded with its decision; a candidate's ``mlops.yaml`` may tighten it,
never loosen it (what it loosens is ignored and listed). A candidate must take what production takes (the same
columns, or the same input shape, as their serving apps say): every client of production sends those. A change is
refused, unless the push declares it (``breaking: true``), which sends it to a person for approval.
"""

from __future__ import annotations

import json
import math
import urllib.request
from typing import Any, Protocol

from core.config import GateMetric, ProjectConfig
from core.errors import MlopsError
from core.gate import hold_to_production
from core.records import Decision, GateCheck, ModelVersion
from core.store import RunStore


class Units(Protocol):
    """The gate's serving units (``mlops.pipeline.gate.Units``): a version's address, served on first use."""

    def url(self, version: ModelVersion) -> str:
        """The address of a unit serving ``version``."""
        ...


def held_config(store: RunStore, cfg: ProjectConfig, production: ModelVersion) -> tuple[ProjectConfig, list[str]]:
    """The candidate's configuration with the gate and target production was gated with (or the operator's,
    ``mlops projects gate``): what the candidate's ``mlops.yaml`` tightens counts, what it loosens is ignored (and
    listed)."""
    whose = "production's"
    operator = store.projects(production.project)
    gated = store.decision(production.run_id) if production.run_id else None
    if operator and (operator[0].gate is not None or operator[0].target is not None):
        whose = "the operator's"
        rules = {name: GateMetric(**rule) for name, rule in (operator[0].gate or {}).items()}
        metric, target = cfg.metric, operator[0].target if operator[0].target is not None else cfg.target
        if not rules and gated is not None and gated.gate:  # the operator set only the target
            rules = {name: GateMetric(**rule) for name, rule in gated.gate.items()}
    elif gated is not None and gated.gate:
        rules = {name: GateMetric(**rule) for name, rule in gated.gate.items()}
        metric, target = gated.metric, gated.target
    else:  # gated before the gate was recorded, or promoted by hand: its run's configuration
        run = store.get_run(production.run_id) if production.run_id else None
        if run is None:
            return cfg, []
        rules = ProjectConfig.model_validate(run.config).gate
        metric, target = run.metric, run.target
    values = dict(production.metrics or {})
    if production.value is not None:
        values.setdefault(production.metric, production.value)
    assert cfg.metric is not None and cfg.target is not None
    gate, target, loosened = hold_to_production(cfg.gate, cfg.metric, cfg.target, cfg.goal, rules,
                                                metric or cfg.metric, target, values, whose)
    return cfg.model_copy(update={"gate": gate, "target": target}), loosened


def inputs_of(store: RunStore, units: Units, version: ModelVersion) -> dict[str, Any] | None:
    """What a version takes (``{shape, features}``): recorded with it, else asked of it served (and recorded).
    ``None`` when it cannot be served."""
    if version.inputs:
        return version.inputs
    try:
        with urllib.request.urlopen(f"{units.url(version)}/health", timeout=30) as answer:
            health = json.loads(answer.read())
    except (MlopsError, OSError, ValueError):
        return None
    inputs = {"shape": list(health.get("input_shape") or []), "features": list(health.get("features") or [])}
    store.update_model_version(version.project, version.version, inputs=inputs)
    return inputs


def _width(inputs: dict[str, Any]) -> int:
    return len(inputs["features"]) if inputs.get("features") else math.prod(inputs.get("shape") or [0])


def inputs_change(candidate: dict[str, Any], production: dict[str, Any]) -> str:
    """How the candidate's inputs differ from production's, or ``""`` when it takes the same."""
    if candidate.get("features") and production.get("features"):
        if list(candidate["features"]) == list(production["features"]):
            return ""
        if len(candidate["features"]) == len(production["features"]):
            gone = [f for f in production["features"] if f not in candidate["features"]][:3]
            return (f"candidate takes the columns {', '.join(map(str, candidate['features'][:5]))}..., production "
                    f"takes {', '.join(map(str, production['features'][:5]))}... ({', '.join(map(str, gone))} "
                    "gone)" if gone else "candidate takes production's columns in another order")
    elif list(candidate.get("shape") or []) == list(production.get("shape") or []):
        return ""
    if _width(candidate) == _width(production):
        return f"candidate takes inputs of shape {candidate.get('shape')}, production {production.get('shape')}"
    return f"candidate takes {_width(candidate)} inputs, production takes {_width(production)}"


def check_inputs(decision: Decision, store: RunStore, units: Units, candidate: ModelVersion,
                 production: ModelVersion, breaking: bool) -> None:
    """A candidate must take production's inputs (every client of production sends those); a change is refused
    unless the push declares it (``breaking: true``), which sends it to a person for approval."""
    mine, theirs = inputs_of(store, units, candidate), inputs_of(store, units, production)
    if mine is None or theirs is None:
        return
    change = inputs_change(mine, theirs)
    check = GateCheck(metric="inputs", check="inputs", passed=not change or breaking,
                      candidate=float(_width(mine)), baseline=float(_width(theirs)))
    decision.checks.append(check)
    if not change:
        return
    if breaking:
        decision.breaking = f"{change}: a breaking change, declared (breaking: true); it needs a person's approval"
        decision.reason += f"; {decision.breaking}"
        return
    check.failed = (f"{change}: a breaking change for every client of production v{production.version}; declare "
                    "it with 'breaking: true' in mlops.yaml (a person then approves it), or keep the inputs")
    decision.blessed = False
    decision.reason = check.failed
