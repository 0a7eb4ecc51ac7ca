"""The tweak space of a script: every tweak with its choices (the first choice means "unchanged")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.tweaks import ScriptInfo

#: Hyper-parameters worth trying per scikit-learn estimator class (``None`` = as written).
ESTIMATOR_PARAMS: dict[str, dict[str, list[Any]]] = {
    "KNeighborsClassifier": {"n_neighbors": [None, 3, 7, 11, 15], "weights": [None, "distance"]},
    "KNeighborsRegressor": {"n_neighbors": [None, 3, 7, 11, 15], "weights": [None, "distance"]},
    "SVC": {"C": [None, 0.1, 1.0, 10.0, 100.0]},
    "SVR": {"C": [None, 0.1, 1.0, 10.0, 100.0]},
    "LinearSVC": {"C": [None, 0.1, 1.0, 10.0], "max_iter": [None, 5000]},
    "LogisticRegression": {"C": [None, 0.1, 1.0, 10.0], "max_iter": [None, 2000]},
    "RandomForestClassifier": {"n_estimators": [None, 100, 300], "max_depth": [None, 5, 10]},
    "RandomForestRegressor": {"n_estimators": [None, 100, 300], "max_depth": [None, 5, 10]},
    "DecisionTreeClassifier": {"max_depth": [None, 3, 5, 10]},
    "DecisionTreeRegressor": {"max_depth": [None, 3, 5, 10]},
    "GradientBoostingClassifier": {"n_estimators": [None, 200], "learning_rate": [None, 0.05, 0.2]},
    "GradientBoostingRegressor": {"n_estimators": [None, 200], "learning_rate": [None, 0.05, 0.2]},
    "MLPClassifier": {"max_iter": [None, 1000], "alpha": [None, 0.001, 0.01]},
    "Ridge": {"alpha": [None, 0.1, 1.0, 10.0]},
    "Lasso": {"alpha": [None, 0.01, 0.1, 1.0]},
}

#: The ladder's first hyper-parameter step per estimator: the classic "more regularised / more capacity" move.
LADDER_PARAMS: dict[str, dict[str, Any]] = {
    "KNeighborsClassifier": {"n_neighbors": 7, "weights": "distance"},
    "KNeighborsRegressor": {"n_neighbors": 7, "weights": "distance"},
    "SVC": {"C": 10.0}, "SVR": {"C": 10.0}, "LinearSVC": {"max_iter": 5000},
    "LogisticRegression": {"max_iter": 2000, "C": 10.0},
    "RandomForestClassifier": {"n_estimators": 300}, "RandomForestRegressor": {"n_estimators": 300},
    "DecisionTreeClassifier": {"max_depth": 5}, "DecisionTreeRegressor": {"max_depth": 5},
    "MLPClassifier": {"max_iter": 1000},
}


@dataclass
class TweakSpace:
    """Tweak name -> choices, and the ladder: configurations in the classic order."""

    choices: dict[str, list[Any]] = field(default_factory=dict)
    ladder: list[dict[str, Any]] = field(default_factory=list)


def build_space(info: ScriptInfo) -> TweakSpace:
    """The tweaks that make sense for a script, and its ladder (baseline first)."""
    space = TweakSpace()
    c = space.choices
    if info.framework == "sklearn":
        if not info.scaled:
            c["scale"] = [False, True]
        main = info.estimators[0] if info.estimators else None
        for param, values in ESTIMATOR_PARAMS.get(main or "", {}).items():
            c[f"param:{main}:{param}"] = values
        c["family"] = [None, "random_forest", "gradient_boosting"]
        step = {f"param:{main}:{k}": v for k, v in LADDER_PARAMS.get(main or "", {}).items()}
        scale = {"scale": True} if "scale" in c else {}
        space.ladder = [{}, scale, {**scale, **step}, {"family": "random_forest"},
                        {"family": "gradient_boosting"}]
    elif info.kind == "ann":
        if not info.scaled and info.splits:
            c["scale"] = [False, True]
        c.update(dense=[0, 1, 2], units=[None, 32, 64, 128], epochs=[1, 2, 4, 8])
        scale = {"scale": True} if "scale" in c else {}
        space.ladder = [{}, scale, {**scale, "dense": 1, "units": 64}, {**scale, "dense": 1, "units": 64, "epochs": 2},
                        {**scale, "dense": 2, "units": 128, "epochs": 4},
                        {**scale, "dense": 2, "units": 128, "epochs": 8}]
    else:  # cnn
        c.update(filters=[None, 16, 32, 64], conv=[0, 1, 2], kernel=[3, 5], stride=[1, 2], dense=[0, 1],
                 units=[None, 64, 128], epochs=[1, 2, 4, 8])
        space.ladder = [{}, {"dense": 1, "units": 64, "filters": 32},
                        {"dense": 1, "units": 64, "filters": 32, "epochs": 2},
                        {"dense": 1, "units": 64, "filters": 32, "epochs": 2, "conv": 1},
                        {"dense": 1, "units": 128, "filters": 64, "epochs": 4, "conv": 2},
                        {"dense": 1, "units": 128, "filters": 64, "epochs": 8, "conv": 2}]
    deduped: list[dict[str, Any]] = []
    for cfg in space.ladder:
        if cfg not in deduped:
            deduped.append(cfg)
    space.ladder = deduped
    return space


def full_config(space: TweakSpace, partial: dict[str, Any]) -> dict[str, Any]:
    """Every tweak of the space with its value: the partial config's, else the "unchanged" choice."""
    return {name: partial.get(name, values[0]) for name, values in space.choices.items()}
