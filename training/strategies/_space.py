"""The tweak space of a script: every applicable registered tweak with its choices (the first choice means
"unchanged"), and the ladder: configurations in the classic order, per kind of model (a scikit-learn
estimator's own step is its record's, ``training.estimators``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.estimators import ESTIMATORS
from training.tweaks import ScriptAnalysis, tweak_choices

#: The ladders of Keras models, in registered tweak names. Keys a script's space lacks are dropped from each rung.
LADDERS: dict[str, list[dict[str, Any]]] = {
    "ann": [{}, {"scale": True}, {"scale": True, "dense": 1, "units": 64},
            {"scale": True, "dense": 1, "units": 64, "epochs": 2},
            {"scale": True, "dense": 2, "units": 128, "epochs": 4},
            {"scale": True, "dense": 2, "units": 128, "epochs": 8}],
    "cnn": [{}, {"dense": 1, "units": 64, "filters": 32},
            {"dense": 1, "units": 64, "filters": 32, "epochs": 2},
            {"dense": 1, "units": 64, "filters": 32, "epochs": 2, "conv": 1},
            {"dense": 1, "units": 128, "filters": 64, "epochs": 4, "conv": 2},
            {"dense": 1, "units": 128, "filters": 64, "epochs": 8, "conv": 2}],
}


@dataclass
class TweakSpace:
    """Tweak name -> choices, and the ladder: configurations in the classic order."""

    choices: dict[str, list[Any]] = field(default_factory=dict)
    ladder: list[dict[str, Any]] = field(default_factory=list)


def _ladder(script: ScriptAnalysis) -> list[dict[str, Any]]:
    if script.kind != "ml":
        return LADDERS[script.kind]
    main = ESTIMATORS.get(script.estimators[0]) if script.estimators else None
    step = {f"param:{main.name}:{k}": v for k, v in main.ladder.items()} if main else {}
    return [{}, {"scale": True}, {"scale": True, **step}, {"family": "random_forest"},
            {"family": "gradient_boosting"}]


def build_space(script: ScriptAnalysis) -> TweakSpace:
    """The tweaks that apply to a script (from the registry), and its ladder (baseline first).

    Args:
        script: The analysis of the entry script (``training.analysis.analyze(source)``).
    """
    space = TweakSpace(choices=tweak_choices(script))
    for rung in _ladder(script):
        config = {k: v for k, v in rung.items() if k in space.choices}
        if config not in space.ladder:
            space.ladder.append(config)
    return space


def full_config(space: TweakSpace, partial: dict[str, Any]) -> dict[str, Any]:
    """Every tweak of the space with its value: the partial config's, else the "unchanged" choice."""
    return {name: partial.get(name, values[0]) for name, values in space.choices.items()}
