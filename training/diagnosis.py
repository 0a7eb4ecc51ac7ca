"""Findings from what a trial recorded, and the remedies the next trial applies.

After every trial the diagnosis reads its per-epoch curves (Keras ``fit`` history), its scikit-learn model's
score on the training rows against the test rows, the labels' balance and per-class recall, the features'
scales and non-finite values, and the model's size (the harness's facts, ``training.harness.facts``). Each
finding says what is wrong with the numbers that show it, how strongly, and which tweaks remedy it, best first:

    loss became nan at epoch 1 (learning rate 8, SGD)  ->  {"lr": 0.1}, {"lr": 0.01}, ...

``remedies`` turns the findings of the best trial so far into the next configurations to try; a remedy that
did not move its symptom (the finding came back and the metric did not improve) is not tried again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from core.records import Trial, TrialStatus
from training.harness.facts import minority

#: Training metric names in a Keras history that mean accuracy.
_ACCURACY = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")
#: Learning-rate factors, largest first, that a diverging loss steps down through.
LR_DOWN = (0.1, 0.01, 0.001)
#: Epoch factors that a still-improving model steps up through.
EPOCHS_UP = (2, 4, 8)
#: scikit-learn hyper-parameters that regularise an overfitting estimator, strongest last.
SKLEARN_REGULARISE: dict[str, list[dict[str, Any]]] = {
    "DecisionTreeClassifier": [{"max_depth": 5}, {"max_depth": 3}],
    "DecisionTreeRegressor": [{"max_depth": 5}, {"max_depth": 3}],
    "RandomForestClassifier": [{"max_depth": 10}, {"max_depth": 5}],
    "RandomForestRegressor": [{"max_depth": 10}, {"max_depth": 5}],
    "KNeighborsClassifier": [{"n_neighbors": 11}, {"n_neighbors": 15}],
    "KNeighborsRegressor": [{"n_neighbors": 11}, {"n_neighbors": 15}],
    "SVC": [{"C": 1.0}, {"C": 0.1}], "SVR": [{"C": 1.0}, {"C": 0.1}],
    "LogisticRegression": [{"C": 0.1}], "LinearSVC": [{"C": 0.1}],
    "MLPClassifier": [{"alpha": 0.01}], "Ridge": [{"alpha": 10.0}],
}
#: Linear scikit-learn models: a low score on their own training rows means a relation they cannot draw.
LINEAR = {"LogisticRegression", "LinearSVC", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDClassifier",
          "Perceptron", "RidgeClassifier"}
SATURATING = ("sigmoid", "tanh", "hard_sigmoid")


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a trial, the numbers that show it, and the tweaks that remedy it (best first)."""

    kind: str  # diverging | nonfinite_input | flat | underfitting | overfitting | imbalance | unscaled | few_rows
    strength: float  # 0..1: which finding the next trial treats first
    evidence: str
    remedies: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_doc(self) -> dict[str, Any]:
        """The finding as stored on the trial."""
        return {"kind": self.kind, "strength": round(self.strength, 3), "evidence": self.evidence,
                "remedies": [dict(r) for r in self.remedies]}


@dataclass(frozen=True)
class Goal:
    """What the run wants: the metric, its target and direction."""

    metric: str
    target: float
    maximize: bool = True

    def below(self, value: float | None) -> bool:
        """Whether a value misses the target."""
        return value is not None and (value < self.target if self.maximize else value > self.target)


def _finite(values: list[float]) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _train_accuracy(history: dict[str, list[float]]) -> list[float]:
    return next((history[k] for k in _ACCURACY if history.get(k)), [])


def _val_accuracy(history: dict[str, list[float]]) -> list[float]:
    return next((history["val_" + k] for k in _ACCURACY if history.get("val_" + k)), [])


def _hidden(facts: dict[str, Any]) -> list[dict[str, Any]]:
    dense = [layer for layer in facts.get("layers", []) if layer.get("kind") == "Dense"]
    return dense[:-1]


def _convolutional(facts: dict[str, Any]) -> bool:
    return any(str(layer.get("kind", "")).startswith("Conv") for layer in facts.get("layers", []))


