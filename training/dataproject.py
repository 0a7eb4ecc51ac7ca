"""Data projects: a project with ``data:`` and no script is trained by a script mlops writes.

``write_data_project`` puts a generated project in the run folder: ``train.py`` (readable, written the way a
person would write it) and the snapshot's rows as CSV files under ``data/``: the training and validation splits
with their label, the test split's features only. The script fits the feature transform and the model as one
scikit-learn ``Pipeline`` (or the transform and a Keras network, the transform saved beside the model), scores
the validation split (what the tuning loop selects on) and writes its predictions for the test rows to
``predictions.json``. The test labels never reach a trial: mlops scores the winner's test predictions once,
after tuning. The tweaks vary the script as they vary a pushed one (estimator family, hyper-parameters, layers,
units, epochs).
"""

from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.data import Snapshot, TransformOptions, make_transform
from core.data._columns import class_names, text_values
from core.evaluation import positive_class
from training.detect import IMAGES, Detection, Evidence, _python_files

ENTRY = "train.py"
DATA_DIR = "data"
#: The file the generated script writes: the model's predictions (and class probabilities) for the test rows.
PREDICTIONS = "predictions.json"
#: The file the Keras script saves its fitted feature transform to (registered with the model).
TRANSFORM = "transform.joblib"
#: Below this share, the rarest class makes the baseline model weigh classes by their rarity.
IMBALANCED = 0.2


@dataclass
class DataProject:
    """The generated project: its folder (what trials mount as the project), script and detection."""

    folder: Path
    source: str
    detection: Detection
    positive: str | None
    classes: list[str]
    columns: list[str]

    @property
    def entry(self) -> str:
        """The generated script's name."""
        return ENTRY


def held_out_labels(snapshot: Snapshot) -> list:
    """The test split's labels as the generated script predicts them: class names as text, or numbers."""
    label = snapshot.test[snapshot.summary.label]
    if snapshot.summary.task == "classification":
        return class_names(label).tolist()
    return label.astype("float64").tolist()


#: Top-level packages whose import makes a Python file a training script.
TRAINING_PACKAGES = frozenset({"sklearn", "keras", "tensorflow", "tf_keras", "torch", "xgboost", "lightgbm", "jax",
                               "catboost"})


def is_data_project(project: Path, has_data: bool, entry: str | None) -> bool:
    """A project folder with ``data:`` in mlops.yaml, no ``entry:`` and no training script: no notebook, and no
    Python file that imports a training framework (a script that only makes the data, e.g. ``make_data.py`` with
    numpy and pandas, leaves it a data project)."""
    return has_data and entry is None and project.is_dir() and not any(map(_trains, _python_files(project)))


def _trains(path: Path) -> bool:
    """Whether a file may train: a notebook, a file that does not parse, or one importing ``TRAINING_PACKAGES``."""
    if path.suffix != ".py":
        return True
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return True
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    return any(name.split(".")[0] in TRAINING_PACKAGES for name in imported)


def data_detection(framework: str | None, task: str | None, snapshot: str = "") -> Detection:
    """What ``mlops detect`` says about a data project: the model mlops writes, and its image."""
    framework = framework or "sklearn"
    kind = "ann" if framework == "keras" else "ml"
    model = "a Keras dense network" if framework == "keras" else "a scikit-learn Pipeline"
    on = f" on snapshot {snapshot}" if snapshot else ""
    return Detection(framework=framework, kind=kind, image=IMAGES[kind], entry=ENTRY,
                     keras_api=3 if framework == "keras" else None, task=task,
                     evidence=[Evidence("mlops.yaml", 0, f"data: and no script: mlops writes {ENTRY} ({model}{on})")])


def _names(names: Sequence[str], indent: int = 4, width: int = 116) -> str:
    """A list literal of names, wrapped: ``[]`` or ``[\\n    "a", "b",\\n]``."""
    if not names:
        return "[]"
    lines, line = [], " " * indent
    for name in names:
        item = f"{_q(name)}, "
        if len(line) + len(item) > width and line.strip():
            lines.append(line.rstrip())
            line = " " * indent
        line += item
    lines.append(line.rstrip())
    return "[\n" + "\n".join(lines) + "\n]"


