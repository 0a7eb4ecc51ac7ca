"""Source rewrites of a training script (libcst: formatting and comments are kept).

Each tweak either applies cleanly or raises ``SkipTweak`` with the reason; the rewritten
script must parse before any trial runs it.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from training.tweaks._inspect import (
    ESTIMATOR_MODULES,
    arg,
    inspect_script,
    int_value,
    keras_fit_calls,
    layer_kind,
    resolve,
)

KERAS_ALIAS = "_mlops_keras"
REGRESSORS = {"SVR", "LinearSVR", "NuSVR", "Ridge", "Lasso", "ElasticNet", "BayesianRidge", "HuberRegressor",
              "LinearRegression", "KernelRidge", "Lars", "SGDRegressor"}
FAMILIES = {
    "random_forest": ("sklearn.ensemble", "RandomForest", "n_estimators=300, random_state=0"),
    "gradient_boosting": ("sklearn.ensemble", "HistGradientBoosting", "random_state=0"),
}


class SkipTweak(Exception):
    """The tweak does not apply to this script; the message says why."""


@dataclass
class TweakOutcome:
    """A rewritten script and what happened to each requested tweak."""

    source: str
    applied: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def diff(self, original: str, name: str) -> str:
        """Unified diff of the rewritten script against the original."""
        return "".join(difflib.unified_diff(original.splitlines(keepends=True), self.source.splitlines(keepends=True),
                                            fromfile=f"a/{name}", tofile=f"b/{name}"))


def _stmt(code: str) -> cst.BaseStatement:
    return cst.parse_statement(code)


def _expr(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def ensure_import(module: cst.Module, line: str) -> cst.Module:
    """Add an import line after the docstring and ``__future__`` imports, unless present."""
    if line in module.code:
        return module
    body = list(module.body)
    index = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine):
            first = stmt.body[0]
            is_doc = i == 0 and isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString)
            is_future = isinstance(first, cst.ImportFrom) and _code(first.module or cst.Name("")) == "__future__"
            if is_doc or is_future:
                index = i + 1
                continue
        break
    body.insert(index, _stmt(line + "\n"))
    return module.with_changes(body=body)


def _is_call_to(stmt: cst.CSTNode, target: cst.Call) -> str | None:
    """How ``stmt`` holds ``target``: ``add`` (``m.add(target)``), ``apply`` (``x = target(y)``) or None."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        call = small.value
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "add" and call.args \
                and call.args[0].value is target:
            return "add"
    if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call) and small.value.func is target:
        return "apply"
    return None


class _BlockEditor(cst.CSTTransformer):
    """Call ``edit(original_statements, updated_statements)`` on every statement block and list literal."""

    def __init__(self, edit_block: Callable[[Sequence[cst.CSTNode], list[cst.CSTNode]], list[cst.CSTNode] | None],
                 edit_list: Callable[[cst.List, cst.List], cst.List | None] | None = None) -> None:
        super().__init__()
        self.edit_block = edit_block
        self.edit_list = edit_list
        self.done = False

    def _block(self, original: Any, updated: Any) -> Any:
        if self.done:
            return updated
        new = self.edit_block(original.body, list(updated.body))
        if new is None:
            return updated
        self.done = True
        return updated.with_changes(body=new)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return self._block(original_node, updated_node)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
                            ) -> cst.IndentedBlock:
        return self._block(original_node, updated_node)

    def leave_List(self, original_node: cst.List, updated_node: cst.List) -> cst.List:
        if self.done or self.edit_list is None:
            return updated_node
        new = self.edit_list(original_node, updated_node)
        if new is None:
            return updated_node
        self.done = True
        return new


def _layer_line(stmt: cst.SimpleStatementLine, how: str, layer_code: str, chain: str) -> cst.BaseStatement:
    """A new statement in the same style as ``stmt``: ``m.add(LAYER)`` or ``chain = LAYER(chain)``."""
    if how == "add":
        receiver = _code(stmt.body[0].value.func.value)  # type: ignore[attr-defined]
        return _stmt(f"{receiver}.add({layer_code})\n")
    return _stmt(f"{chain} = {layer_code}({chain})\n")


def _chain_name(stmt: cst.CSTNode, before: bool) -> str:
    """In ``y = Layer(...)(x)``: the tensor to extend, ``x`` when inserting before it, ``y`` after it."""
    small = stmt.body[0]  # type: ignore[attr-defined]
    if before:
        return _code(small.value.args[0].value)
    return _code(small.targets[0].target)