def _optimizer_words(facts: dict[str, Any]) -> str:
    rate, name = facts.get("learning_rate"), facts.get("optimizer")
    if rate is None:
        return name or ""
    return f"learning rate {rate:g}" + (f", {name}" if name else "")


def diagnose(history: dict[str, list[float]], facts: dict[str, Any], value: float | None, config: dict[str, Any],
             goal: Goal) -> list[Finding]:
    """The findings of one trial, strongest first.

    Args:
        history: Per-epoch values of the trial's Keras fit (``loss``, ``val_loss``, ``accuracy``...).
        facts: What the harness saw of the data and the model (``training.harness.facts``).
        value: The trial's value of the run's metric.
        config: The trial's tweak configuration (where the next remedies start from).
        goal: The run's metric and target.
    """
    found: list[Finding] = []
    data = facts.get("data") or {}
    found += _nonfinite(history, data, facts, config)
    if not any(f.strength == 1.0 for f in found):
        flat = _flat(history, data, facts, config)
        found += flat
        if not flat:
            found += _fit_quality(history, facts, value, config, goal)
    found += _imbalance(data, facts, value, goal)
    found += _unscaled(data, facts)
    found += _few_rows(data, facts, found)
    return sorted(found, key=lambda f: -f.strength)


def _nonfinite(history: dict[str, list[float]], data: dict[str, Any], facts: dict[str, Any],
               config: dict[str, Any]) -> list[Finding]:
    loss = history.get("loss") or []
    if data.get("nonfinite"):  # a NaN in the rows makes the loss NaN whatever the learning rate
        return [Finding("nonfinite_input", 1.0 if loss and not _finite(loss) else 0.5,
                        f"the training data holds {data['nonfinite']} non-finite values (NaN or infinity): "
                        "clean or impute them in the script")]
    current = config.get("lr") or 1
    remedies = tuple({"lr": f} for f in LR_DOWN if f < current)
    bad = next((i for i, v in enumerate(loss) if not math.isfinite(v)), None)
    words = _optimizer_words(facts)
    if bad is not None:
        return [Finding("diverging", 1.0, f"loss became {loss[bad]} at epoch {bad + 1}"
                        + (f" ({words})" if words else ""), remedies)]
    if len(loss) >= 3 and _finite(loss):
        low = min(loss)
        if loss[-1] > 1.5 * low and loss[-1] > loss[0]:
            epoch = loss.index(low) + 1
            return [Finding("diverging", 0.9, f"loss rose from {low:.3g} at epoch {epoch} to {loss[-1]:.3g} at epoch "
                            f"{len(loss)}" + (f" ({words})" if words else ""), remedies)]
    return []


def _chance_loss(facts: dict[str, Any], data: dict[str, Any]) -> float | None:
    classes = len(data.get("classes") or {})
    dense = [layer for layer in facts.get("layers", []) if layer.get("kind") == "Dense"]
    units = dense[-1].get("units") if dense else None
    k = classes if classes > 1 else units if units and units > 1 else None
    if k == 2 and units == 1:
        return math.log(2)
    return math.log(k) if k else None