def _parts(train: pd.DataFrame, label: str, options: TransformOptions) -> dict[str, list[str]]:
    """The transform's column lists as ``make_transform`` decides them from the training split."""
    transform = make_transform(train, label, options)
    parts = {"numbers": [], "categories": [], "dropped": []}
    for name, _, columns in transform.transformers:
        parts[name] = [str(c) for c in columns]
    return parts


def _as_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        out[column] = text_values(out[column])
    return out


def write_data_project(snapshot: Snapshot, folder: Path, *, name: str, framework: str = "sklearn",
                       positive: str | None = None, cost: tuple[float, float] = (10.0, 500.0),
                       max_missing_ratio: float = 0.7, seed: int = 42) -> DataProject:
    """Write the generated project of a data project: ``train.py`` and the snapshot's splits as CSV.

    Args:
        snapshot: The run's snapshot.
        folder: Where to write it (a folder of the run).
        name: The project's name (named in the script's docstring).
        framework: ``sklearn`` (one Pipeline) or ``keras`` (a dense network after the transform).
        positive: ``positive:`` from mlops.yaml (default: the rarest class of a binary label).
        cost: ``(fp, fn)`` of the cost metric.
        max_missing_ratio: Features missing more often than this in the training split are dropped.
        seed: The model's random seed.

    Raises:
        DataError: The configured positive class is not a class of the label.
    """
    summary = snapshot.summary
    label = summary.label
    classification = summary.task == "classification"
    classes = sorted(summary.classes) if classification else []
    positive = positive_class(summary.classes, positive) if classification else None
    parts = _parts(snapshot.train, label, TransformOptions(max_missing_ratio=max_missing_ratio))
    data = folder / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    text_columns = parts["categories"]
    for split in ("train", "validation"):
        frame = _as_text(snapshot.split(split), text_columns)
        if classification:
            frame[label] = class_names(frame[label])
        frame.to_csv(data / f"{split}.csv", index=False)
    _as_text(snapshot.test.drop(columns=[label]), text_columns).to_csv(data / "test_features.csv", index=False)

    rarest = min(summary.classes.values()) / max(summary.rows, 1) if classification else 1.0
    spec = _Spec(name=name, snapshot=summary.id, label=label, classification=classification, classes=classes,
                 positive=positive, cost=cost, parts=parts, max_missing_ratio=max_missing_ratio, seed=seed,
                 balanced=classification and rarest < IMBALANCED)
    source = _keras_script(spec) if framework == "keras" else _sklearn_script(spec)
    (folder / ENTRY).write_text(source, encoding="utf-8")
    detection = data_detection(framework, summary.task, summary.id)
    return DataProject(folder=folder, source=source, detection=detection, positive=positive, classes=classes,
                       columns=[c for c in summary.columns if c != label])


@dataclass
class _Spec:
    name: str
    snapshot: str
    label: str
    classification: bool
    classes: list[str]
    positive: str | None
    cost: tuple[float, float]
    parts: dict[str, list[str]]
    max_missing_ratio: float
    seed: int
    balanced: bool


def _docstring(spec: _Spec, model: str) -> str:
    body = (f"Predicts {_q(spec.label)} with {model}. The feature transform (columns missing in more than "
            f"{spec.max_missing_ratio:.0%} of the training rows dropped, the others imputed and standardised, "
            "categories one-hot encoded) is fitted on the training split only. The validation split scores the "
            "model: the tuning loop selects on it. The test split's labels are not here: mlops scores the "
            f"predictions written to {PREDICTIONS} once, after tuning.")
    return (f'"""Training script written by mlops for the data project {_q(spec.name)} (snapshot {spec.snapshot}).'
            "\n\n" + textwrap.fill(body, width=116) + '\n"""\n')


def _q(text: str) -> str:
    """A string literal in double quotes."""
    return json.dumps(text, ensure_ascii=False)


