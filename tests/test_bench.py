"""Every benchmark runs in quick mode (``python -m bench.NAME --quick``), so that a change cannot break one unseen."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DOCKER = pytest.mark.docker
#: Benchmark -> what its output must show (its table or its ratios), and its marks.
BENCHES = {
    "capture_writes": (["random / ours", "last quarter of the fill: ours"], ()),
    "data": (["x CSV read", "snapshot: hash + stratified split", "drift share"], ()),
    "forest_scoring": (["walk vs estimator", "extra trees on"], ()),
    "overhead": (["fixed cost s", "docker warm", "warm/cold"], (DOCKER,)),
    "recovery": (["epochs lost per kill", "final model equals the uninterrupted run: yes", "death -> healthy",
                  "/predict scikit-learn (wine), batch of 64"], (DOCKER,)),
    "retrain": (["from the crossing label to v2 serving"] if os.environ.get("MLOPS_TEST_APS_DIR")
                else ["skipped: MLOPS_TEST_APS_DIR is not set"], ()),
    "sandbox": (["bubblewrap warm", "goal: a sandboxed warm trial <= 1 s"], ()),
    "serving": (["overhead over the model's predict, p50", "8 connections / 1 connection",
                 "capture cost at 8 connection(s)", "rows captured / requests answered"], ()),
    "tuning": (["median trials", "success ratio optuna/random"], ()),
    "workers": (["median speed-up with 2 workers", "16 agents"], ()),
}


def test_every_benchmark_is_run_here() -> None:
    modules = {p.stem for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")}
    packages = {p.parent.name for p in (ROOT / "bench").glob("*/__main__.py")}
    assert modules | packages == set(BENCHES)


def _docker_or_skip() -> None:
    from core.infra.docker_engine import docker_client

    client, reason = docker_client()
    if client is None:
        pytest.skip(f"no Docker engine answers ({reason}); start one with scripts/start-dockerd")


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(name, marks=marks) for name, (_, marks) in BENCHES.items()])
def test_benchmark_runs_in_quick_mode_and_prints_its_figures(name: str, request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker"):
        _docker_or_skip()
    proc = subprocess.run([sys.executable, "-m", f"bench.{name}", "--quick"], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for line in BENCHES[name][0]:
        assert line in proc.stdout, (line, proc.stdout[-3000:])
