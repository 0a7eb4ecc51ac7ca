"""The "Validate data" stage through the real command line: `mlops data load` and `mlops data validate`, bad data
stopping a run with one line that names the column or the file, and nothing stored being lost."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.store import get_run_store
from tests.conftest import PUMP_BATCHES, WINES, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def wine_project(folder: Path, yaml: str = "", rows: pd.DataFrame | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (rows if rows is not None else pd.read_csv(WINES)).to_csv(folder / "wines.csv", index=False)
    (folder / "mlops.yaml").write_text("name: wine\ndata:\n  path: wines.csv\n  label: Class\n" + yaml)
    return folder


def validate(project: Path) -> tuple[int, dict | None, str]:
    proc = mlops("data", "validate", str(project), "--json", env=NO_DOCKER)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr


@pytest.mark.slow
def test_the_first_snapshot_gives_the_schema_and_a_later_one_is_checked_against_it(tmp_path: Path,
                                                                                   mlops_home: Path) -> None:
    project = wine_project(tmp_path / "wine")
    code, first, err = validate(project)
    assert code == 0, err
    assert first["schema_inferred"] and Path(first["schema_path"]) == mlops_home / "projects/wine/schema.yaml"
    splits = first["snapshot"]["splits"]
    assert sum(s["rows"] for s in splits.values()) == 178 and splits["test"]["classes"] == {"1": 9, "2": 11, "3": 7}
    assert (mlops_home / "snapshots" / first["snapshot"]["id"] / "test.parquet").is_file()
    code, again, _ = validate(project)
    assert code == 0 and not again["schema_inferred"] and again["snapshot"]["id"] == first["snapshot"]["id"]
    assert "no errors, 0 warning(s)" in mlops("data", "validate", str(project)).stdout


@pytest.mark.parametrize(("change", "message"), [
    ("label", "error: label column 'Class' is missing from wines.csv"),
    ("type", "column 'Magnesium': type changed from number to category"),
    ("class", "label column 'Class' has classes the data schema does not know in 5 rows: '4'"),
    ("column", "column 'Proline' is missing; the data schema (from snapshot"),
])
@pytest.mark.slow
def test_data_that_breaks_the_schema_stops_the_stage_with_one_line_and_stores_nothing(
        tmp_path: Path, mlops_home: Path, change: str, message: str) -> None:
    project = wine_project(tmp_path / "wine")
    assert validate(project)[0] == 0
    schema = (mlops_home / "projects/wine/schema.yaml").read_text()
    snapshots = sorted(p.name for p in (mlops_home / "snapshots").iterdir())
    rows = pd.read_csv(WINES)
    if change == "label":
        rows = rows.rename(columns={"Class": "Klass"})
    elif change == "type":
        rows["Magnesium"] = rows["Magnesium"].astype(object)
        rows.loc[: len(rows) // 2, "Magnesium"] = "high"
    elif change == "class":
        rows.loc[:4, "Class"] = 4
    else:
        rows = rows.drop(columns="Proline")
    wine_project(project, rows=rows)
    proc = mlops("data", "validate", str(project), env=NO_DOCKER)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert (mlops_home / "projects/wine/schema.yaml").read_text() == schema
    assert sorted(p.name for p in (mlops_home / "snapshots").iterdir()) == snapshots
    run = mlops("run", str(project), env=NO_DOCKER)
    assert run.returncode == 1 and message in run.stderr and get_run_store().find_runs() == []


@pytest.mark.slow
def test_a_collection_is_loaded_once_and_an_empty_one_is_named(tmp_path: Path) -> None:
    csv = tmp_path / "wines.csv"
    pd.read_csv(WINES).to_csv(csv, index=False)
    copy = tmp_path / "the same rows under another name.csv"
    copy.write_bytes(csv.read_bytes())
    first = json.loads(mlops("data", "load", str(csv), "--collection", "wines", "--json").stdout)
    again = json.loads(mlops("data", "load", str(copy), "--collection", "wines", "--json").stdout)
    assert first["inserted"] == 178 and again["inserted"] == 0 and again["files"][0]["already_loaded"]
    assert get_run_store().data_collection("wines").count_documents({}) == 178
    project = tmp_path / "p"
    project.mkdir()
    (project / "mlops.yaml").write_text("data: {mongodb: nothing_here, label: Class}\n")
    proc = mlops("data", "validate", str(project))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "collection 'nothing_here' is empty: load data into it first" in proc.stderr
    refused = mlops("data", "load", str(csv), "--collection", "runs")
    assert refused.returncode == 1 and "'runs' cannot hold data" in refused.stderr


@pytest.mark.slow
def test_a_missing_file_and_a_cost_metric_on_three_classes_are_refused(tmp_path: Path) -> None:
    project = wine_project(tmp_path / "wine")
    (project / "mlops.yaml").write_text("data: {path: [wines.csv, more-*.csv], label: Class}\n")
    proc = mlops("data", "validate", str(project))
    assert proc.returncode == 1 and "data.path: no file matches 'more-*.csv'" in proc.stderr
    (project / "mlops.yaml").write_text("data: {path: wines.csv, label: Class}\nmetric: cost\ntarget: 100\n")
    proc = mlops("data", "validate", str(project))
    assert proc.returncode == 1 and "metric cost needs two classes, but label column 'Class' has 3" in proc.stderr


@pytest.mark.slow
def test_a_project_without_data_has_nothing_to_validate(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import sklearn\n")
    proc = mlops("data", "validate", str(tmp_path))
    assert proc.returncode == 0 and "nothing to validate" in proc.stdout


@pytest.mark.slow
def test_a_collection_loaded_without_the_marker_is_read_with_the_projects_na_values(tmp_path: Path) -> None:
    loaded = mlops("data", "load", str(PUMP_BATCHES[0]), "--collection", "pumps", "--json")  # no --na-value
    assert loaded.returncode == 0 and json.loads(loaded.stdout)["inserted"] == 2000, loaded.stderr
    markers = json.loads(loaded.stdout)["files"][0]["markers"]
    assert markers == {"na": ["hours_since_service", "vibration_mm_s", "humidity_pct", "inspection_score"]}
    said = mlops("data", "load", str(PUMP_BATCHES[1]), "--collection", "more_pumps")
    assert "hold numbers and the text 'na'" in said.stdout + said.stderr
    assert "declare it in mlops.yaml: data: {na_values: [na]}" in said.stdout + said.stderr
    project = tmp_path / "pumps"
    project.mkdir()
    (project / "mlops.yaml").write_text("data: {mongodb: pumps, label: failure, na_values: [na]}\n")
    code, check, err = validate(project)
    assert code == 0, err
    schema = (Path(check["schema_path"])).read_text()
    assert "hours_since_service:\n    kind: number" in schema and "lubricant:\n    kind: category" in schema
    assert "- na\n" not in schema  # the marker is a missing value, never a category
