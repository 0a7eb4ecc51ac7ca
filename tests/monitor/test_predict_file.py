"""``mlops predict``: a CSV file of rows scored on a real serving unit by column name, its answers written with
their inference ids, and that file sent back as labels with ``mlops feedback``."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from monitor.predict_file import read_rows
from monitor.serving.capture import SpoolCapture
from tests.conftest import ROOT, mlops
from tests.monitor.test_feedback import TOKEN, model, predict, server  # noqa: F401 - the trained model fixture

WINES = ROOT / "examples" / "wine-sklearn" / "wines.csv.gz"


def test_rows_are_read_by_name_with_numbers_categories_and_missing_values_as_null(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("size,colour,price,label\n1.5,green,na,yes\n,red,3,no\n")
    rows, labels = read_rows(path, "label", na_values=("na",))
    assert rows == [{"size": 1.5, "colour": "green", "price": None}, {"size": None, "colour": "red", "price": 3}]
    assert labels == ["yes", "no"]


@pytest.mark.slow
def test_a_missing_label_column_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,2\n")
    done = mlops("predict", "wine", str(path), "--label-column", "Class", "--url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path}: no column 'Class' for --label-column (it has: a, b)"


@pytest.mark.slow
def test_a_file_is_scored_by_column_name_and_its_answers_go_back_as_labels(python, model, tmp_path):  # noqa: F811
    lines = gzip.decompress(WINES.read_bytes()).decode().splitlines()[:61]  # the header and 60 wines
    rows_file = tmp_path / "wines.csv"
    rows_file.write_text("\n".join(lines) + "\n")
    with open(rows_file, newline="") as f:
        wines = list(csv.DictReader(f))
    values = [[float(v) for k, v in w.items() if k != "Class"] for w in wines]
    spool = tmp_path / "spool"
    answers = tmp_path / "answers.csv"
    with server(python, model, spool) as url:
        expected = predict(url, values)["predictions"]
        done = mlops("predict", "wine", str(rows_file), "--label-column", "Class", "--url", url, "--out",
                     str(answers))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (f"wine: 60 row(s) scored by v4, written to {answers}; send the labels with "
                                       f"'mlops feedback wine {answers}'")
        with open(answers, newline="") as f:
            written = list(csv.DictReader(f))
        assert [int(w["prediction"]) for w in written] == expected  # by name, the same answers as by position
        assert [w["label"] for w in written] == [w["Class"] for w in wines]
        assert len({w["inference_id"] for w in written}) == 60
        sent = mlops("feedback", "wine", str(answers), "--url", url, env={"MLOPS_FEEDBACK_TOKEN": TOKEN})
        assert sent.returncode == 0, sent.stderr
    labelled = SpoolCapture(spool).labelled("wine")
    assert len(labelled) == 60
