"""Faults that must not leave the store lying: a driver killed with -9, SIGTERM and SIGINT, a full disk, a read-only
``MLOPS_HOME``, a damaged store configuration. Each ends with one line and a non-zero exit code, and the store says
what happened."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.config import ProjectConfig
from core.records import Run, RunStatus, Trial
from core.store import get_run_store
from tests.conftest import EXAMPLES, ROOT, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
WINE = (EXAMPLES / "wine-knn-unscaled" / "train.py").read_text()
#: Each trial takes three seconds: long enough to be caught running.
SLOW_KNN = WINE.replace("knn.fit(X_train, y_train)", "import time\ntime.sleep(3)\nknn.fit(X_train, y_train)")


def knn_project(project_factory, script: str = WINE, config: str = "target: 1.0\nstrategy: ladder\n") -> Path:
    p = project_factory({"train.py": script, "mlops.yaml": config})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-knn-unscaled" / "wines.csv.gz").read_bytes())
    return p


def no_traceback(text: str) -> bool:
    """No Python traceback of ours (a trial's own output is shown indented, as ``    | ...``)."""
    return not any(line.startswith(("Traceback", "Exception in thread")) for line in text.splitlines())


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted on ``folder`` for the test (root only: the test is skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a small disk) needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# -- a driver that is gone -----------------------------------------------------------------------

DRIVER_KILLED_MID_TRIAL = """
import os, signal, sys
from core.records import Run, Trial
from core.store import get_run_store, this_worker
store = get_run_store()
run = store.create_run(Run(project="wine", path=sys.argv[1], metric="accuracy", target=0.9, owner=this_worker()))
store.create_trial(run.id, Trial(label="baseline (as pushed)", worker=this_worker()))
print(run.id, os.getpid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_run_whose_driver_was_killed_shows_as_interrupted_in_every_command(tmp_path: Path) -> None:
    killed = subprocess.run([sys.executable, "-c", DRIVER_KILLED_MID_TRIAL, str(tmp_path)], capture_output=True,
                            text=True, cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL
    run_id, pid = killed.stdout.split()
    oneline = mlops("show", run_id, "--oneline")
    assert oneline.returncode == 1
    assert oneline.stdout.strip() == (f"INTERRUPTED: run {run_id} did not finish (its driver {socket.gethostname()}:"
                                      f"{pid} is gone (killed, or its machine restarted)); 'mlops run {tmp_path}' "
                                      "continues it")
    assert f"{run_id}  interrupted wine" in mlops("runs").stdout
    shown = mlops("show", run_id).stdout
    assert shown.startswith("INTERRUPTED - wine: not finished, 1 of 1 trial(s) done")
    assert "Finished:  no: interrupted, its driver" in shown and "interrupted: its worker" in shown
    assert get_run_store().get_run(run_id).status is RunStatus.INTERRUPTED  # recorded by the first reader


@pytest.mark.slow
def test_a_new_run_beside_an_interrupted_one_says_in_one_line_why_it_is_not_continued(project_factory) -> None:
    p = knn_project(project_factory, config="target: 1.0\nstrategy: ladder\nbudget: {max_trials: 3}\n")
    dead = subprocess.run([sys.executable, "-c", "import os, socket; print(f'{socket.gethostname()}:{os.getpid()}')"],
                          capture_output=True, text=True, check=True).stdout.strip()
    settings = ProjectConfig.model_validate({"target": 1.0, "strategy": "ladder", "budget": {"max_trials": 3}}
                                            ).for_task("classification")
    left = get_run_store().create_run(Run(project=p.name, path=str(p), owner=dead, backend="local",
                                          config=settings.run_settings(), fingerprint="as it was"))
    proc = mlops("run", str(p), "--backend", "local", "--no-notify", "--max-trials", "1", env=NO_DOCKER)
    assert (f"note: run {left.id} of this project was interrupted but is not continued: it ran with other settings "
            "(budget.max_trials 3 -> 1); run it with the same ones to continue it; starting a new run") in proc.stdout
    assert get_run_store().get_run(left.id).status is RunStatus.INTERRUPTED  # left as it was, for a later run


def test_a_new_run_says_why_it_does_not_continue_a_live_run_nor_one_left_by_fresh_or_another_run_id(
        tmp_path: Path) -> None:
    from mlops.pipeline.resume import not_continued

    store = get_run_store()

    def why(fresh: bool = False, run_id: str = "") -> str:
        return not_continued(store, tmp_path, ProjectConfig().run_settings(), "local", fresh, run_id)

    assert why() == ""
    live = store.create_run(Run(project="p", path=str(tmp_path), owner="another-machine:1"))
    assert why() == (f"note: run {live.id} of this project is still running (driven by another-machine:1, heartbeat "
                     "0s ago; a driver on another machine counts as gone after 60s without one); this is a new run "
                     "beside it")
    store.finish_run(live.id, RunStatus.FAILED)
    left = store.create_run(Run(project="p", path=str(tmp_path), owner="another-machine:2", created=time.time() - 90))
    assert why(fresh=True) == f"note: run {left.id} of this project was interrupted; --fresh starts a new run instead"
    assert why(run_id="build-8") == (f"note: run {left.id} of this project was interrupted; --run-id build-8 names a "
                                     f"new run (--run-id {left.id} continues it)")
    store.finish_run(left.id, RunStatus.FAILED)
    aborted = store.create_run(Run(project="p", path=str(tmp_path)))
    store.finish_run(aborted.id, RunStatus.ABORTED, error="aborted by SIGTERM")
    assert why() == (f"note: the last run of this project, {aborted.id}, was aborted by SIGTERM: an aborted run is "
                     "finished and not continued; this is a new run")


# -- signals -------------------------------------------------------------------------------------

def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line holds ``text`` (a trial of a project shows the project's path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.usefixtures("ml_env")
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_trial_and_records_the_run_as_aborted(project_factory, sig: int, code: int) -> None:
    p = knn_project(project_factory, SLOW_KNN, "target: 1.0\nstrategy: ladder\nbudget: {max_trials: 3}\n")
    proc = subprocess.Popen([sys.executable, "-m", "mlops", "run", str(p), "--backend", "local", "--no-notify"],
                            cwd=ROOT, env={**os.environ, **NO_DOCKER}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    store = get_run_store()
    deadline = time.time() + 120
    runs: list[Run] = []
    while time.time() < deadline:
        runs = store.find_runs()
        trials = store.trials(runs[0].id) if runs else []
        if sum(t.status == "ok" for t in trials) == 1 and len(trials) == 2:  # trial 2 has started
            break
        time.sleep(0.3)
    time.sleep(1)
    proc.send_signal(sig)  # the driver only, as Jenkins' abort or Ctrl-C reaches it
    _, err = proc.communicate(timeout=60)
    name = signal.Signals(sig).name
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == (f"aborted by {name}: run {runs[0].id} is recorded as aborted; its 1 "
                                            "finished trial(s) are kept")
    assert no_traceback(err)
    run = store.get_run(runs[0].id)
    assert run.status is RunStatus.ABORTED and run.finished and run.stopped == f"aborted by {name}"
    trials = store.trials(run.id)
    assert [(t.status, t.error) for t in trials] == [("ok", None), ("stopped", f"aborted by {name}")]
    assert processes_mentioning(str(p)) == []  # the trial was stopped with the run
    oneline = mlops("show", run.id, "--oneline")
    assert oneline.returncode == 1 and oneline.stdout.startswith(f"ABORTED: run {run.id} was aborted by {name}")


# -- the disk ------------------------------------------------------------------------------------

def fill(folder: Path) -> None:
    """Write into ``folder`` until its disk is full."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


@pytest.mark.usefixtures("ml_env")
def test_a_full_disk_ends_the_run_failed_disk_full_in_one_line(project_factory, mlops_home: Path) -> None:
    p = knn_project(project_factory)
    earlier = get_run_store().create_run(Run(project="earlier", path="/earlier"))
    get_run_store().finish_run(earlier.id, RunStatus.PASSED, value=0.9)
    with tmpfs(mlops_home / "runs", "1m") as runs:
        fill(runs)
        proc = mlops("run", str(p), "--backend", "local", "--no-notify", env=NO_DOCKER)
    assert proc.returncode == 1 and no_traceback(proc.stderr), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: disk full: cannot write {runs}/")
    assert "free space on that disk" in errors[0]
    run = get_run_store().find_runs(project=p.name)[0]
    assert run.status is RunStatus.FAILED and run.error.startswith("disk full: cannot write")
    assert all(t.status != "running" for t in get_run_store().trials(run.id))
    assert mlops("show", run.id, "--oneline").stdout.startswith("FAILED: no accuracy was measured (disk full:")
    assert get_run_store().get_run(earlier.id).value == 0.9  # what was stored is kept


def test_a_store_on_a_full_disk_refuses_a_write_in_one_line_and_keeps_what_it_holds(mlops_home: Path) -> None:
    from core.errors import StoreError

    with tmpfs(mlops_home, "2m"):
        store = get_run_store()
        kept = store.create_run(Run(project="kept"))
        fill(mlops_home)
        with pytest.raises(StoreError) as refused:
            for i in range(50):  # the first pages may still fit
                store.create_run(Run(project="new", config={"padding": "x" * 50_000, "i": i}))
        assert str(refused.value).startswith(f"disk full: create_run failed in embedded store {mlops_home}/store (")
        assert str(refused.value).endswith("); free space on its disk (what is stored is kept)")
        (mlops_home / "filler").unlink()
        assert store.get_run(kept.id).project == "kept"
        assert store.get_run(store.create_run(Run(project="after")).id).project == "after"  # and it writes again
        store.close()


@pytest.mark.slow
def test_a_read_only_mlops_home_is_said_in_one_line_and_its_runs_are_kept(project_factory, mlops_home: Path) -> None:
    p = knn_project(project_factory)
    with tmpfs(mlops_home, "8m"):
        store = get_run_store()
        kept = store.create_run(Run(project="kept", path="/kept"))
        store.finish_run(kept.id, RunStatus.PASSED, value=0.9)
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mlops_home)], check=True)
        for args in (("run", str(p), "--backend", "local", "--no-notify"), ("runs",)):
            proc = mlops(*args, env=NO_DOCKER)
            assert proc.returncode == 1 and no_traceback(proc.stderr), proc.stderr
            assert proc.stderr.strip().splitlines()[-1] == (
                f"error: cannot open the embedded store {mlops_home}/store: cannot write {mlops_home}/store/.init.lock:"
                " read-only file system; set MLOPS_HOME to a writable folder")
        subprocess.run(["mount", "-o", "remount,rw", str(mlops_home)], check=True)
        assert get_run_store().get_run(kept.id).value == 0.9


@pytest.mark.parametrize(("config", "why"), [
    ("garbage [[[\n", "is damaged (MissingSectionHeaderError: File contains no section headers.)"),
    ("[flatfile]\ncache_modified = 0\n", "is not the embedded store's configuration (no [sqlite] section)"),
    ("[sqlite]\nuse_bson = True\n", "asks for BSON, which the stored runs are not written in"),
])
@pytest.mark.slow
def test_a_damaged_store_config_is_said_in_one_line_and_removing_it_keeps_the_runs(mlops_home: Path, config: str,
                                                                                   why: str) -> None:
    store = get_run_store()
    kept = store.create_run(Run(project="kept"))
    store.create_trial(kept.id, Trial(label="baseline"))
    store.close()
    cfg = mlops_home / "store" / "monty.storage.cfg"
    cfg.write_text(config)
    proc = mlops("runs")
    assert proc.returncode == 1 and no_traceback(proc.stderr)
    assert proc.stderr.strip() == (f"error: {cfg} {why}; remove it: mlops writes it again as it was, and the runs "
                                   "stored beside it are kept")
    cfg.unlink()
    assert f"{kept.id}  running" in mlops("runs").stdout
    assert [t.label for t in get_run_store().trials(kept.id)] == ["baseline"]