def _insert_layers(module: cst.Module, anchor: cst.Call, layers: list[str], before: bool,
                   skip_following_pool: bool, calls: dict[cst.Call, str]) -> cst.Module:
    """Insert layer expressions next to ``anchor`` in a ``model.add`` chain, a layer list or a functional chain.

    Raises:
        SkipTweak: ``anchor`` sits in none of those shapes.
    """

    def edit_block(original: Sequence[cst.CSTNode], updated: list[cst.CSTNode]) -> list[cst.CSTNode] | None:
        for i, stmt in enumerate(original):
            how = _is_call_to(stmt, anchor)
            if how is None:
                continue
            if how == "apply" and not (anchor_is_simple_apply(stmt)):
                return None
            at = i if before else i + 1
            if not before and skip_following_pool:
                while at < len(original) and _holds_kind(original[at], calls, "pool"):
                    at += 1
            last = stmt if before else original[at - 1]
            if how == "apply" and not anchor_is_simple_apply(last):
                return None
            chain = _chain_name(last, before) if how == "apply" else ""
            new_lines = [_layer_line(stmt, how, layer, chain) for layer in layers]  # type: ignore[arg-type]
            return updated[:at] + new_lines + updated[at:]
        return None

    def edit_list(original: cst.List, updated: cst.List) -> cst.List | None:
        values = [e.value for e in original.elements]
        if anchor not in values:
            return None
        i = values.index(anchor)
        at = i if before else i + 1
        if not before and skip_following_pool:
            while at < len(values) and isinstance(values[at], cst.Call) and \
                    layer_kind(calls.get(values[at], "")) == "pool":
                at += 1
        elements = list(updated.elements)
        # Reuse a neighbour's comma: in a one-per-line list it carries the newline and indentation.
        donor = elements[at - 1] if at > 0 else elements[0]
        comma = donor.comma if isinstance(donor.comma, cst.Comma) else \
            cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        new = [cst.Element(_expr(layer), comma=comma) for layer in layers]
        if at == len(elements):  # appending after the last element: it needs a comma now
            new[-1] = new[-1].with_changes(comma=elements[-1].comma)
            elements[-1] = elements[-1].with_changes(comma=comma)
        return updated.with_changes(elements=elements[:at] + new + elements[at:])

    editor = _BlockEditor(edit_block, edit_list)
    result = module.visit(editor)
    if not editor.done:
        raise SkipTweak("the layer is not in a model.add(...) chain, a Sequential([...]) list or a simple "
                        "functional chain")
    return result


def anchor_is_simple_apply(stmt: cst.CSTNode) -> bool:
    """``x = Layer(...)(y)`` with a plain name on both sides."""
    small = stmt.body[0]  # type: ignore[attr-defined]
    return (isinstance(small.targets[0].target, cst.Name) and len(small.value.args) == 1
            and isinstance(small.value.args[0].value, cst.Name))


def _holds_kind(stmt: cst.CSTNode, calls: dict[cst.Call, str], kind: str) -> bool:
    for call, name in calls.items():
        if layer_kind(name) == kind and _is_call_to(stmt, call):
            return True
    return False


def _set_kwarg(call: cst.Call, name: str, value: str, position: int | None = None,
               aliases: tuple[str, ...] = ()) -> cst.Call:
    """Set ``name=value`` on a call, replacing a keyword (or alias) or the positional argument at ``position``."""
    args = list(call.args)
    existing = arg(call, position, name, *aliases)
    new_arg = cst.Arg(value=_expr(value), keyword=cst.Name(name),
                      equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                            whitespace_after=cst.SimpleWhitespace("")))
    if existing is not None:
        i = args.index(existing)
        if existing.keyword is None:
            args[i] = existing.with_changes(value=_expr(value))
        else:
            args[i] = new_arg.with_changes(comma=existing.comma)
        return call.with_changes(args=args)
    if args and args[-1].comma == cst.MaybeSentinel.DEFAULT:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, new_arg])


class _CallRewriter(cst.CSTTransformer):
    """Replace calls chosen by ``pick(original, name)`` with ``rewrite(updated, name)``."""

    def __init__(self, calls: dict[cst.Call, str], pick: Callable[[cst.Call, str], bool],
                 rewrite: Callable[[cst.Call, str], cst.BaseExpression]) -> None:
        super().__init__()
        self.calls, self.pick, self.rewrite = calls, pick, rewrite
        self.count = 0
        self._sklearn_depth = 0
        #: While ``pick`` runs: whether the call is an argument of another scikit-learn call
        #: (GridSearchCV, Pipeline, ...), where wrapping or replacing it would break parameter names.
        self.inside_sklearn_call = False

    def visit_Call(self, node: cst.Call) -> None:
        if self.calls.get(node, "").startswith("sklearn."):
            self._sklearn_depth += 1

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        name = self.calls.get(original_node, "")
        own = name.startswith("sklearn.")
        self.inside_sklearn_call = self._sklearn_depth - own > 0
        self._sklearn_depth -= own
        if self.pick(original_node, name):
            self.count += 1
            return self.rewrite(updated_node, name)
        return updated_node


