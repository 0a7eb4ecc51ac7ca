"""Reading files and collections, and loading files into a collection, on the embedded store."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.data.snapshot import content_hash
from core.data.sources import load_files, read_collection, read_file, read_files
from core.errors import DataError
from tests.conftest import PUMP_BATCHES, WINES
from tests.core.data.conftest import NA


def test_a_file_loaded_into_the_store_reads_back_as_the_same_data_and_loading_it_again_adds_nothing(
        database: Any) -> None:
    collection = database["pumps"]
    seen: list[tuple[str, int, int]] = []
    first = load_files(collection, [PUMP_BATCHES[0]], batch_size=500, na_values=NA,
                       progress=lambda f, done, total: seen.append((Path(f).name, done, total)))
    assert (first.inserted, first.files[0].rows, first.files[0].already_loaded) == (2000, 2000, False)
    assert [done for _, done, _ in seen] == [500, 1000, 1500, 2000]
    assert {total for _, _, total in seen} == {2000}

    from_file = read_file(PUMP_BATCHES[0], NA)
    from_store = read_collection(collection)
    assert list(from_store.columns) == list(from_file.columns)
    assert content_hash(from_store) == content_hash(from_file)
    assert from_store["hours_since_service"].isna().sum() == from_file["hours_since_service"].isna().sum() > 0

    again = load_files(collection, [PUMP_BATCHES[0]], na_values=NA)
    assert (again.inserted, again.files[0].already_loaded) == (0, True)
    assert collection.count_documents({}) == 2000


def test_the_same_content_under_another_name_or_compression_is_not_loaded_twice(database: Any,
                                                                                 tmp_path: Path) -> None:
    plain = tmp_path / "wines-copy.csv"
    plain.write_bytes(gzip.decompress(WINES.read_bytes()))
    collection = database["wines"]
    load_files(collection, [WINES])
    report = load_files(collection, [plain])
    assert (report.inserted, report.files[0].already_loaded) == (0, True)
    assert collection.count_documents({}) == 178


def test_a_load_cut_short_resumes_without_duplicating_rows(database: Any) -> None:
    collection = database["wines"]

    def stop_after_first_batch(_file: str, done: int, _total: int) -> None:
        if done == 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_files(collection, [WINES], batch_size=50, progress=stop_after_first_batch)
    assert collection.count_documents({}) == 50

    report = load_files(collection, [WINES], batch_size=50)
    assert (report.inserted, report.files[0].already_loaded) == (128, False)
    assert collection.count_documents({}) == 178
    assert content_hash(read_collection(collection)) == content_hash(read_file(WINES))


def test_a_file_whose_columns_differ_from_the_loaded_ones_is_refused_and_adds_nothing(
        database: Any, tmp_path: Path) -> None:
    collection = database["wines"]
    load_files(collection, [WINES])
    other = tmp_path / "wines-no-hue.csv"
    read_file(WINES).drop(columns="Hue").head(10).to_csv(other, index=False)
    with pytest.raises(DataError, match=r"wines-no-hue.csv: its columns differ .*missing 'Hue'") as caught:
        load_files(collection, [other])
    assert (caught.value.source, caught.value.column) == (str(other), "Hue")
    assert collection.count_documents({}) == 178


def test_a_missing_file_stops_a_load_before_anything_is_stored(database: Any, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"gone\.csv: no such file"):
        load_files(database["wines"], [WINES, tmp_path / "gone.csv"])
    assert database["wines"].count_documents({}) == 0


def test_an_empty_collection_is_a_one_line_error_naming_it(database: Any) -> None:
    with pytest.raises(DataError, match=r"collection 'nothing' is empty.*`mlops data load FILE --collection nothing`"):
        read_collection(database["nothing"])


def test_files_with_different_columns_cannot_be_read_together(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    pd.DataFrame({"Class": [1], "Colour": ["red"]}).to_csv(other, index=False)
    with pytest.raises(DataError, match=r"other.csv: its columns differ from wines.csv.gz: missing 'Alcohol'"):
        read_files([WINES, other])


@pytest.mark.parametrize(("name", "message"), [
    ("missing.csv", "missing.csv: no such file"),
    ("data.xlsx", "data.xlsx: unsupported file type"),
    ("broken.csv.gz", "broken.csv.gz: cannot be read as csv"),
])
def test_a_bad_file_is_a_one_line_error_naming_it(tmp_path: Path, name: str, message: str) -> None:
    if name != "missing.csv":
        (tmp_path / name).write_bytes(b"\x00 not a gzip stream")
    with pytest.raises(DataError, match=message) as caught:
        read_files([tmp_path / name])
    assert "\n" not in str(caught.value)
    assert caught.value.source == str(tmp_path / name)


def test_parquet_files_are_read_with_na_values_and_hash_like_the_csv(tmp_path: Path) -> None:
    text = tmp_path / "pumps.csv.gz"
    shutil.copy(PUMP_BATCHES[0], text)
    as_text = pd.read_csv(text, dtype=str, keep_default_na=False)  # 'na' kept as a string
    as_text.to_parquet(tmp_path / "pumps.parquet", index=False)
    parquet = read_file(tmp_path / "pumps.parquet", NA)
    column = "hours_since_service"
    assert parquet[column].isna().sum() == read_file(text, NA)[column].isna().sum() > 0
    assert parquet[column].dtype == "float64"  # it held the marker: typed as the CSV reader types it
    assert parquet["age_years"].dtype == object  # text in the Parquet file, no marker: text, as the file says
    assert read_file(text, NA).shape == parquet.shape


def test_files_loaded_without_the_missing_value_marker_read_back_typed_with_the_projects_markers(
        database: Any) -> None:
    collection = database["pumps"]
    load_files(collection, [PUMP_BATCHES[0]])  # `mlops data load` without --na-value: 'na' stored as text
    from_file = read_file(PUMP_BATCHES[0], NA)
    from_store = read_collection(collection, NA)  # the project's na_values: [na]
    assert content_hash(from_store) == content_hash(from_file)
    assert from_store["hours_since_service"].dtype == "float64"
    assert from_store["hours_since_service"].isna().sum() == from_file["hours_since_service"].isna().sum() > 0
    assert from_store["lubricant"].isna().sum() == from_file["lubricant"].isna().sum() > 0
    assert "na" not in set(from_store["lubricant"].dropna())
    as_stored = read_collection(collection)  # no marker declared: the text stays a category, as in the file
    assert as_stored["hours_since_service"].dtype == object and "na" in set(as_stored["hours_since_service"])


def test_the_aps_files_loaded_without_their_marker_give_numeric_sensor_columns(database: Any) -> None:
    from tests.conftest import aps_files

    first = aps_files()[0]
    collection = database["aps"]
    load_files(collection, [first])
    rows = read_collection(collection, NA)
    text = [c for c in rows.columns if c != "class" and rows[c].dtype == object]
    assert text == []  # it was 17 columns of numbers typed as categories
    assert content_hash(rows) == content_hash(read_file(first, NA))


def test_without_the_aps_folder_its_tests_skip_naming_the_variable_and_fail_when_it_is_required(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.conftest import aps_files

    monkeypatch.delenv("MLOPS_TEST_APS_DIR", raising=False)
    monkeypatch.delenv("MLOPS_REQUIRE_APS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="MLOPS_TEST_APS_DIR is not set"):
        aps_files()
    monkeypatch.setenv("MLOPS_TEST_APS_DIR", str(tmp_path))
    monkeypatch.setenv("MLOPS_REQUIRE_APS", "1")
    with pytest.raises(pytest.fail.Exception, match=f"MLOPS_REQUIRE_APS=1 but MLOPS_TEST_APS_DIR={tmp_path} does not"):
        aps_files()
