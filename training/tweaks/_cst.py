"""libcst helpers the tweaks share: build nodes from code, set arguments, rewrite chosen calls, insert
statements or layers next to another one. Formatting and comments of the user's script are kept."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import libcst as cst

from training.analysis import arg, layer_kind
from training.tweaks._base import SkipTweak


def stmt(code: str) -> cst.BaseStatement:
    """One statement parsed from code."""
    return cst.parse_statement(code)


def expr(code: str) -> cst.BaseExpression:
    """One expression parsed from code."""
    return cst.parse_expression(code)


def code(node: cst.CSTNode) -> str:
    """The source code of a node."""
    return cst.Module([]).code_for_node(node)


def ensure_top(module: cst.Module, block: str) -> cst.Module:
    """Add ``block`` (an import line, or lines with a definition) after the docstring and ``__future__`` imports,
    unless its first line is already in the script."""
    first = block.strip().splitlines()[0]
    if first in module.code:
        return module
    body = list(module.body)
    index = 0
    for i, statement in enumerate(body):
        if isinstance(statement, cst.SimpleStatementLine):
            small = statement.body[0]
            is_doc = i == 0 and isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString)
            is_future = isinstance(small, cst.ImportFrom) and code(small.module or cst.Name("")) == "__future__"
            if is_doc or is_future:
                index = i + 1
                continue
        break
    new = list(cst.parse_module(block).body)
    if index < len(body) and any(isinstance(s, (cst.ClassDef, cst.FunctionDef)) for s in new):
        after = body[index]  # two blank lines after a definition, as PEP 8 has it
        blank = [cst.EmptyLine()] * max(0, 2 - sum(1 for ln in after.leading_lines if ln.comment is None))
        body[index] = after.with_changes(leading_lines=[*blank, *after.leading_lines])
    return module.with_changes(body=body[:index] + new + body[index:])


def set_kwarg(call: cst.Call, name: str, value: str, position: int | None = None,
              aliases: tuple[str, ...] = ()) -> cst.Call:
    """Set ``name=value`` on a call, replacing a keyword (or alias) or the positional argument at ``position``."""
    args = list(call.args)
    existing = arg(call, position, name, *aliases)
    new_arg = cst.Arg(value=expr(value), keyword=cst.Name(name),
                      equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                            whitespace_after=cst.SimpleWhitespace("")))
    if existing is not None:
        i = args.index(existing)
        if existing.keyword is None:
            args[i] = existing.with_changes(value=expr(value))
        else:
            args[i] = new_arg.with_changes(comma=existing.comma)
        return call.with_changes(args=args)
    if args and args[-1].comma == cst.MaybeSentinel.DEFAULT:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, new_arg])


class CallRewriter(cst.CSTTransformer):
    """Replace calls chosen by ``pick(original, name)`` with ``rewrite(updated, name)``.

    Args:
        calls: The analysis's call -> qualified name map of the module being rewritten.
        pick: Whether to rewrite a call (given the original node and its qualified name).
        rewrite: The replacement expression (given the updated node and its qualified name).
        outside_sklearn_calls: Leave calls that are arguments of another scikit-learn call alone
            (GridSearchCV, Pipeline, ...), where wrapping or replacing them would break parameter names.
    """

    def __init__(self, calls: Mapping[cst.Call, str], pick: Callable[[cst.Call, str], bool],
                 rewrite: Callable[[cst.Call, str], cst.BaseExpression], outside_sklearn_calls: bool = False) -> None:
        super().__init__()
        self.calls, self.pick, self.rewrite = calls, pick, rewrite
        self.outside_sklearn_calls = outside_sklearn_calls
        self.count = 0
        self._sklearn_depth = 0

    def visit_Call(self, node: cst.Call) -> None:
        if self.calls.get(node, "").startswith("sklearn."):
            self._sklearn_depth += 1

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        name = self.calls.get(original_node, "")
        own = name.startswith("sklearn.")
        inside_sklearn_call = self._sklearn_depth - own > 0
        self._sklearn_depth -= own
        if self.outside_sklearn_calls and inside_sklearn_call:
            return updated_node
        if self.pick(original_node, name):
            self.count += 1
            return self.rewrite(updated_node, name)
        return updated_node


def rewrite_calls(module: cst.Module, calls: Mapping[cst.Call, str], pick: Callable[[cst.Call, str], bool],
                  rewrite: Callable[[cst.Call, str], cst.BaseExpression], outside_sklearn_calls: bool = False
                  ) -> tuple[cst.Module, int]:
    """Rewrite the chosen calls (see ``CallRewriter``); return the new module and how many calls it rewrote."""
    rewriter = CallRewriter(calls, pick, rewrite, outside_sklearn_calls)
    return module.visit(rewriter), rewriter.count


class BlockEditor(cst.CSTTransformer):
    """Call ``edit_block(original_statements, updated_statements)`` on every statement block, and ``edit_list``
    on every list literal, until one of them returns a replacement."""

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


def _is_call_to(statement: cst.CSTNode, target: cst.Call) -> str | None:
    """How ``statement`` holds ``target``: ``add`` (``m.add(target)``), ``apply`` (``x = target(y)``) or None."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        call = small.value
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "add" and call.args \
                and call.args[0].value is target:
            return "add"
    if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call) and small.value.func is target:
        return "apply"
    return None