def is_estimator(name: str) -> bool:
    """Whether a qualified name is a scikit-learn estimator class."""
    parts = name.split(".")
    return len(parts) >= 3 and parts[0] == "sklearn" and parts[1] in ESTIMATOR_MODULES and parts[-1][:1].isupper()


def is_regressor(cls: str) -> bool:
    """A name-based guess: regressors end in Regressor/Regression or are well-known linear models."""
    if cls == "LogisticRegression":
        return False
    return cls in REGRESSORS or cls.endswith(("Regressor", "Regression"))


# --- the tweaks ----------------------------------------------------------------------------------

def tweak_scale(module: cst.Module, calls: dict[cst.Call, str], value: Any) -> tuple[cst.Module, str]:
    """Standardise features, fitted on the training split only."""
    info = inspect_script(module.code)
    if info.scaled:
        raise SkipTweak("the script already scales its features")
    if info.framework == "sklearn":
        rewriter = _CallRewriter(
            calls, lambda node, name: is_estimator(name) and not rewriter.inside_sklearn_call,
            lambda node, name: _expr(f"_mlops_make_pipeline(_MlopsStandardScaler(), {_code(node)})"))
        module = module.visit(rewriter)
        if not rewriter.count:
            raise SkipTweak("no scikit-learn estimator constructed outside another scikit-learn call")
        module = ensure_import(module, "from sklearn.preprocessing import StandardScaler as _MlopsStandardScaler")
        module = ensure_import(module, "from sklearn.pipeline import make_pipeline as _mlops_make_pipeline")
        return module, "scale features (StandardScaler in a Pipeline)"
    if info.kind == "cnn":
        raise SkipTweak("image input: feature scaling is for tabular data")
    if not info.splits:
        raise SkipTweak("no 'X_train, X_test, ... = train_test_split(...)' to fit a scaler on the training split")
    train, test = info.splits[0]

    def edit_block(original: Sequence[cst.CSTNode], updated: list[cst.CSTNode]) -> list[cst.CSTNode] | None:
        for i, stmt in enumerate(original):
            if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign):
                value_node = stmt.body[0].value
                if isinstance(value_node, cst.Call) and calls.get(value_node, "").endswith("train_test_split"):
                    lines = [_stmt(f"_mlops_scaler = _MlopsStandardScaler().fit({train})\n"),
                             _stmt(f"{train} = _mlops_scaler.transform({train})\n"),
                             _stmt(f"{test} = _mlops_scaler.transform({test})\n")]
                    return updated[: i + 1] + lines + updated[i + 1:]
        return None

    editor = _BlockEditor(edit_block)
    module = module.visit(editor)
    module = ensure_import(module, "from sklearn.preprocessing import StandardScaler as _MlopsStandardScaler")
    return module, f"scale features (StandardScaler fitted on {train} only)"


def _dense_calls(calls: dict[cst.Call, str]) -> list[cst.Call]:
    return [c for c, n in calls.items() if layer_kind(n) == "dense"]


def tweak_units(module: cst.Module, calls: dict[cst.Call, str], value: int) -> tuple[cst.Module, str]:
    """Widen every hidden Dense layer (not the output one) to ``value`` units."""
    hidden = set(_dense_calls(calls)[:-1])

    def widen(node: cst.Call, name: str) -> cst.Call:
        return _set_kwarg(node, "units", str(value), position=0, aliases=("output_dim",))

    def pick(node: cst.Call, name: str) -> bool:
        current = arg(node, 0, "units", "output_dim")
        return node in hidden and current is not None and (int_value(current.value) or 10**9) < value

    rewriter = _CallRewriter(calls, pick, widen)
    module = module.visit(rewriter)
    if not rewriter.count:
        raise SkipTweak(f"no hidden Dense layer with fewer than {value} units (as a number literal)")
    return module, f"hidden Dense layers widened to {value} units"


