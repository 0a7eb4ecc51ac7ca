"""The data schema of a project: inferred from its first accepted snapshot, checked on every later one.

The schema is kept with the project as YAML (``save_schema``/``load_schema``), readable and editable: a user
accepts new data by widening a range, adding a category or loosening a tolerance. Checks run through pandera
(``DataSchema.to_pandera``); each failure becomes an ``Issue``.

Errors (the run stops before training):
- the snapshot has no row; the label column or any column of the schema is missing;
- a column's type changed (a number column holds text, a text column holds numbers, ...);
- the label has missing values, or classes the schema does not know.

Warnings (into the report), with the tolerances of ``Tolerances``:
- numbers outside the schema's range widened by ``range_margin`` of its span on each side (10%), in more than
  ``outside_share`` of the column's values (1%): a long-tailed column always gets a few new extremes;
- categories the schema has not seen (kept for columns with at most ``max_categories`` distinct values);
- a missing ratio that grew by more than ``missing_increase`` (10 points);
- a class share that moved by more than ``class_share_change`` of its value (50%), and by at least
  ``class_share_floor`` (1 point), so that a 2% class moving to 2.3% is noise, to 4% is reported;
- a column the schema does not have.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, Field, ValidationError

from core.data._columns import Kind, Task, class_names, column_kind, label_task, text_values
from core.data.issues import ERROR, WARNING, Issue
from core.errors import DataError

if TYPE_CHECKING:
    import pandera.pandas as pa

SCHEMA_VERSION = 1


class Tolerances(BaseModel):
    """How far a later snapshot may move from the schema before a warning (see the module docstring)."""

    range_margin: float = Field(0.1, ge=0)
    outside_share: float = Field(0.01, ge=0, le=1)
    missing_increase: float = Field(0.1, ge=0, le=1)
    class_share_change: float = Field(0.5, ge=0)
    class_share_floor: float = Field(0.01, ge=0, le=1)
    max_categories: int = Field(50, ge=1)


class ColumnSchema(BaseModel):
    """One column as first seen. ``kind`` is ``None`` when the column held no value at all."""

    kind: Kind | None
    dtype: str
    missing_ratio: float
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None


class DataSchema(BaseModel):
    """Columns, label, classes and tolerances of a project's data."""

    version: Literal[1] = SCHEMA_VERSION
    label: str
    task: Task
    snapshot: str = ""
    rows: int
    columns: dict[str, ColumnSchema]
    classes: dict[str, float] = Field(default_factory=dict)
    tolerances: Tolerances = Field(default_factory=Tolerances)

    def allowed_range(self, column: str) -> tuple[float, float] | None:
        """The range a number column may take without a warning: the seen one widened by ``range_margin``."""
        spec = self.columns[column]
        if spec.minimum is None or spec.maximum is None:
            return None
        span = spec.maximum - spec.minimum or abs(spec.maximum) or 1.0
        margin = self.tolerances.range_margin * span
        return spec.minimum - margin, spec.maximum + margin

    def class_balance_ok(self, labels: pd.Series) -> bool:
        """Whether every known class keeps its share within the tolerances."""
        return not self.shifted_classes(labels)

    def shifted_classes(self, labels: pd.Series) -> dict[str, tuple[float, float]]:
        """Classes whose share moved beyond the tolerances: name -> (schema share, current share)."""
        shares = class_names(labels).value_counts(normalize=True)
        out = {}
        for name, before in self.classes.items():
            now = float(shares.get(name, 0.0))
            limit = max(self.tolerances.class_share_change * before, self.tolerances.class_share_floor)
            if abs(now - before) > limit:
                out[name] = (before, now)
        return out

    def to_pandera(self) -> pa.DataFrameSchema:
        """The pandera ``DataFrameSchema`` that runs the checks (on a frame prepared by ``validate``)."""
        import pandera.pandas as pa

        columns = {}
        for name, spec in self.columns.items():
            is_label = name == self.label
            checks = []
            if not is_label:
                limit = spec.missing_ratio + self.tolerances.missing_increase
                checks.append(pa.Check(_missing_at_most(limit), name="missing_ratio", ignore_na=False))
            if is_label and self.task == "classification":
                known = set(self.classes)
                checks.append(pa.Check(lambda s, known=known: class_names(s).isin(known), name="known_classes"))
                checks.append(pa.Check(self.class_balance_ok, name="class_balance", ignore_na=False))
            elif spec.kind == "number" and (bounds := self.allowed_range(name)) is not None:
                checks.append(pa.Check.in_range(*bounds))
            elif spec.kind == "category" and spec.categories is not None:
                checks.append(pa.Check.isin(spec.categories))
            dtype, coerce = {"number": ("float64", True), "datetime": ("datetime64[ns]", True),
                             "category": (object, False)}.get(spec.kind or "", (None, False))
            columns[name] = pa.Column(dtype, checks, nullable=not is_label, coerce=coerce, required=True)
        return pa.DataFrameSchema(columns, strict=True, name=f"data schema of snapshot {self.snapshot}")


