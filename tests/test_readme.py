"""The README's quickstart: exactly two commands, and `make run` works from a clean clone."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the Quickstart has a sh code block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_quickstart_is_the_two_make_commands_and_ci_runs_the_second() -> None:
    assert quickstart_commands() == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: setup$", makefile, re.M) and re.search(r"^test: setup$", makefile, re.M)


@pytest.mark.slow
def test_make_run_works_in_a_clean_clone(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "home"), "DOCKER_HOST": "unix:///nonexistent.sock"}
    for name in ("MLOPS_HARNESS_STRICT", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"):  # typed by a user, not in make test
        env.pop(name, None)
    proc = subprocess.run(["make", "run"], cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("PASSED  accuracy") and "vs target 0.9" in last  # the README's "ends with a line like"
    assert (clone / ".venv" / "bin" / "mlops").exists()
    assert list((tmp_path / "home" / "outbox").glob("*.eml"))
