"""One reading of a training script with libcst, shared by framework detection and the tweaks.

A source is parsed once per content (a small cache). Names are resolved through the script's imports, so
``tf.keras.layers.Dense``, ``from keras.layers import Dense as D`` and ``from keras.layers import *`` followed by
``Dense(...)`` all count as ``keras.layers.Dense``, while a local variable called ``Conv2D``, a string or a
comment never does. ``tensorflow.keras``, ``tensorflow.python.keras`` and ``tf_keras`` are read as ``keras``.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import (
    MetadataWrapper,
    PositionProvider,
    QualifiedNameProvider,
    QualifiedNameSource,
)

from training.estimators import estimator_task, is_estimator
from training.harness import keras_markers as markers

__all__ = ["Finding", "ScriptAnalysis", "TaskSignal", "Use", "analyze", "arg", "decide_task", "estimator_task",
           "int_value", "is_estimator", "layer_kind", "normalize"]

_KERAS_PREFIXES = ("tensorflow.python.keras", "tensorflow.keras", "tf_keras")
_CONV = re.compile(r"^(Conv|Convolution|SeparableConv|SeparableConvolution|DepthwiseConv)\dD(Transpose)?$")
_POOL = re.compile(r"^(Max|Average)Pool(ing)?\dD$")
_FLATTEN = {"Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
            "GlobalMaxPooling1D"}
_TRAIN_CALLS = {"fit", "fit_generator", "train_on_batch", "fit_transform", "partial_fit"}
_KERAS_FITS = {"fit": 3, "fit_generator": 2}  # method -> position of its epochs argument
SCALERS = {"StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler", "Normalizer", "normalize", "scale"}

# --- Keras 2 (and 1) API that Keras 3 removed: ``training.harness.keras_markers``, which the harness reads too ---
#: TensorFlow 1 names that Keras 2 scripts call around their model (shimmed on the Keras 2 path, see
#: ``training.harness.tf1_compat``); graph-mode training (placeholders, ``sess.run``) counts too: it is refused there.
_TF1_NAMES = tuple(sorted({f"tensorflow.{n}" for n in markers.TF1_NAMES}
                          | {f"keras.backend.{n}" for n in markers.BACKEND_SESSION} | markers.TF1_MODULES))
_KERAS2_MODULES = tuple(sorted(markers.KERAS2_MODULES))
#: An absolute POSIX path as a script names a file or folder (not ``/``, ``//host``, a URL or a multi-line text).
_ABSOLUTE_PATH = re.compile(r"^/[^/\s][^\n\r\t:*?\"<>|]*$")

# --- what tells a classification from a regression ----------------------------------------------------------------
_REGRESSION_LOSSES = {"mse", "mae", "mape", "msle", "meansquarederror", "meanabsoluteerror",
                      "meanabsolutepercentageerror", "meansquaredlogarithmicerror", "huber", "huberloss", "logcosh",
                      "poisson", "cosinesimilarity"}
_REGRESSION_METRICS = {"r2_score", "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
                       "median_absolute_error", "explained_variance_score", "root_mean_squared_error",
                       "mean_squared_log_error", "max_error"}
_CLASSIFICATION_METRICS = {"accuracy_score", "f1_score", "precision_score", "recall_score", "roc_auc_score",
                           "confusion_matrix", "classification_report", "balanced_accuracy_score", "log_loss",
                           "ConfusionMatrixDisplay", "precision_recall_fscore_support", "matthews_corrcoef",
                           "cohen_kappa_score", "top_k_accuracy_score"}
#: How much each kind of signal counts when they disagree.
_WEIGHT = {"estimator": 3, "loss": 3, "activation": 2, "metric": 1}

# --- names a star import from a Keras module brings (libcst does not resolve ``import *``) -----------------------
_KERAS_STAR_NAMES = {
    "keras": {"layers", "models", "optimizers", "losses", "metrics", "callbacks", "utils", "datasets", "backend",
              "activations", "regularizers", "initializers", "preprocessing", "applications", "ops", "Sequential",
              "Model", "Input"},
    "keras.models": {"Sequential", "Model", "load_model", "model_from_json", "clone_model"},
    "keras.optimizers": {"Adam", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "AdamW"},
    "keras.callbacks": {"EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "TensorBoard", "CSVLogger",
                        "LearningRateScheduler", "Callback"},
    "keras.utils": {"to_categorical", "normalize", "plot_model", "Sequence", "np_utils"},
    "keras.utils.np_utils": {"to_categorical", "normalize"},
    "keras.datasets": {"mnist", "cifar10", "cifar100", "fashion_mnist", "boston_housing", "imdb", "reuters"},
}
_KERAS_LAYER_NAMES = {"Dense", "Dropout", "Activation", "BatchNormalization", "Input", "InputLayer", "Embedding",
                      "LSTM", "GRU", "SimpleRNN", "Reshape", "Concatenate", "Add", "Multiply", "Lambda", "LeakyReLU",
                      "ReLU", "PReLU", "Bidirectional", "TimeDistributed", "ZeroPadding2D", "UpSampling2D",
                      "Cropping2D", "Permute", "RepeatVector", "SpatialDropout2D", "GaussianNoise", "Masking",
                      "Rescaling", "Normalization", "Layer", "concatenate", "add", "Merge", "MaxoutDense"}


_BUILTINS = frozenset(dir(builtins))


def normalize(qualified: str) -> str:
    """``tensorflow.keras.layers.Dense`` -> ``keras.layers.Dense``; other names unchanged."""
    for prefix in _KERAS_PREFIXES:
        if qualified == prefix or qualified.startswith(prefix + "."):
            return "keras" + qualified[len(prefix):]
    return qualified


def layer_kind(name: str) -> str | None:
    """``dense``, ``conv``, ``pool``, ``flatten`` or ``other`` for a Keras name; ``None`` otherwise."""
    if not name.startswith("keras."):
        return None
    last = name.rsplit(".", 1)[-1]
    if last == "Dense":
        return "dense"
    if _CONV.match(last):
        return "conv"
    if _POOL.match(last):
        return "pool"
    if last in _FLATTEN:
        return "flatten"
    return "other"


def int_value(node: cst.BaseExpression | None) -> int | None:
    """The value of an integer literal, else ``None``."""
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    return None


def arg(call: cst.Call, position: int | None, *keywords: str) -> cst.Arg | None:
    """The argument given by keyword (any of ``keywords``) or at ``position``."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value in keywords:
            return a
    if position is not None:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if position < len(positional):
            return positional[position]
    return None