def _is_simple_apply(statement: cst.CSTNode) -> bool:
    """``x = Layer(...)(y)`` with a plain name on both sides."""
    small = statement.body[0]  # type: ignore[attr-defined]
    return (isinstance(small.targets[0].target, cst.Name) and len(small.value.args) == 1
            and isinstance(small.value.args[0].value, cst.Name))


def _layer_line(statement: cst.SimpleStatementLine, how: str, layer_code: str, chain: str) -> cst.BaseStatement:
    """A new statement in the same style as ``statement``: ``m.add(LAYER)`` or ``chain = LAYER(chain)``."""
    if how == "add":
        receiver = code(statement.body[0].value.func.value)  # type: ignore[attr-defined]
        return stmt(f"{receiver}.add({layer_code})\n")
    return stmt(f"{chain} = {layer_code}({chain})\n")


def _chain_name(statement: cst.CSTNode, before: bool) -> str:
    """In ``y = Layer(...)(x)``: the tensor to extend, ``x`` when inserting before it, ``y`` after it."""
    small = statement.body[0]  # type: ignore[attr-defined]
    if before:
        return code(small.value.args[0].value)
    return code(small.targets[0].target)


def _holds_kind(statement: cst.CSTNode, calls: Mapping[cst.Call, str], kind: str) -> bool:
    return any(layer_kind(name) == kind and _is_call_to(statement, call) for call, name in calls.items())


def insert_layers(module: cst.Module, anchor: cst.Call, layers: list[str], before: bool,
                  skip_following_pool: bool, calls: Mapping[cst.Call, str]) -> cst.Module:
    """Insert layer expressions next to ``anchor`` in a ``model.add`` chain, a layer list or a functional chain.

    Raises:
        SkipTweak: ``anchor`` sits in none of those shapes.
    """

    def edit_block(original: Sequence[cst.CSTNode], updated: list[cst.CSTNode]) -> list[cst.CSTNode] | None:
        for i, statement in enumerate(original):
            how = _is_call_to(statement, anchor)
            if how is None:
                continue
            if how == "apply" and not _is_simple_apply(statement):
                return None
            at = i if before else i + 1
            if not before and skip_following_pool:
                while at < len(original) and _holds_kind(original[at], calls, "pool"):
                    at += 1
            last = statement if before else original[at - 1]
            if how == "apply" and not _is_simple_apply(last):
                return None
            chain = _chain_name(last, before) if how == "apply" else ""
            new_lines = [_layer_line(statement, how, layer, chain) for layer in layers]  # type: ignore[arg-type]
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
        new = [cst.Element(expr(layer), comma=comma) for layer in layers]
        if at == len(elements):  # appending after the last element: it needs a comma now
            new[-1] = new[-1].with_changes(comma=elements[-1].comma)
            elements[-1] = elements[-1].with_changes(comma=comma)
        return updated.with_changes(elements=elements[:at] + new + elements[at:])

    editor = BlockEditor(edit_block, edit_list)
    result = module.visit(editor)
    if not editor.done:
        raise SkipTweak("the layer is not in a model.add(...) chain, a Sequential([...]) list or a simple "
                        "functional chain")
    return result