def _header(spec: _Spec) -> str:
    lines = [f"LABEL = {_q(spec.label)}"]
    if spec.positive is not None:
        negative = next(c for c in spec.classes if c != spec.positive)
        lines += [f"POSITIVE, NEGATIVE = {_q(spec.positive)}, {_q(negative)}",
                  f"COST = {{\"fp\": {spec.cost[0]:g}, \"fn\": {spec.cost[1]:g}}}  # a false alarm, a missed "
                  "positive"]
    lines += [f"NUMBERS = {_names(spec.parts['numbers'])}",
              f"CATEGORIES = {_names(spec.parts['categories'])}",
              f"# missing in more than {spec.max_missing_ratio:.0%} of the training rows, or never set",
              f"DROPPED = {_names(spec.parts['dropped'])}",
              "# read as text: the categories" + (" and the classes" if spec.classification else ""),
              f"TEXT = {{column: str for column in {'CATEGORIES + [LABEL]' if spec.classification else 'CATEGORIES'}}}",
              "",
              "",
              "def read(name):",
              '    return pd.read_csv(f"data/{name}.csv", dtype=TEXT, keep_default_na=False, na_values=[""])',
              "",
              "",
              'train, validation = read("train"), read("validation")',
              "X_train, y_train = train.drop(columns=[LABEL]), train[LABEL]",
              "X_val, y_val = validation.drop(columns=[LABEL]), validation[LABEL]",
              "",
              "transform = ColumnTransformer([",
              '    ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),'
              " NUMBERS),",
              '    ("categories", Pipeline([("impute", SimpleImputer(strategy="most_frequent", missing_values=pd.NA)),',
              '                             ("one_hot", OneHotEncoder(handle_unknown="infrequent_if_exist", '
              "max_categories=20,",
              "                                                       sparse_output=False))]), CATEGORIES),",
              "])"]
    return "\n".join(lines) + "\n"


def _scores(spec: _Spec, predicted: str, probabilities: str) -> str:
    """Lines that print the validation metrics (the harness reads them from the scikit-learn calls)."""
    if not spec.classification:
        return (f"print(\"r2\", r2_score(y_val, {predicted}))\n"
                f"print(\"rmse\", root_mean_squared_error(y_val, {predicted}))\n"
                f"print(\"mae\", mean_absolute_error(y_val, {predicted}))\n"
                f"print(\"mse\", mean_squared_error(y_val, {predicted}))\n")
    lines = [f'print("accuracy", accuracy_score(y_val, {predicted}))']
    if spec.positive is not None:
        binary = f"y_val, {predicted}, pos_label=POSITIVE, zero_division=0"
        lines += [f'print("precision", precision_score({binary}))',
                  f'print("recall", recall_score({binary}))',
                  f'print("f1", f1_score({binary}))',
                  f'print("roc_auc", roc_auc_score(y_val == POSITIVE, {probabilities}[:, classes.index(POSITIVE)]))',
                  f"tn, fp, fn, tp = confusion_matrix(y_val, {predicted}, labels=[NEGATIVE, POSITIVE]).ravel()",
                  'print("cost", COST["fp"] * fp + COST["fn"] * fn)']
    else:
        multi = f"y_val, {predicted}, average=\"macro\", zero_division=0"
        lines += [f'print("precision", precision_score({multi}))',
                  f'print("recall", recall_score({multi}))',
                  f'print("f1", f1_score({multi}))']
    return "\n".join(lines) + "\n"


_CLASSIFICATION_METRICS = ("from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, "
                           "recall_score, roc_auc_score\n")
_REGRESSION_METRICS = ("from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score, "
                       "root_mean_squared_error\n")


def _sklearn_script(spec: _Spec) -> str:
    if spec.classification:
        weight = ', class_weight="balanced"' if spec.balanced else ""
        estimator = ("from sklearn.linear_model import LogisticRegression\n",
                     f"LogisticRegression(max_iter=1000{weight}, random_state={spec.seed})")
    else:
        estimator = ("from sklearn.linear_model import Ridge\n", "Ridge()")
    predictions = ('    json.dump({"classes": classes, "predictions": [str(p) for p in model.predict(test)],\n'
                   '               "probabilities": model.predict_proba(test).round(6).tolist()}, f)\n'
                   if spec.classification else
                   '    json.dump({"predictions": model.predict(test).tolist()}, f)\n')
    return (
        _docstring(spec, "a scikit-learn Pipeline: the feature transform, then the model")
        + "import json\n\nimport pandas as pd\nfrom sklearn.compose import ColumnTransformer\n"
        + "from sklearn.impute import SimpleImputer\n" + estimator[0]
        + (_CLASSIFICATION_METRICS if spec.classification else _REGRESSION_METRICS)
        + "from sklearn.pipeline import Pipeline\nfrom sklearn.preprocessing import OneHotEncoder, StandardScaler\n\n"
        + _header(spec)
        + f"estimator = {estimator[1]}\n"
        + 'model = Pipeline([("transform", transform), ("model", estimator)])\n'
        + "model.fit(X_train, y_train)\n\n"
        + "# Scored on the validation split: what the tuning loop selects on.\n"
        + ("classes = [str(c) for c in model.classes_]\n" if spec.classification else "")
        + "predicted = model.predict(X_val)\n"
        + ("probabilities = model.predict_proba(X_val)\n" if spec.classification else "")
        + _scores(spec, "predicted", "probabilities")
        + "\n# The test rows are only predicted: mlops holds their labels.\n"
        + 'test = read("test_features")\n'
        + f'with open("{PREDICTIONS}", "w") as f:\n' + predictions
    )


