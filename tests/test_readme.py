"""The README's quickstart: exactly two commands, and `make run` works from a clean clone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
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


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean clone of the repository (its committed files only), shared by the README's tests."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    folder = tmp_path_factory.mktemp("readme") / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    return folder


def user_env(home: Path) -> dict[str, str]:
    """A user's shell on a laptop with nothing else: its own home, no Docker engine."""
    env = {**os.environ, "MLOPS_HOME": str(home), "DOCKER_HOST": "unix:///nonexistent.sock"}
    for name in ("MLOPS_HARNESS_STRICT", "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "VIRTUAL_ENV",
                 "MLOPS_FEEDBACK_TOKEN"):  # typed by a user (or set by make test), not in a user's shell
        env.pop(name, None)
    return env


@pytest.mark.slow
def test_make_run_works_in_a_clean_clone(clone: Path, tmp_path: Path) -> None:
    env = user_env(tmp_path / "home")
    proc = subprocess.run(["make", "run"], cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("PASSED  accuracy") and "vs target 0.9" in last  # the README's "ends with a line like"
    assert (clone / ".venv" / "bin" / "mlops").exists()
    assert list((tmp_path / "home" / "outbox").glob("*.eml"))


def loop_commands() -> list[str]:
    """The sh block of the README's "The loop in a few commands"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The loop in a few commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the loop section has a sh code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readmes_loop_runs_as_written_and_ends_with_the_retrained_version_serving(clone: Path,
                                                                                      mlops_home: Path) -> None:
    from core.records import AliasMove
    from monitor.units import local_units

    commands = loop_commands()
    assert any(c.startswith("mlops monitor") for c in commands) and any("mlops feedback" in c for c in commands)
    env = user_env(mlops_home)  # the test's own home, which local_units() below reads too
    assert subprocess.run(["make", "setup"], cwd=clone, env=env, capture_output=True, timeout=1200).returncode == 0
    script = "set -e\n" + "\n".join(commands) + "\n"
    start = time.monotonic()
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True,
                              timeout=900)
        took = time.monotonic() - start
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
        print(f"the README's loop took {took:.0f} s")
        models = subprocess.run([str(clone / ".venv" / "bin" / "mlops"), "models", "pump-failures-data", "--json"],
                                cwd=clone, env=env, capture_output=True, text=True, timeout=120)
        registry = json.loads(models.stdout)
        moves = [AliasMove(**m) for m in registry["history"] if m["alias"] == "production"]
        assert [m.version for m in moves][:1] == [1] and registry["aliases"]["production"] > 1  # retrained
        assert "UNDER_THRESHOLD" in proc.stdout and "the retrain ended with exit code 0" in proc.stderr + proc.stdout
        serving = [u for u in local_units("pump-failures-data") if u.state() == ("running", "healthy")]
        assert [u.version for u in serving] == [registry["aliases"]["production"]]  # the new version answers
        assert (clone / "project-page" / "index.html").is_file() and (clone / "answers.csv").is_file()
    finally:
        for unit in local_units("pump-failures-data"):
            unit.remove()