def tweak_dense(module: cst.Module, calls: dict[cst.Call, str], value: int, units: int = 64
                ) -> tuple[cst.Module, str]:
    """Add ``value`` hidden Dense layers (``units`` each, relu) before the output layer."""
    dense = _dense_calls(calls)
    if not dense:
        raise SkipTweak("no Dense layer found")
    output = dense[-1]
    layer = f"{_code(output.func)}({units}, activation=\"relu\")"
    module = _insert_layers(module, output, [layer] * value, before=True, skip_following_pool=False, calls=calls)
    return module, f"+{value} hidden Dense({units}, relu) layer{'s' if value > 1 else ''}"


def tweak_filters(module: cst.Module, calls: dict[cst.Call, str], value: int) -> tuple[cst.Module, str]:
    """Give every convolution layer at least ``value`` filters."""

    def pick(node: cst.Call, name: str) -> bool:
        current = arg(node, 0, "filters", "nb_filter")
        return layer_kind(name) == "conv" and current is not None and (int_value(current.value) or 10**9) < value

    rewriter = _CallRewriter(calls, pick, lambda node, name: _set_kwarg(node, "filters", str(value), 0,
                                                                          ("nb_filter",)))
    module = module.visit(rewriter)
    if not rewriter.count:
        raise SkipTweak(f"no convolution layer with fewer than {value} filters (as a number literal)")
    return module, f"convolution filters raised to {value}"


def tweak_conv(module: cst.Module, calls: dict[cst.Call, str], value: int, filters: int = 32, kernel: int = 3,
               stride: int = 1) -> tuple[cst.Module, str]:
    """Add ``value`` convolution + max-pooling blocks after the last convolution layer."""
    info = inspect_script(module.code)
    convs = [c for c, n in calls.items() if layer_kind(n) == "conv"]
    if not convs:
        raise SkipTweak("no convolution layer to extend")
    d = info.conv_dims
    k = f"({', '.join([str(kernel)] * d)})" if d > 1 else str(kernel)
    s = f"({', '.join([str(stride)] * d)})" if d > 1 else str(stride)
    pool = f"({', '.join(['2'] * d)})" if d > 1 else "2"
    block = [f'{KERAS_ALIAS}.layers.Conv{d}D({filters}, {k}, strides={s}, padding="same", activation="relu")',
             f'{KERAS_ALIAS}.layers.MaxPooling{d}D({pool}, padding="same")']
    module = _insert_layers(module, convs[-1], block * value, before=False, skip_following_pool=True, calls=calls)
    module = ensure_import(module, f"import keras as {KERAS_ALIAS}")
    return module, f"+{value} Conv{d}D({filters}, {kernel}x{kernel}, stride {stride}) + pooling block" + \
        ("s" if value > 1 else "")


def tweak_epochs(module: cst.Module, calls: dict[cst.Call, str], value: int) -> tuple[cst.Module, str]:
    """Multiply the epochs of every Keras ``fit`` by ``value`` (at least ``10 * value``), with early stopping
    on the validation loss so that more epochs never end on a worse model than an earlier epoch."""
    if inspect_script(module.code).framework != "keras":
        raise SkipTweak("epochs apply to Keras models")
    changes: list[str] = []

    def rewrite(node: cst.Call, name: str) -> cst.Call:
        current = arg(node, 3, "epochs", "nb_epoch")
        base = 1 if current is None else int_value(current.value)
        if base is None:
            raise SkipTweak(f"epochs is not a number literal ({_code(current.value)})")  # type: ignore[union-attr]
        epochs = max(base * value, 10 * value)  # x2 of a 3-epoch script is still too short to tell
        node = _set_kwarg(node, "epochs", str(epochs), 3, ("nb_epoch",))
        if arg(node, None, "validation_split", "validation_data") is None:
            node = _set_kwarg(node, "validation_split", "0.1")
        stop = (f'{KERAS_ALIAS}.callbacks.EarlyStopping(monitor="val_loss", patience={max(3, epochs // 10)}, '
                "restore_best_weights=True)")
        existing = arg(node, None, "callbacks")
        if existing is None:
            node = _set_kwarg(node, "callbacks", f"[{stop}]")
        elif isinstance(existing.value, cst.List):
            node = _set_kwarg(node, "callbacks", f"[{', '.join(_code(e.value) for e in existing.value.elements)}, "
                                                 f"{stop}]")
        else:
            node = _set_kwarg(node, "callbacks", f"[*{_code(existing.value)}, {stop}]")
        changes.append(f"{base}->{epochs}")
        return node

    fits = set(keras_fit_calls(module, calls))
    rewriter = _CallRewriter(calls, lambda node, name: node in fits, rewrite)
    module = module.visit(rewriter)
    if not rewriter.count:
        raise SkipTweak("no fit(...) call found")
    module = ensure_import(module, f"import keras as {KERAS_ALIAS}")
    return module, f"epochs {', '.join(changes)} with early stopping"