def _flat(history: dict[str, list[float]], data: dict[str, Any], facts: dict[str, Any],
          config: dict[str, Any]) -> list[Finding]:
    loss = history.get("loss") or []
    if len(loss) < 2 or not _finite(loss) or loss[0] <= 0:
        return []
    late = loss[len(loss) // 2 - (len(loss) < 4):]  # the second half of the epochs (both, of two to three)
    if late[0] <= 0 or (late[0] - late[-1]) / late[0] > 0.01:  # a loss down to 0 learned the rows by heart
        return []
    chance = _chance_loss(facts, data)
    accuracy = _train_accuracy(history)
    classes = data.get("classes") or {}
    majority = max(classes.values()) / sum(classes.values()) if classes else None
    at_chance = (chance is not None and abs(loss[-1] - chance) <= 0.1 * chance) or \
        (majority is not None and accuracy and accuracy[-1] <= majority + 0.05)
    if not at_chance:
        return []
    hidden = _hidden(facts)
    saturating = [h for h in hidden if h.get("activation") in SATURATING]
    optimizer = str(facts.get("optimizer") or "").lower()
    causes = []
    if len(saturating) >= 3:
        causes.append(f"{len(saturating)} {'/'.join(sorted({h['activation'] for h in saturating}))} hidden layers")
    if facts.get("optimizer"):
        causes.append(_optimizer_words(facts))
    evidence = (f"loss stayed at {loss[-1]:.3g} over the last {len(late)} of {len(loss)} epochs (from {loss[0]:.3g}"
                + (f"; chance level {chance:.3g}" if chance else "") + ")"
                + (f", training accuracy {accuracy[-1]:.3f}" if accuracy else "")
                + (f": {', '.join(causes)}" if causes else ""))
    rate = facts.get("learning_rate")
    too_fast = rate is not None and rate >= (1.0 if optimizer == "sgd" else 0.1)
    if too_fast:  # one huge step killed the units: the loss jumped, then stayed
        current = config.get("lr") or 1
        remedies: tuple[dict[str, Any], ...] = (*({"lr": f} for f in LR_DOWN if f < current), {"optimizer": "adam"})
    elif len(saturating) >= 3:
        remedies = ({"activation": "relu", "optimizer": "adam"}, {"activation": "relu"}, {"optimizer": "adam"})
    elif optimizer == "sgd":
        remedies = ({"optimizer": "adam", "epochs": 2}, {"optimizer": "adam"}, {"lr": 10.0})
    else:
        remedies = ({"lr": 10.0},) if not config.get("lr") else ()
    return [Finding("flat", 0.95, evidence, remedies)]


def _slow_steps(facts: dict[str, Any], config: dict[str, Any]) -> str:
    """Why the optimizer's steps are small (plain SGD at 0.001 or less, any optimizer at 0.0001 or less), as
    evidence; empty when they are not, or when a trial already raised the rate."""
    rate = facts.get("learning_rate")
    if rate is None or config.get("lr"):
        return ""
    sgd = str(facts.get("optimizer") or "").lower() == "sgd"
    return f"; small steps ({_optimizer_words(facts)})" if rate <= (1e-3 if sgd else 1e-4) * 1.001 else ""  # float32


def _fit_quality(history: dict[str, list[float]], facts: dict[str, Any], value: float | None,
                 config: dict[str, Any], goal: Goal) -> list[Finding]:
    if facts.get("framework") == "sklearn":
        return _sklearn_fit(facts, config, goal)
    found: list[Finding] = []
    train = _train_accuracy(history)
    val = _val_accuracy(history)
    held_out = val[-1] if val else value if goal.metric == "accuracy" else None
    val_loss = history.get("val_loss") or []
    rising, rising_far = "", False  # the validation loss climbing back after its best epoch (far: by 30%)
    if len(val_loss) >= 3 and _finite(val_loss):
        low = min(val_loss)
        best = val_loss.index(low) + 1
        if best < len(val_loss) - 1 and val_loss[-1] > low * 1.05:
            rising = f"validation loss lowest at epoch {best} ({low:.3g}), {val_loss[-1]:.3g} at epoch {len(val_loss)}"
        rising_far = best <= 0.7 * len(val_loss) and val_loss[-1] >= 1.3 * low
    gap = max(train) - held_out if train and held_out is not None else 0.0
    # a model under the target on its own training rows underfits first, whatever its validation rows say
    fits_train = not train or goal.metric != "accuracy" or not goal.below(max(train))
    if (gap > 0.1 and fits_train) or rising_far:
        evidence = f"training accuracy {max(train):.3f}, {'validation' if val else 'test'} {held_out:.3f}" \
            if train and held_out is not None else ""
        evidence = "; ".join(e for e in (evidence, rising) if e)
        if _convolutional(facts):
            remedies: tuple[dict[str, Any], ...] = ({"augment": True, "early_stop": True}, {"augment": True},
                                                    {"dropout": 0.2, "early_stop": True})
        else:
            remedies = ({"early_stop": True, "dropout": 0.2}, {"dropout": 0.5, "l2": 0.001, "early_stop": True},
                        {"dropout": 0.5}, {"l2": 0.01})
        found.append(Finding("overfitting", min(0.9, 0.5 + max(gap, 0.3 if rising_far else 0.0)), evidence, remedies))
        return found
    loss = history.get("loss") or []
    if len(loss) >= 2 and goal.below(value) and _finite(loss):
        rising = train[-1] - train[-2] if len(train) >= 2 else 0.0
        falling = (loss[-2] - loss[-1]) / loss[-2] if loss[-2] else 0.0
        learning = not train or goal.metric != "accuracy" or goal.below(train[-1])  # not a near-zero training loss
        if learning and (rising > 0.002 or falling > 0.01):
            current = config.get("epochs") or 1
            more: tuple[dict[str, Any], ...] = tuple({"epochs": e} for e in EPOCHS_UP if e > current)
            what = f"training accuracy {train[-1]:.3f}, +{rising:.3f}" if rising > 0.002 and train else \
                f"loss {loss[-1]:.3g}, -{falling:.1%}"
            slow = _slow_steps(facts, config)
            if slow:  # small steps: a larger one gets there in the same epochs, more epochs only later
                more = ({"lr": 10.0}, *({"lr": 10.0, **step} for step in more[:1]), *more)
            found.append(Finding("underfitting", 0.6, f"still improving at the last epoch ({len(loss)}): {what} "
                                 f"in its last epoch{slow}", more))
        elif train and goal.below(train[-1]) and goal.metric == "accuracy":
            found.append(Finding("underfitting", 0.3, f"training accuracy {train[-1]:.3f} is under the target "
                                 f"{goal.target} and no longer improving: the model needs more capacity"))
    return found


def _sklearn_fit(facts: dict[str, Any], config: dict[str, Any], goal: Goal) -> list[Finding]:
    train, test = facts.get("train_score"), facts.get("test_score")
    if train is None or test is None:
        return []
    estimator = facts.get("estimator", "")
    if train - test > 0.1:
        remedies = tuple({f"param:{estimator}:{k}": v for k, v in step.items()}
                         for step in SKLEARN_REGULARISE.get(estimator, []))
        return [Finding("overfitting", min(0.9, 0.5 + train - test), f"{estimator} scores {train:.3f} on its "
                        f"training rows and {test:.3f} on the test rows", remedies)]
    if goal.maximize and train < goal.target and train - test < 0.05:
        features = (facts.get("data") or {}).get("features") or 0
        linear = estimator in LINEAR
        remedies: tuple[dict[str, Any], ...] = ({"crosses": True},) if linear and 0 < features <= 20 else ()
        remedies += ({"family": "gradient_boosting"}, {"family": "random_forest"})
        what = "a linear model cannot draw this boundary" if linear else "the model is too simple for the data"
        return [Finding("underfitting", 0.6, f"{estimator} scores only {train:.3f} on its own training rows "
                        f"({test:.3f} on the test rows): {what}", remedies)]
    return []


def _imbalance(data: dict[str, Any], facts: dict[str, Any], value: float | None, goal: Goal) -> list[Finding]:
    classes = data.get("classes") or {}
    rare = minority(classes)
    if rare is None:
        return []
    total = sum(classes.values())
    share = classes[rare] / total
    recall = (facts.get("test_recall") or facts.get("train_recall") or {}).get(rare)
    where = "test rows" if facts.get("test_recall") else "training rows"
    if recall is None or recall >= 0.6:
        return []
    accuracy = f"; accuracy {value:.3f} hides it" if goal.metric == "accuracy" and value is not None else \
        f"; {goal.metric} {value:.3f}" if value is not None else ""
    evidence = (f"class {rare} is {share:.1%} of the training rows ({classes[rare]} of {total}) and only "
                f"{recall:.0%} of it is recognised on the {where}{accuracy}")
    if facts.get("framework") == "keras":
        remedies: tuple[dict[str, Any], ...] = ({"class_weight": True},)
    else:
        remedies = ({"class_weight": True}, {"threshold": True}, {"class_weight": True, "threshold": True},
                    {"family": "random_forest", "class_weight": True})
    return [Finding("imbalance", 0.85 if recall < 0.3 else 0.75, evidence, remedies)]


def _scale_matters(facts: dict[str, Any]) -> float:
    """How much feature scales matter to the model: little to trees, most to distances, kernels and linear
    models (it outranks their overfitting: an unscaled SVC looks overfit), much to a neural net."""
    estimator = str(facts.get("estimator", ""))
    if facts.get("framework") == "keras":
        return 0.75
    if any(word in estimator for word in ("Tree", "Forest", "Boosting", "NB")):
        return 0.2
    return 0.95


def _unscaled(data: dict[str, Any], facts: dict[str, Any]) -> list[Finding]:
    low, high, magnitude = data.get("std_min"), data.get("std_max"), data.get("abs_mean_max")
    middle = data.get("std_median")
    if low is None or high is None or not middle:
        return []
    strength = _scale_matters(facts)
    ratio = high / middle  # against the median column: a few near-constant columns (image borders) do not count
    if ratio > 10:
        return [Finding("unscaled", strength, f"features on very different scales: standard deviations from {low:.3g} "
                        f"to {high:.3g}, {ratio:,.0f}x the median column's ({middle:.3g})", ({"scale": True},))]
    if magnitude is not None and magnitude > 100:
        return [Finding("unscaled", strength - 0.05, f"features far from zero: mean magnitude up to {magnitude:,.0f}",
                        ({"scale": True},))]
    return []


def _few_rows(data: dict[str, Any], facts: dict[str, Any], found: list[Finding]) -> list[Finding]:
    rows, params = data.get("rows"), facts.get("params")
    if not rows or not params or params <= 10 * rows:
        return []
    if _convolutional(facts):
        remedies: tuple[dict[str, Any], ...] = ({"augment": True, "early_stop": True}, {"augment": True})
    else:
        remedies = ({"dropout": 0.2, "early_stop": True}, {"l2": 0.001, "early_stop": True})
    return [Finding("few_rows", 0.45, f"only {rows} training rows for {params:,} weights", remedies)]


# --- what the loop does with the findings ----------------------------------------------------------------------

def diagnose_trial(trial: Trial, goal: Goal) -> list[Finding]:
    """The findings of a trial that ran to its end (none for a failed or pruned one)."""
    if trial.status is not TrialStatus.OK:
        return []
    return diagnose(trial.history, trial.facts, trial.value, trial.config, goal)


def _key(remedy: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in remedy.items()))