def _keras_script(spec: _Spec) -> str:
    if spec.classification:
        out = ('    keras.layers.Dense(len(classes), activation="softmax"),\n',
               '"sparse_categorical_crossentropy"', 'metrics=["accuracy"]')
        target = ("classes = sorted(y_train.unique())\n"
                  "index = {c: i for i, c in enumerate(classes)}\n"
                  "y_train_index, y_val_index = y_train.map(index).to_numpy(), y_val.map(index).to_numpy()\n")
        weights = ("counts = y_train.value_counts()\n"
                   "class_weight = {index[c]: len(y_train) / (len(classes) * n) for c, n in counts.items()}\n"
                   if spec.balanced else "class_weight = None\n")
        fit_y, val_y = "y_train_index", "y_val_index"
        predict = ("probabilities = model.predict(features_val, verbose=0)\n"
                   "predicted = [classes[i] for i in probabilities.argmax(axis=1)]\n")
        dump = ('    probabilities = model.predict(transform.transform(test), verbose=0)\n'
                '    predictions = [classes[i] for i in probabilities.argmax(axis=1)]\n'
                '    json.dump({"classes": classes, "predictions": predictions,\n'
                '               "probabilities": probabilities.astype("float64").round(6).tolist()}, f)\n')
    else:
        out = ('    keras.layers.Dense(1),\n', '"mse"', 'metrics=["mae"]')
        target, weights = "", "class_weight = None\n"
        fit_y, val_y = "y_train.to_numpy(dtype=\"float32\")", "y_val.to_numpy(dtype=\"float32\")"
        predict = "predicted = model.predict(features_val, verbose=0).ravel()\n"
        dump = ('    json.dump({"predictions": model.predict(transform.transform(test), verbose=0).ravel()'
                '.astype("float64").tolist()}, f)\n')
    return (
        _docstring(spec, "a Keras dense network on the transformed features (the transform is saved to "
                         f"{TRANSFORM})")
        + "import json\n\nimport joblib\nimport keras\nimport pandas as pd\n"
        + "from sklearn.compose import ColumnTransformer\nfrom sklearn.impute import SimpleImputer\n"
        + (_CLASSIFICATION_METRICS if spec.classification else _REGRESSION_METRICS)
        + "from sklearn.pipeline import Pipeline\nfrom sklearn.preprocessing import OneHotEncoder, StandardScaler\n\n"
        + _header(spec)
        + "features_train = transform.fit_transform(X_train).astype(\"float32\")\n"
        + "features_val = transform.transform(X_val).astype(\"float32\")\n"
        + f'joblib.dump(transform, "{TRANSFORM}")\n'
        + target + weights + "\n"
        + "model = keras.Sequential([\n"
        + "    keras.Input(shape=(features_train.shape[1],)),\n"
        + '    keras.layers.Dense(32, activation="relu"),\n'
        + out[0] + "])\n"
        + f'model.compile(optimizer="adam", loss={out[1]}, {out[2]})\n'
        + f"model.fit(features_train, {fit_y}, epochs=20, batch_size=32, validation_data=(features_val, {val_y}),\n"
        + "          class_weight=class_weight, verbose=2)\n\n"
        + "# Scored on the validation split: what the tuning loop selects on.\n"
        + predict
        + _scores(spec, "predicted", "probabilities")
        + "\n# The test rows are only predicted: mlops holds their labels.\n"
        + 'test = read("test_features")\n'
        + f'with open("{PREDICTIONS}", "w") as f:\n' + dump
    )
