"""Real data for the data-layer tests: the APS subset files and the wine set in /work/shared/data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

DATA = Path("/work/shared/data")
APS_FILES = sorted(DATA.glob("aps_subset_*.csv.gz"))
WINES = DATA / "wines.csv.gz"
NA = ["na"]


@pytest.fixture(scope="session", autouse=True)
def _real_data_present() -> None:
    if len(APS_FILES) != 3 or not WINES.is_file():
        pytest.skip(f"the shared data files are not in {DATA}")


@pytest.fixture(scope="session")
def aps_reference() -> pd.DataFrame:
    """APS files 1 and 2 (6000 rows)."""
    return pd.concat([pd.read_csv(f, na_values=NA) for f in APS_FILES[:2]], ignore_index=True)


@pytest.fixture(scope="session")
def aps_current() -> pd.DataFrame:
    """APS file 3 (3000 rows)."""
    return pd.read_csv(APS_FILES[2], na_values=NA)


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