def _missing_at_most(limit: float) -> Callable[[pd.Series], bool]:
    return lambda s: bool(s.isna().mean() <= limit + 1e-12)


def infer_schema(frame: pd.DataFrame, label: str, *, task: Task | None = None, snapshot: str = "",
                 tolerances: Tolerances | None = None) -> DataSchema:
    """Describe a snapshot's columns (kind, range or categories, missing ratio) and class shares.

    Args:
        frame: All rows of the accepted snapshot (``Snapshot.frame``).
        label: The column to predict.
        task: Default: inferred from the label.
        snapshot: The id of the snapshot, kept in the schema to say where it came from.
        tolerances: Default ``Tolerances()``.

    Raises:
        DataError: The frame has no row or no label column.
    """
    tolerances = tolerances or Tolerances()
    if frame.empty:
        raise DataError("cannot infer a data schema from a snapshot with no rows", source=snapshot or None)
    if label not in frame.columns:
        raise DataError(f"label column '{label}' is missing; cannot infer a data schema", column=label,
                        source=snapshot or None)
    task = task or label_task(frame[label])
    columns = {}
    for name in frame.columns:
        series = frame[name]
        kind = column_kind(series)
        spec = ColumnSchema(kind=kind, dtype=str(series.dtype), missing_ratio=float(series.isna().mean()))
        if kind == "number":
            values = series.dropna().astype("float64")
            spec.minimum, spec.maximum = float(values.min()), float(values.max())
        elif kind == "category":
            seen = text_values(series).dropna().unique()
            if len(seen) <= tolerances.max_categories:
                spec.categories = sorted(seen)
        columns[str(name)] = spec
    classes = {}
    if task == "classification":
        shares = class_names(frame[label]).value_counts(normalize=True)
        classes = {str(k): float(v) for k, v in sorted(shares.items())}
    return DataSchema(label=label, task=task, snapshot=snapshot, rows=len(frame), columns=columns,
                      classes=classes, tolerances=tolerances)


