"""Findings about a snapshot: errors stop a run before training, warnings go into the report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.errors import DataError

ERROR, WARNING = "error", "warning"
#: At most this many reasons are listed in one ``DataError``; the rest are counted.
MAX_LISTED = 20


class Issue(BaseModel):
    """One finding, printable on one line.

    Attributes:
        severity: ``error`` (the run stops) or ``warning`` (reported).
        message: One line naming the column, e.g. ``column 'aa_000': type changed from number to text``.
        column: The column concerned, if one is.
        source: The file or collection the data came from, if known.
    """

    model_config = ConfigDict(frozen=True)

    severity: Literal["error", "warning"]
    message: str
    column: str | None = None
    source: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


def errors(issues: Iterable[Issue]) -> list[Issue]:
    """The issues that must stop a run."""
    return [i for i in issues if i.severity == ERROR]


def warnings(issues: Iterable[Issue]) -> list[Issue]:
    """The issues that only go into the report."""
    return [i for i in issues if i.severity == WARNING]


def raise_for_errors(issues: Iterable[Issue]) -> None:
    """Raise one ``DataError`` listing every error, one reason per line; do nothing when there is none.

    Raises:
        DataError: At least one issue is an error. Its ``source`` and ``column`` are set when all errors share one.
    """
    found = errors(issues)
    if not found:
        return
    lines = [str(i) for i in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(f"... and {len(found) - MAX_LISTED} more data errors")
    sources = {i.source for i in found}
    columns = {i.column for i in found}
    raise DataError("\n".join(lines), source=sources.pop() if len(sources) == 1 else None,
                    column=columns.pop() if len(columns) == 1 else None)