def _under(name: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


@dataclass(frozen=True)
class Use:
    """A resolved name the script uses (an import, an attribute, a call's function) and its line."""

    name: str
    line: int


@dataclass(frozen=True)
class Finding:
    """Something seen at a line, described for a person (evidence)."""

    line: int
    what: str


@dataclass(frozen=True)
class TaskSignal:
    """A hint that the script solves a classification or a regression, with its weight."""

    task: str  # "classification" | "regression"
    weight: int
    line: int
    what: str


def decide_task(signals: list[TaskSignal] | tuple[TaskSignal, ...]) -> str | None:
    """The task with the most weight behind it (ties: the strongest single signal); ``None`` without signals."""
    if not signals:
        return None
    score = {"classification": 0, "regression": 0}
    for s in signals:
        score[s.task] += s.weight
    if score["classification"] != score["regression"]:
        return max(score, key=score.__getitem__)
    return max(signals, key=lambda s: s.weight).task


@dataclass(frozen=True, eq=False)
class ScriptAnalysis:
    """What one script contains, for detection and for the tweaks. Shared through a cache: never mutate it.

    ``module`` is the parsed script; ``calls`` maps each of its ``cst.Call`` nodes to the qualified name of the
    imported thing it calls (``"<result>.fit"`` for a method of a call's result), which is what rewrites key on.
    """

    module: cst.Module
    calls: Mapping[cst.Call, str]
    uses: tuple[Use, ...]
    local_imports: frozenset[str]
    calls_fit: bool  # any .fit(...)-like call, Keras or scikit-learn (how the entry script is found)
    framework: str  # "keras" | "sklearn" | "none"
    dense_calls: tuple[cst.Call, ...]
    conv_calls: tuple[cst.Call, ...]
    fit_calls: tuple[cst.Call, ...]  # Keras fit/fit_generator calls (not those on scikit-learn objects)
    splits: tuple[tuple[str, str], ...]  # (train name, test name) of each ``a, b, ... = train_test_split(...)``
    scaled: bool
    estimators: tuple[str, ...]  # scikit-learn estimator classes constructed, in order
    keras2: tuple[Finding, ...]  # Keras 1/2 API used (removed in Keras 3)
    keras3: tuple[Finding, ...]  # Keras 3 only API used
    task_signals: tuple[TaskSignal, ...]
    #: String literals that are absolute paths (``"/mycode/wines.csv"``), with their lines: what the script may read.
    absolute_paths: tuple[Finding, ...] = ()
    #: Modules imported absolutely (``import a.b``, ``from a.b import c``: ``a.b``), with their lines.
    imports: tuple[Finding, ...] = ()

    @property
    def kind(self) -> str:
        """``ml``, ``ann`` or ``cnn``."""
        if self.framework != "keras":
            return "ml"
        return "cnn" if self.conv_calls else "ann"

    @property
    def dense(self) -> int:
        """How many Dense layers the script builds."""
        return len(self.dense_calls)

    @property
    def conv(self) -> int:
        """How many convolution layers the script builds."""
        return len(self.conv_calls)

    @property
    def conv_dims(self) -> int:
        """1, 2 or 3: the dimensions of the last convolution layer (2 without one)."""
        if not self.conv_calls:
            return 2
        found = re.search(r"(\d)D", self.calls[self.conv_calls[-1]].rsplit(".", 1)[-1])
        return int(found.group(1)) if found else 2

    @property
    def fits(self) -> int:
        """How many Keras fit calls the script makes."""
        return len(self.fit_calls)

    @property
    def epochs(self) -> int | None:
        """The epochs literal of the last Keras fit call (``None``: absent or not a number literal)."""
        if not self.fit_calls:
            return None
        call = self.fit_calls[-1]
        method = call.func.attr.value  # type: ignore[attr-defined]
        epochs = arg(call, _KERAS_FITS[method], "epochs", "nb_epoch")
        return None if epochs is None else int_value(epochs.value)

    @property
    def hidden_units(self) -> list[int]:
        """Units of the hidden Dense layers (all but the last) given as number literals."""
        units = [arg(c, 0, "units", "output_dim") for c in self.dense_calls[:-1]]
        return [v for u in units if u is not None and (v := int_value(u.value)) is not None]

    @property
    def keras_api(self) -> int | None:
        """2 when the script uses Keras 1/2 API that Keras 3 removed, 3 for other Keras scripts, else ``None``."""
        if self.framework != "keras":
            return None
        return 2 if self.keras2 else 3

    @property
    def task(self) -> str | None:
        """``classification`` or ``regression`` from the estimators, loss, output activation and metrics."""
        return decide_task(self.task_signals)


@functools.lru_cache(maxsize=64)
def analyze(source: str) -> ScriptAnalysis:
    """Analyse a script's source (cached per content: the same text is parsed once).

    Raises:
        SyntaxError: The source does not parse (``lineno`` and ``msg`` say where and why).
    """
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as e:
        ast.parse(source)  # Python's own message is the one people know; raises SyntaxError
        raise SyntaxError(e.message, ("<script>", e.raw_line, e.raw_column, None)) from e
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    reader = _Reader(_star_modules(module))
    wrapper.visit(reader)
    assert reader.analysis is not None
    return reader.analysis


def _star_modules(module: cst.Module) -> list[str]:
    """Modules imported with ``from M import *`` (absolute imports only), normalised."""
    found: list[str] = []

    class Stars(cst.CSTVisitor):
        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            if isinstance(node.names, cst.ImportStar) and not node.relative and node.module is not None:
                found.append(normalize(_dotted(node.module)))
            return False

    module.visit(Stars())
    return found


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _from_star(name: str, modules: list[str]) -> str | None:
    """The module a free name comes from when the script star-imports ``modules``."""
    if name in _BUILTINS:
        return None
    for m in modules:
        if name in _KERAS_STAR_NAMES.get(m, ()):
            return f"{m}.{name}"
        layers = m == "keras.layers" or m.startswith("keras.layers.")
        if layers and (name in _KERAS_LAYER_NAMES or name[:1].isupper()):
            return f"{m}.{name}"
    others = [m for m in modules if m != "keras" and not m.startswith("keras.")]
    # Keras modules are known above; a free name and a single other star import: that is where it comes from.
    return f"{others[0]}.{name}" if len(others) == 1 and len(modules) == 1 else None


class _Reader(cst.CSTVisitor):
    """Walk the script once: resolved names with lines, calls, imports, and keyword arguments worth noting."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, star_modules: list[str]) -> None:
        super().__init__()
        self.stars = star_modules
        self.uses: list[Use] = []
        self.calls: dict[cst.Call, str] = {}
        self.local_imports: set[str] = set()
        self.calls_fit = False
        self.method_calls: list[tuple[cst.Call, str]] = []  # (call, method name) of ``x.method(...)``
        self.sklearn_names: set[str] = set()  # variables assigned a scikit-learn object
        self.augmenter_names: set[str] = set()  # variables assigned an ImageDataGenerator (its fit trains nothing)
        self.sklearn_classes: dict[str, str] = {}  # class defined in the script -> the scikit-learn class it extends
        self.sklearn_objects: dict[cst.Call, str] = {}  # constructor calls of those classes -> the base class
        self.class_stack: list[bool] = []  # for each enclosing class: whether it extends a scikit-learn class
        self.super_fits: set[cst.Call] = set()  # super().fit(...) inside such a class: not a Keras fit
        self.absolute_paths: list[Finding] = []
        self.imports: list[Finding] = []
        self.analysis: ScriptAnalysis | None = None

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    def qualify(self, node: cst.BaseExpression) -> str | None:
        """The imported name an expression refers to, normalised; ``None`` for locals, builtins and the rest."""
        if not isinstance(node, (cst.Name, cst.Attribute)):
            return None
        names = self.get_metadata(QualifiedNameProvider, node, set())
        imported = sorted({normalize(q.name) for q in names if q.source == QualifiedNameSource.IMPORT})
        if imported:
            return imported[0]
        if names or not self.stars:
            return None
        if isinstance(node, cst.Name):
            return _from_star(node.value, self.stars)
        base = self.qualify(node.value)
        return f"{base}.{node.attr.value}" if base else None

    # imports
    def visit_Import(self, node: cst.Import) -> bool:
        line = self._line(node)
        for alias in node.names:
            name = _dotted(alias.name)
            self.uses.append(Use(normalize(name), line))
            self.local_imports.add(name.split(".")[0])
            self.imports.append(Finding(line, name))
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        module = _dotted(node.module) if node.module is not None else ""
        if module:
            self.local_imports.add(module.split(".")[0])
        if node.relative or not module:
            return False
        line = self._line(node)
        self.imports.append(Finding(line, module))
        if isinstance(node.names, cst.ImportStar):
            self.uses.append(Use(normalize(f"{module}.*"), line))
        else:
            for alias in node.names:
                self.uses.append(Use(normalize(f"{module}.{_dotted(alias.name)}"), line))
        return False

    # names (keyword-argument names and attribute names are not looked up: they are not expressions)
    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        root = node.value
        while isinstance(root, cst.Attribute):
            root = root.value
        name = self.qualify(node) if isinstance(root, cst.Name) else None  # not e.g. Estimator().fit
        if name is None:
            node.value.visit(self)
        else:
            self.uses.append(Use(name, self._line(node)))
        return False

    def visit_Name(self, node: cst.Name) -> None:
        name = self.qualify(node)
        if name is not None:
            self.uses.append(Use(name, self._line(node)))

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        try:
            value = node.evaluated_value
        except Exception:  # a literal libcst cannot evaluate is not a path we could use
            return
        if isinstance(value, str) and _ABSOLUTE_PATH.match(value):
            self.absolute_paths.append(Finding(self._line(node), value))

    # classes that extend scikit-learn (the scaling tweak writes one): their objects are scikit-learn objects
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        bases = [b for b in (self.qualify(a.value) for a in node.bases) if b and b.startswith("sklearn.")]
        if bases:
            self.sklearn_classes[node.name.value] = bases[0]
        self.class_stack.append(bool(bases))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.class_stack.pop()

    def _sklearn_object(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Call) and (self.calls.get(node, "").startswith("sklearn.")
                                               or node in self.sklearn_objects)

    # calls
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value in self.sklearn_classes:
            self.sklearn_objects[node] = self.sklearn_classes[func.value]
        if isinstance(func, cst.Attribute):
            self.method_calls.append((node, func.attr.value))
            self.calls_fit = self.calls_fit or func.attr.value in _TRAIN_CALLS
            receiver = func.value
            if self.class_stack and self.class_stack[-1] and isinstance(receiver, cst.Call) \
                    and isinstance(receiver.func, cst.Name) and receiver.func.value == "super":
                self.super_fits.add(node)
        receiver = func
        while isinstance(receiver, cst.Attribute):
            receiver = receiver.value
        if isinstance(receiver, cst.Call):  # a method of a call's result, e.g. Estimator().fit(...)
            self.calls[node] = "<result>." + (func.attr.value if isinstance(func, cst.Attribute) else "")
            return
        name = self.qualify(func)
        if name is not None:
            self.calls[node] = name

    def leave_Assign(self, original_node: cst.Assign) -> None:
        names = self.sklearn_names if self._sklearn_object(original_node.value) else \
            self.augmenter_names if self._augmenter(original_node.value) else None
        if names is not None:
            for t in original_node.targets:
                if isinstance(t.target, cst.Name):
                    names.add(t.target.value)

    def _augmenter(self, node: cst.BaseExpression) -> bool:
        """``ImageDataGenerator(...)``: its ``fit`` computes statistics of the images, it trains no model."""
        return isinstance(node, cst.Call) and self.calls.get(node, "").rsplit(".", 1)[-1] == "ImageDataGenerator"

    def leave_Module(self, original_node: cst.Module) -> None:
        # Derived facts need line numbers, which are only available while the walk lasts.
        self.analysis = self._result(original_node)

    def _result(self, module: cst.Module) -> ScriptAnalysis:
        names = [u.name for u in self.uses]
        keras = any(n == "keras" or n.startswith("keras.") for n in names)
        sklearn = any(n.split(".")[0] == "sklearn" for n in names)
        calls = self.calls
        estimators = tuple(n.rsplit(".", 1)[-1] for n in calls.values() if is_estimator(n))
        return ScriptAnalysis(
            module=module,
            calls=calls,
            uses=tuple(self.uses),
            local_imports=frozenset(self.local_imports),
            calls_fit=self.calls_fit,
            framework="keras" if keras else "sklearn" if sklearn else "none",
            dense_calls=tuple(c for c, n in calls.items() if layer_kind(n) == "dense"),
            conv_calls=tuple(c for c, n in calls.items() if layer_kind(n) == "conv"),
            fit_calls=tuple(self._keras_fits()) if keras else (),
            splits=tuple(_splits(module, calls)),
            scaled=any(n.startswith("sklearn.") and n.rsplit(".", 1)[-1] in SCALERS
                       for n in [*calls.values(), *self.sklearn_objects.values()]),
            estimators=estimators,
            keras2=tuple(self._keras2()) if keras or any(n.split(".")[0] == "tensorflow" for n in names) else (),
            keras3=tuple(self._keras3()) if keras else (),
            task_signals=tuple(self._task_signals(estimators, keras)),
            absolute_paths=tuple(self.absolute_paths),
            imports=tuple(self.imports),
        )

    def _keras_fits(self) -> list[cst.Call]:
        """``.fit``/``.fit_generator`` calls that are not on a scikit-learn object (a scaler, an estimator)."""
        return [call for call, method in self.method_calls
                if method in _KERAS_FITS and call not in self.super_fits and not self._on_sklearn(call)]

    def _on_sklearn(self, call: cst.Call) -> bool:
        """Whether a method call is on a scikit-learn object or an ``ImageDataGenerator`` (not a Keras model)."""
        receiver = call.func.value  # type: ignore[attr-defined]
        if isinstance(receiver, cst.Name) and receiver.value in self.sklearn_names | self.augmenter_names:
            return True
        return self._sklearn_object(receiver) or self._augmenter(receiver)

    def _keras2(self) -> list[Finding]:
        found: dict[str, Finding] = {}

        def note(node_or_line: cst.CSTNode | int, what: str) -> None:
            line = node_or_line if isinstance(node_or_line, int) else self._line(node_or_line)
            found.setdefault(what, Finding(line, what))

        for use in self.uses:
            module = _under(use.name, _KERAS2_MODULES)
            tf1 = _under(use.name, _TF1_NAMES)
            parts = use.name.split(".")
            named = next((i for i, p in enumerate(parts) if p in markers.KERAS2_NAMES), None)
            if module:
                note(use.line, f"Keras 2 API: {module}")
            elif tf1:
                note(use.line, f"TensorFlow 1 API of Keras 2 scripts: {tf1.replace('tensorflow.', 'tf.')}")
            elif parts[0] == "keras" and markers.KERAS2_LAYERS.match(parts[-1]):
                note(use.line, f"Keras 2 API: {parts[-1]}")
            elif parts[0] == "keras" and named is not None:
                note(use.line, f"Keras 2 API: {'.'.join(parts[:named + 1])}")
        for call, method in self.method_calls:
            if method in markers.KERAS2_METHODS and not self._on_sklearn(call):  # not scikit-learn's predict_proba
                note(call, f"Keras 2 API: {method}()")
            if method in _KERAS_FITS:
                for k in sorted(markers.FIT_KWARGS & self._keywords(call)):
                    note(call, f"Keras 2 API: {method}({k}=...)")
        for call, name in self.calls.items():
            last = name.rsplit(".", 1)[-1]
            if name.startswith("keras.optimizers."):
                words = markers.OPTIMIZER_KWARGS
            elif name.startswith("keras.") and last == "Model":
                words = markers.MODEL_KWARGS
            else:
                words = markers.LAYER_KWARGS if layer_kind(name) else frozenset()
            for k in sorted(words & self._keywords(call)):
                note(call, f"Keras 2 API: {last}({k}=...)")
        return sorted(found.values(), key=lambda f: f.line)

    @staticmethod
    def _keywords(call: cst.Call) -> set[str]:
        return {a.keyword.value for a in call.args if a.keyword is not None}

    def _keras3(self) -> list[Finding]:
        found: dict[str, Finding] = {}
        for use in self.uses:
            module = _under(use.name, markers.KERAS3_MODULES)
            if module:
                found.setdefault(module, Finding(use.line, f"Keras 3 API: {module}"))
        return list(found.values())

    def _task_signals(self, estimators: tuple[str, ...], keras: bool) -> list[TaskSignal]:
        signals: list[TaskSignal] = []
        seen: set[str] = set()

        def add(task: str | None, kind: str, line: int, what: str) -> None:
            if task and what not in seen:
                seen.add(what)
                signals.append(TaskSignal(task, _WEIGHT[kind], line, what))

        for call, name in self.calls.items():
            if is_estimator(name):
                cls = name.rsplit(".", 1)[-1]
                add(estimator_task(cls), "estimator", self._line(call), f"estimator {cls}")
        for use in self.uses:
            if use.name.startswith("sklearn.metrics."):
                fn = use.name.rsplit(".", 1)[-1]
                task = "regression" if fn in _REGRESSION_METRICS else \
                    "classification" if fn in _CLASSIFICATION_METRICS else None
                add(task, "metric", use.line, f"metric {fn}")
        if not keras:
            return signals
        for call, method in self.method_calls:
            if method != "compile":
                continue
            loss = arg(call, 1, "loss")
            label = self._label(loss.value) if loss is not None else None
            if label:
                add(_loss_task(label), "loss", self._line(call), f"loss {label}")
            metrics = arg(call, 2, "metrics")
            if metrics is not None and isinstance(metrics.value, (cst.List, cst.Tuple)):
                for element in metrics.value.elements:
                    label = self._label(element.value)
                    task = "classification" if label in ("accuracy", "acc") else \
                        "regression" if label and label.lower().replace("_", "") in _REGRESSION_LOSSES else None
                    add(task, "metric", self._line(call), f"Keras metric {label}")
        last = None  # the output layer: the last Dense, or an Activation layer after it
        for call, name in self.calls.items():
            if layer_kind(name) == "dense" or (name.startswith("keras.") and name.endswith(".Activation")):
                last = call
        if last is not None:
            is_dense = layer_kind(self.calls[last]) == "dense"
            activation = arg(last, 1 if is_dense else 0, "activation")
            label = self._label(activation.value) if activation is not None else None
            if label in ("softmax", "sigmoid"):
                add("classification", "activation", self._line(last), f"output activation {label}")
        return signals

    def _label(self, node: cst.BaseExpression) -> str | None:
        """A loss/activation given as a string, a name (``keras.losses.mse``) or a call (``MeanSquaredError()``)."""
        if isinstance(node, cst.SimpleString):
            return str(node.evaluated_value)
        if isinstance(node, cst.Call):
            node = node.func
        name = self.qualify(node)
        return name.rsplit(".", 1)[-1] if name and name.startswith(("keras.", "tensorflow.")) else None


def _loss_task(label: str) -> str | None:
    key = label.lower().replace("_", "")
    if "crossentropy" in key or "hinge" in key:
        return "classification"
    return "regression" if key in _REGRESSION_LOSSES else None


def _splits(module: cst.Module, calls: Mapping[cst.Call, str]) -> list[tuple[str, str]]:
    """``(X_train, X_test)`` names of every ``a, b, c, d = train_test_split(X, y, ...)``."""
    found: list[tuple[str, str]] = []

    class Splits(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if not isinstance(node.value, cst.Call):
                return
            if not calls.get(node.value, "").endswith("model_selection.train_test_split"):
                return
            target = node.targets[0].target
            if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) >= 2:
                first, second = target.elements[0].value, target.elements[1].value
                if isinstance(first, cst.Name) and isinstance(second, cst.Name):
                    found.append((first.value, second.value))

    module.visit(Splits())
    return found
