"""Data for the data-layer tests: the example data project's batches (examples/pump-failures-data: numbers and
categories, ``na`` for missing values, a rare class, later batches that drift) and the wine set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import PUMP_BATCHES, WINES

NA = ["na"]
LABEL = "failure"
#: Rows of batch 1 taken as the reference; the others are another sample of the same source.
REFERENCE_ROWS = 1200


@pytest.fixture(scope="session")
def batch1() -> pd.DataFrame:
    """Batch 1 of the example (2000 rows), ``na`` read as missing."""
    return pd.read_csv(PUMP_BATCHES[0], na_values=NA)


@pytest.fixture(scope="session")
def reference(batch1: pd.DataFrame) -> pd.DataFrame:
    """The first 1200 rows of batch 1."""
    return batch1.iloc[:REFERENCE_ROWS].reset_index(drop=True)


@pytest.fixture(scope="session")
def current(batch1: pd.DataFrame) -> pd.DataFrame:
    """The other 800 rows of batch 1: the same source, no drift."""
    return batch1.iloc[REFERENCE_ROWS:].reset_index(drop=True)


@pytest.fixture(scope="session")
def drifted() -> pd.DataFrame:
    """Batch 3: recalibrated vibration sensors, a new site, humidity often missing."""
    return pd.read_csv(PUMP_BATCHES[2], na_values=NA)


@pytest.fixture(scope="session")
def wines() -> pd.DataFrame:
    return pd.read_csv(WINES)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Any]:
    """The embedded run store's database (pymongo API)."""
    from core.store import get_run_store

    store = get_run_store(None, home=tmp_path / "store-home")
    yield store._db
    store.close()