def save_schema(schema: DataSchema, path: str | Path) -> Path:
    """Write the schema as YAML (with a header saying how to accept new data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Data schema inferred by mlops from snapshot {schema.snapshot or '(unnamed)'}.\n"
              "# Later snapshots are checked against it. To accept new data, widen a minimum/maximum, add a\n"
              "# category or loosen a tolerance; delete the file to infer it again from the next snapshot.\n")
    body = yaml.safe_dump(schema.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    path.write_text(header + body)
    return path


def load_schema(path: str | Path) -> DataSchema:
    """Read a schema written by ``save_schema`` (possibly edited).

    Raises:
        DataError: The file is missing, is not YAML or does not describe a schema.
    """
    path = Path(path)
    try:
        return DataSchema.model_validate(yaml.safe_load(path.read_text()))
    except OSError as e:
        raise DataError(f"{path}: cannot read the data schema: {e}", source=str(path)) from e
    except yaml.YAMLError as e:
        raise DataError(f"{path}: the data schema is not valid YAML: {e}".replace("\n", " "),
                        source=str(path)) from e
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise DataError(f"{path}: {where}: {first['msg']}; fix it or delete the file to infer it again",
                        source=str(path)) from e


def validate(frame: pd.DataFrame, schema: DataSchema, source: str | None = None) -> list[Issue]:
    """Check a snapshot against the schema.

    Args:
        frame: All rows of the snapshot, or of one file (then pass it as ``source``).
        schema: The project's schema.
        source: The file or collection the rows came from, named in every issue.

    Returns:
        Errors first, then warnings; an empty list when the data matches the schema.
    """
    from pandera.errors import SchemaErrors

    if frame.empty:
        return [Issue(severity=ERROR, message="no rows: the data is empty", source=source)]
    frame = frame.rename(columns=str)
    prepared = _prepared(frame, schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas deprecations raised inside pandera
        try:
            schema.to_pandera().validate(prepared, lazy=True)
            return []
        except SchemaErrors as e:
            cases = e.failure_cases
    return _issues(cases, frame, schema, source)


def _prepared(frame: pd.DataFrame, schema: DataSchema) -> pd.DataFrame:
    """Text and booleans of category columns as text, so categories compare the way they were stored."""
    out = frame.copy()
    for name, spec in schema.columns.items():
        if name not in out.columns or name == schema.label:
            continue
        kind = column_kind(out[name])
        if spec.kind == "category" and kind in ("category", None):
            out[name] = text_values(out[name])
    return out


def _issues(cases: pd.DataFrame, frame: pd.DataFrame, schema: DataSchema, source: str | None) -> list[Issue]:
    found: list[Issue] = []
    broken: set[str] = set()

    def add(severity: str, message: str, column: str | None) -> None:
        found.append(Issue(severity=severity, message=message, column=column, source=source))

    for _, case in cases.iterrows():  # the columns the schema lacks or the data lacks: one row each
        check, value = str(case["check"]), case["failure_case"]
        if check == "column_in_dataframe":
            broken.add(str(value))
            what = "label column" if value == schema.label else "column"
            add(ERROR, f"{what} '{value}' is missing; the data schema (from snapshot {schema.snapshot}) "
                       "expects it", str(value))
        elif check == "column_in_schema":
            add(WARNING, f"column '{value}' is not in the data schema; accept it by inferring the schema again",
                str(value))

    by_column = cases[cases["schema_context"] == "Column"].groupby(["column", "check"], sort=False)
    for (column, check), rows in by_column:
        column, check = str(column), str(check)
        if column in broken:
            continue
        spec = schema.columns[column]
        if check.startswith(("coerce_dtype", "dtype")):
            broken.add(column)
            now = column_kind(frame[column]) or "no value"
            now = now if now != spec.kind else str(frame[column].dtype)
            hint = ""
            if check.startswith("coerce"):  # a few odd strings in a number column may be missing-value markers
                advice = "; add it to na_values if it means missing" if len(rows) <= 0.1 * len(frame) else ""
                hint = f" (e.g. {_show(rows['failure_case'].iloc[0])}{advice})"
            add(ERROR, f"column '{column}': type changed from {spec.kind} to {now}{hint}", column)
    for (column, check), rows in by_column:
        column, check = str(column), str(check)
        if column in broken or check.startswith(("coerce_dtype", "dtype")):
            continue
        message = _message(check, column, rows, frame, schema)
        if message is not None:
            add(*message, column)
    found.sort(key=lambda i: i.severity != ERROR)
    return found


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _show(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def _message(check: str, column: str, rows: pd.DataFrame, frame: pd.DataFrame, schema: DataSchema
             ) -> tuple[str, str] | None:
    n = len(rows)
    examples = ", ".join(_show(v) for v in pd.unique(rows["failure_case"])[:3])
    if check == "not_nullable":
        return ERROR, f"label column '{column}' has no value in {n} of {_rows(len(frame))}; fill or drop them"
    if check == "known_classes":
        unknown = sorted(set(class_names(frame[column]).dropna()) - set(schema.classes))
        return ERROR, (f"label column '{column}' has classes the data schema does not know in {_rows(n)}: "
                       f"{', '.join(map(repr, unknown[:5]))}; check the data or infer the schema again")
    if check == "class_balance":
        moved = schema.shifted_classes(frame[column])
        text = ", ".join(f"'{k}' {a:.1%} -> {b:.1%}" for k, (a, b) in moved.items())
        return WARNING, f"label column '{column}': class balance shifted: {text}"
    if check == "missing_ratio":
        now = float(frame[column].isna().mean())
        return WARNING, (f"column '{column}': missing ratio rose from {schema.columns[column].missing_ratio:.1%} "
                         f"to {now:.1%} (tolerance: +{schema.tolerances.missing_increase * 100:g} points)")
    if check.startswith("in_range"):
        if n <= schema.tolerances.outside_share * frame[column].notna().sum():
            return None  # a few new extremes of a long-tailed column are not news
        low, high = schema.allowed_range(column) or (float("nan"), float("nan"))
        return WARNING, (f"column '{column}': {n} value(s) outside [{low:.6g}, {high:.6g}] (the range seen, "
                         f"widened by {schema.tolerances.range_margin:.0%}), e.g. {examples}")
    if check.startswith("isin"):
        return WARNING, f"column '{column}': {n} value(s) in categories never seen before, e.g. {examples}"
    return WARNING, f"column '{column}': check {check} failed in {n} rows, e.g. {examples}"
