"""Fixtures of the serving tests."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def python() -> str:
    """The serving virtualenv of the scikit-learn kind (trial packages + requirements-serve.txt)."""
    from core.infra.virtualenvs import Virtualenvs

    venvs, extra = Virtualenvs(), (ROOT / "requirements-serve.txt",)
    venvs.prepare("ml", print, extra=extra)
    return str(venvs.python_of("ml", extra))