def _better(a: float | None, b: float | None, maximize: bool) -> bool:
    if a is None or b is None:
        return False
    return a > b if maximize else a < b


def ineffective(history: list[Trial], maximize: bool = True) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """``(finding kind, remedy)`` pairs that did not move their symptom: the trial that applied the remedy did
    not improve on the trial it treated and still shows the finding, or it failed."""
    by_number = {t.number: t for t in history}
    out = set()
    for t in history:
        because = t.because or {}
        if not because or not t.status.finished:
            continue
        treated = by_number.get(because.get("trial", -1))
        kinds = {f.get("kind") for f in t.findings}
        moved = t.status is TrialStatus.OK and (because.get("kind") not in kinds or (
            treated is not None and _better(t.value, treated.value, maximize)))
        if not moved:
            out.add((because.get("kind", ""), _key(because.get("remedy") or {})))
    return out


def remedies(history: list[Trial], choices: dict[str, list[Any]], maximize: bool = True
             ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """The configurations the diagnosis suggests next, best first, each with why: ``(config, because)``.

    They treat the findings of the best trial so far (ties: the latest), strongest finding first, each remedy
    on top of that trial's configuration. Tweaks the script's space lacks are left out of a remedy (a remedy
    with none left is skipped); remedies that did not move their symptom before are skipped.
    """
    scored = [t for t in history if t.status is TrialStatus.OK and t.value is not None]
    if not scored:
        return
    sign = 1 if maximize else -1
    best = max(scored, key=lambda t: (sign * t.value, t.number))  # type: ignore[operator]
    tried = ineffective(history, maximize)
    for finding in best.findings:
        for remedy in finding.get("remedies", []):
            usable = {k: v for k, v in remedy.items() if v in choices.get(k, [])}
            if not usable or (finding.get("kind", ""), _key(usable)) in tried:
                continue
            config = {**{k: v[0] for k, v in choices.items()}, **best.config, **usable}
            yield config, {"trial": best.number, "kind": finding.get("kind", ""),
                           "evidence": finding.get("evidence", ""), "remedy": usable}
