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
from tests.core.data.conftest import APS_FILES, NA, WINES


def test_an_aps_file_loaded_into_the_store_reads_back_as_the_same_data_and_loading_it_again_adds_nothing(
        database: Any) -> None:
    collection = database["aps"]
    seen: list[tuple[str, int, int]] = []
    first = load_files(collection, [APS_FILES[0]], batch_size=1000, na_values=NA,
                       progress=lambda f, done, total: seen.append((Path(f).name, done, total)))
    assert (first.inserted, first.files[0].rows, first.files[0].already_loaded) == (3000, 3000, False)
    assert [done for _, done, _ in seen] == [1000, 2000, 3000]
    assert {total for _, _, total in seen} == {3000}

    from_file = read_file(APS_FILES[0], NA)
    from_store = read_collection(collection)
    assert list(from_store.columns) == list(from_file.columns)
    assert content_hash(from_store) == content_hash(from_file)
    assert from_store["ab_000"].isna().sum() == from_file["ab_000"].isna().sum() > 0

    again = load_files(collection, [APS_FILES[0]], na_values=NA)
    assert (again.inserted, again.files[0].already_loaded) == (0, True)
    assert collection.count_documents({}) == 3000


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
    text = tmp_path / "aps.csv.gz"
    shutil.copy(APS_FILES[0], text)
    as_text = pd.read_csv(text, dtype=str, keep_default_na=False)  # 'na' kept as a string
    as_text.to_parquet(tmp_path / "aps.parquet", index=False)
    parquet = read_file(tmp_path / "aps.parquet", NA)
    assert parquet["ab_000"].isna().sum() == read_file(text, NA)["ab_000"].isna().sum() > 0
    assert read_file(text, NA).shape == parquet.shape
