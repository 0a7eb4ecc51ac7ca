"""core.data is the bottom layer, and importing it costs nothing until a name is used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.slow
def test_importing_the_package_loads_no_data_library() -> None:
    loaded = _modules_after("import core.data")
    assert not loaded & {"pandas", "pandera", "scipy", "sklearn", "pyarrow"}


@pytest.mark.slow
def test_the_data_modules_import_nothing_from_the_layers_above() -> None:
    loaded = _modules_after("from core.data import sources, snapshot, schema, drift, transform, issues\n"
                            "from core.data import detect_drift, take_snapshot, validate, fitted_transform")
    above = sorted(m for m in loaded if m.split(".")[0] in ("training", "monitor") or m in ("mlops.cli",
                                                                                             "mlops.runner"))
    assert above == []
    assert "core.data.schema" in loaded