def tweak_param(module: cst.Module, calls: dict[cst.Call, str], value: Any, cls: str, param: str
                ) -> tuple[cst.Module, str]:
    """Set a hyper-parameter on every constructor call of a scikit-learn estimator class."""
    rewriter = _CallRewriter(calls, lambda node, name: is_estimator(name) and name.endswith("." + cls),
                             lambda node, name: _set_kwarg(node, param, repr(value)))
    module = module.visit(rewriter)
    if not rewriter.count:
        raise SkipTweak(f"no {cls}(...) constructed")
    return module, f"{cls} {param}={value!r}"


def tweak_family(module: cst.Module, calls: dict[cst.Call, str], value: str) -> tuple[cst.Module, str]:
    """Replace the estimator with a stronger family (random forest or gradient boosting)."""
    mod, prefix, args = FAMILIES[value]
    chosen: list[str] = []

    def rewrite(node: cst.Call, name: str) -> cst.BaseExpression:
        cls = prefix + ("Regressor" if is_regressor(name.rsplit(".", 1)[-1]) else "Classifier")
        chosen.append(cls)
        return _expr(f"_Mlops{cls}({args})")

    rewriter = _CallRewriter(calls, lambda node, name: is_estimator(name) and not rewriter.inside_sklearn_call,
                             rewrite)
    module = module.visit(rewriter)
    if not rewriter.count:
        raise SkipTweak("no scikit-learn estimator constructed outside another scikit-learn call")
    for cls in sorted(set(chosen)):
        module = ensure_import(module, f"from {mod} import {cls} as _Mlops{cls}")
    return module, f"estimator replaced by {', '.join(sorted(set(chosen)))}"


# The order in which tweaks of one configuration are applied.
ORDER = ("family", "scale", "units", "filters", "conv", "dense", "epochs")


def apply_config(source: str, config: dict[str, Any]) -> TweakOutcome:
    """Apply a configuration (tweak name -> value; ``param:<Class>:<name>`` for hyper-parameters).

    Values that mean "unchanged" (``False``, ``0``, ``1`` for epochs, ``None``) are ignored.

    Raises:
        ValueError: The rewritten script does not parse (a bug in a tweak; nothing runs).
    """
    module = cst.parse_module(source)
    outcome = TweakOutcome(source=source)
    units = config.get("units") or 64
    steps: list[tuple[str, Callable[..., tuple[cst.Module, str]], dict[str, Any]]] = []
    for key, value in sorted(config.items(), key=lambda kv: _rank(kv[0])):
        if value in (None, False, 0) or (key == "epochs" and value == 1) or key in ("kernel", "stride"):
            continue
        if key == "scale":
            steps.append((key, tweak_scale, {"value": value}))
        elif key == "units":
            steps.append((key, tweak_units, {"value": value}))
        elif key == "filters":
            steps.append((key, tweak_filters, {"value": value}))
        elif key == "conv":
            steps.append((key, tweak_conv, {"value": value, "filters": config.get("filters") or 32,
                                            "kernel": config.get("kernel") or 3, "stride": config.get("stride") or 1}))
        elif key == "dense":
            steps.append((key, tweak_dense, {"value": value, "units": units}))
        elif key == "epochs":
            steps.append((key, tweak_epochs, {"value": value}))
        elif key == "family":
            steps.append((key, tweak_family, {"value": value}))
        elif key.startswith("param:"):
            cls, param = key[len("param:"):].split(":", 1)
            steps.append((key, tweak_param, {"value": value, "cls": cls, "param": param}))
        else:
            outcome.skipped.append((key, "unknown tweak"))
    for key, fn, kwargs in steps:
        wrapped, calls = resolve(module)
        try:
            module, description = fn(wrapped, calls, **kwargs)
        except SkipTweak as e:
            outcome.skipped.append((key, str(e)))
            module = wrapped
            continue
        outcome.applied.append(description)
    outcome.source = module.code
    try:
        ast.parse(outcome.source)
    except SyntaxError as e:
        raise ValueError(f"the rewritten script does not parse ({e.msg}, line {e.lineno})") from e
    return outcome


def _rank(key: str) -> int:
    base = key.split(":", 1)[0]
    return ORDER.index(base) if base in ORDER else len(ORDER)
