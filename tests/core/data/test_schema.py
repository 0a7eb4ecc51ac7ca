"""The data schema: inferred from a snapshot (the example's batch 1), kept as YAML, and each kind of bad data it
reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.issues import errors, raise_for_errors, warnings
from core.data.schema import DataSchema, infer_schema, load_schema, save_schema, validate
from core.data.snapshot import take_snapshot
from core.errors import DataError
from tests.core.data.conftest import LABEL


@pytest.fixture(scope="module")
def pump_schema(reference: pd.DataFrame) -> DataSchema:
    snap = take_snapshot(reference, LABEL)
    return infer_schema(snap.frame, LABEL, task=snap.summary.task, snapshot=snap.summary.id)


@pytest.fixture(scope="module")
def wine_schema(wines: pd.DataFrame) -> DataSchema:
    return infer_schema(_with_colour(wines), "Class", snapshot="wines-1")


def _with_colour(wines: pd.DataFrame) -> pd.DataFrame:
    """The wine set plus a text column, to have categories."""
    return wines.assign(Colour=np.where(wines["Hue"] > 1, "pale", "deep"))


def test_the_schema_survives_a_round_trip_through_its_yaml_file(pump_schema: DataSchema, tmp_path: Path) -> None:
    path = save_schema(pump_schema, tmp_path / "data-schema.yaml")
    assert path.read_text().startswith("# Data schema inferred by mlops from snapshot")
    assert load_schema(path) == pump_schema
    assert pump_schema.columns["inspection_score"].missing_ratio == pytest.approx(0.8, abs=0.05)
    assert pump_schema.columns["hours_since_service"].kind == "number"  # 'na' read as missing, not as text
    assert pump_schema.columns["site"].categories == ["east", "north", "south", "west"]
    assert pump_schema.columns[LABEL].categories == ["no", "yes"]


def test_another_sample_of_the_same_source_has_no_error(pump_schema: DataSchema, current: pd.DataFrame) -> None:
    issues = validate(current, pump_schema, source="batch-1.csv.gz")
    assert errors(issues) == []
    assert len(warnings(issues)) < 3, [str(i) for i in issues]


def test_the_drifted_batch_has_warnings_but_no_error(pump_schema: DataSchema, drifted: pd.DataFrame) -> None:
    issues = validate(drifted, pump_schema, source="batch-3.csv.gz")
    assert errors(issues) == []
    assert "categories never seen before, e.g. 'harbour'" in _one(issues, "warning", "site")
    assert "missing ratio rose from" in _one(issues, "warning", "humidity_pct")


def _one(issues: list, severity: str, column: str) -> str:
    found = [i for i in issues if i.severity == severity and i.column == column]
    assert len(found) == 1, [str(i) for i in issues]
    assert "\n" not in str(found[0])
    return str(found[0])


def test_a_missing_label_column_is_an_error(wine_schema: DataSchema, wines: pd.DataFrame) -> None:
    issues = validate(_with_colour(wines).drop(columns="Class"), wine_schema, source="wines.csv")
    assert _one(issues, "error", "Class").startswith("wines.csv: label column 'Class' is missing")


def test_a_missing_feature_column_is_an_error(wine_schema: DataSchema, wines: pd.DataFrame) -> None:
    issues = validate(_with_colour(wines).drop(columns="Hue"), wine_schema)
    assert "column 'Hue' is missing" in _one(issues, "error", "Hue")


def test_text_in_a_number_column_is_a_type_change_showing_the_value(wine_schema: DataSchema,
                                                                     wines: pd.DataFrame) -> None:
    rows = _with_colour(wines).astype({"Magnesium": object})
    rows.loc[4, "Magnesium"] = "n/a"
    message = _one(validate(rows, wine_schema), "error", "Magnesium")
    assert "type changed from number to category (e.g. 'n/a'; add it to na_values" in message


def test_numbers_in_a_text_column_and_text_in_the_label_are_type_changes(wine_schema: DataSchema,
                                                                           wines: pd.DataFrame) -> None:
    rows = _with_colour(wines)
    rows["Colour"] = (rows["Colour"] == "pale").astype(int)
    rows["Class"] = rows["Class"].map({1: "one", 2: "two", 3: "three"})
    issues = validate(rows, wine_schema)
    assert "column 'Colour': type changed from category to number" in _one(issues, "error", "Colour")
    assert "column 'Class': type changed from number to category" in _one(issues, "error", "Class")


def test_a_label_without_value_or_with_an_unknown_class_is_an_error(wine_schema: DataSchema,
                                                                     wines: pd.DataFrame) -> None:
    rows = _with_colour(wines).astype({"Class": "float64"})
    rows.loc[[1, 2], "Class"] = np.nan
    assert "label column 'Class' has no value in 2 of 178 rows" in _one(validate(rows, wine_schema), "error",
                                                                         "Class")
    rows = _with_colour(wines)
    rows.loc[7, "Class"] = 4
    assert "classes the data schema does not know in 1 row: '4'" in _one(validate(rows, wine_schema), "error",
                                                                          "Class")


def test_an_empty_snapshot_is_an_error(wine_schema: DataSchema, wines: pd.DataFrame) -> None:
    issues = validate(wines.iloc[0:0], wine_schema, source="mongodb:wines")
    assert [str(i) for i in errors(issues)] == ["mongodb:wines: no rows: the data is empty"]


def test_values_far_out_of_range_are_a_warning_but_a_few_new_extremes_are_not(pump_schema: DataSchema,
                                                                              current: pd.DataFrame) -> None:
    quiet = {i.column for i in validate(current, pump_schema)}
    shifted = current.assign(temperature_c=current["temperature_c"] * 10)
    issues = validate(shifted, pump_schema)
    assert errors(issues) == []
    assert "temperature_c" not in quiet
    message = _one(issues, "warning", "temperature_c")
    assert "value(s) outside" in message and "widened by 10%" in message


def test_a_grown_missing_ratio_an_unseen_category_and_a_new_column_are_warnings(wine_schema: DataSchema,
                                                                                wines: pd.DataFrame) -> None:
    rows = _with_colour(wines)
    rows.loc[:40, "Ash"] = np.nan
    rows.loc[3, "Colour"] = "purple"
    rows["Vintage"] = 2020
    issues = validate(rows, wine_schema)
    assert errors(issues) == []
    assert f"missing ratio rose from 0.0% to {41 / 178:.1%}" in _one(issues, "warning", "Ash")
    assert "categories never seen before, e.g. 'purple'" in _one(issues, "warning", "Colour")
    assert "column 'Vintage' is not in the data schema" in _one(issues, "warning", "Vintage")


def test_a_shifted_class_balance_is_a_warning(pump_schema: DataSchema, reference: pd.DataFrame,
                                              current: pd.DataFrame) -> None:
    assert LABEL not in {i.column for i in validate(current, pump_schema)}  # a share moving by a point: noise
    failures = current[current[LABEL] == "yes"]
    skewed = pd.concat([current, failures, failures], ignore_index=True)
    before = (reference[LABEL] == "yes").mean()
    now = (skewed[LABEL] == "yes").mean()
    message = _one(validate(skewed, pump_schema), "warning", LABEL)
    assert message.endswith(f"class balance shifted: 'yes' {before:.1%} -> {now:.1%}")


def test_errors_stop_with_one_data_error_listing_a_reason_per_line(wine_schema: DataSchema,
                                                                    wines: pd.DataFrame) -> None:
    rows = _with_colour(wines).drop(columns=["Hue", "Ash"])
    rows.loc[0, "Class"] = 7
    issues = validate(rows, wine_schema, source="wines.csv")
    with pytest.raises(DataError) as caught:
        raise_for_errors(issues)
    lines = str(caught.value).splitlines()
    assert len(lines) == 3 and all(line.startswith("wines.csv: ") for line in lines)
    assert caught.value.source == "wines.csv"
    raise_for_errors(validate(_with_colour(wines), wine_schema))  # no error: returns


def test_a_broken_schema_file_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "data-schema.yaml"
    path.write_text("version: 1\nlabel: class\ntask: clustering\nrows: 3\ncolumns: {}\n")
    with pytest.raises(DataError, match=r"data-schema.yaml: task: Input should be 'classification'"):
        load_schema(path)
