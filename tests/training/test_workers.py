"""Several workers on one run, through the real command line: worker processes of one machine
(``--workers``), workers that join (``mlops worker``), a worker killed mid-trial, Optuna's state shared
through a journal file or PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.records import Trial
from core.store import get_run_store
from tests.conftest import EXAMPLES, OUT_OF_REACH, ROOT, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
WINES = (EXAMPLES / "wine-knn-unscaled" / "wines.csv.gz").read_bytes()
KNN = (EXAMPLES / "wine-knn-unscaled" / "train.py").read_text()

pytestmark = pytest.mark.usefixtures("ml_env")


def knn_project(project_factory, yaml: str, sleep: str = "3") -> Path:
    """The unscaled wine KNN (baseline 0.74, scaled 0.96, scaled with 7 distance-weighted neighbours 0.98), each
    trial sleeping ``sleep`` seconds (a Python expression of ``knn``) before it fits."""
    script = KNN.replace("knn.fit(X_train, y_train)", f"import time\ntime.sleep({sleep})\nknn.fit(X_train, y_train)")
    p = project_factory({"train.py": script, "mlops.yaml": yaml})
    (p / "wines.csv.gz").write_bytes(WINES)
    return p


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mlops", *args], cwd=ROOT, env={**os.environ, **NO_DOCKER},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def overlap(a: Trial, b: Trial) -> bool:
    return a.started_at < b.finished_at and b.started_at < a.finished_at  # type: ignore[operator]


def test_two_workers_run_trials_side_by_side_within_the_budget_and_never_the_same_one(project_factory) -> None:
    p = knn_project(project_factory, OUT_OF_REACH + "strategy: optuna\nworkers: 2\nbudget: {max_trials: 3}\n")
    proc = mlops("run", str(p), "--backend", "local", "--json", "--no-notify", env=NO_DOCKER)
    assert proc.returncode == 1, proc.stderr  # 1.0 is out of reach in three trials
    summary = json.loads(proc.stdout)
    trials = get_run_store().trials(summary["run_id"])
    assert [t.number for t in trials] == [1, 2, 3] and summary["stopped"] == "trial budget used (3 trials)"
    assert all(t.status == "ok" for t in trials)
    assert len({t.source_hash for t in trials}) == 3  # no configuration ran twice
    first, second, third = trials
    assert first.label == "baseline (as pushed)"
    assert not overlap(first, second) and not overlap(first, third)  # the script as pushed runs alone first
    assert overlap(second, third) and second.worker != third.worker  # then the two workers at once
    assert "[worker 2] " in proc.stderr and "waiting for trial 1 (the script as pushed) to end first" in proc.stderr
    # Optuna's study is shared through a journal in the run folder: each trial is there, told by its worker.
    import optuna

    journal = Path(summary["run_dir"]) / "optuna.journal"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name=f"mlops-{summary['run_id']}", storage=storage)
    told = {t.user_attrs["mlops_trial"]: t.value for t in study.trials if t.state.name == "COMPLETE"}
    assert told == {t.number: t.value for t in trials}


def test_the_first_trial_to_reach_the_target_stops_the_others(project_factory) -> None:
    # The third rung (7 distance-weighted neighbours) takes a minute; the second (scaling) reaches 0.9 at once.
    p = knn_project(project_factory, "target: 0.9\ndiagnosis: false\nstrategy: ladder\nworkers: 2\n",
                    sleep="60 if 'distance' in repr(knn) else 2")
    started = time.time()
    proc = mlops("run", str(p), "--backend", "local", "--json", "--no-notify", env=NO_DOCKER)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["stopped"] == "target reached" and summary["best_trial"] == 2
    assert time.time() - started < 45  # the slow trial did not run its minute
    slow = get_run_store().trials(summary["run_id"])[2]
    assert "n_neighbors=7" in slow.label and slow.status == "stopped" and slow.duration_s < 15
    assert slow.error == "the run stopped while this trial ran (target reached)"
    report = Path(summary["report"]).read_text()
    assert "stopped: the run stopped while this trial ran (target reached)" in report


def wait_for(condition, timeout: float = 120, what: str = "") -> object:
    end = time.time() + timeout
    while time.time() < end:
        got = condition()
        if got:
            return got
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def test_a_worker_killed_mid_trial_has_its_trial_reaped_and_run_again(project_factory) -> None:
    p = knn_project(project_factory, OUT_OF_REACH + "strategy: ladder\nworkers: 2\nbudget: {max_trials: 4}\n",
                    sleep="6")
    driver = start("run", str(p), "--backend", "local", "--json", "--no-notify")
    store = get_run_store()
    run_id = wait_for(lambda: [r.id for r in store.find_runs()], what="the run")[0]  # type: ignore[index]

    def victim() -> Trial | None:  # a trial of the other worker process, running
        return next((t for t in store.trials(run_id) if t.status == "running"
                     and not t.worker.endswith(f":{driver.pid}")), None)

    doomed = wait_for(victim, timeout=240, what="a trial of worker 2")
    assert isinstance(doomed, Trial)
    time.sleep(1)
    os.kill(int(doomed.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 1, err
    summary = json.loads(out)
    trials = store.trials(run_id)
    reaped = [t for t in trials if t.status == "reaped"]
    assert [t.number for t in reaped] == [doomed.number]
    rerun = [t for t in trials if t.source_hash == doomed.source_hash and t.number != doomed.number]
    assert len(rerun) == 1 and rerun[0].number > doomed.number and rerun[0].status == "ok"
    kept = [t for t in trials if t.status != "reaped"]
    assert len(kept) == 3 and len({t.source_hash for t in kept}) == 3  # nothing recorded twice
    assert len(trials) == 4 and summary["stopped"] == "trial budget used (4 trials)"  # the cut-off trial counts
    assert f"trial {doomed.number} was cut off" in err and "[worker 2] " in err
    # The killed worker's trial process died with it: it never finished its training.
    assert not (Path(summary["run_dir"]) / f"trial-{doomed.number:03d}" / "metrics.json").exists()


def test_a_worker_on_another_machine_joins_by_run_id_and_the_run_shows_who_ran_what(project_factory) -> None:
    p = knn_project(project_factory, OUT_OF_REACH + "strategy: ladder\nbudget: {max_trials: 3}\n")
    joined = start("worker", "jenkins-mlops/train-7", "--project", str(p))  # before the run exists, as an agent may
    time.sleep(2)
    driver = start("train", str(p), "--backend", "local", "--run-id", "jenkins-mlops/train-7", "--json")
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    joined_out, joined_err = joined.communicate(timeout=60)
    assert joined.returncode == 0, joined_out + joined_err
    assert "waiting for run jenkins-mlops-train-7 to be created" in joined_out
    assert json.loads(out)["run_id"] == "jenkins-mlops-train-7"
    shown = json.loads(mlops("show", "jenkins-mlops-train-7", "--json").stdout)
    trials = shown["trials"]
    assert len(trials) == 3 and len({t["worker"] for t in trials}) == 2
    assert {t["worker"].rsplit(":", 1)[1] for t in trials} == {str(driver.pid), str(joined.pid)}
    for t in trials:
        assert t["host"] == os.uname().nodename and t["started_at"] < t["finished_at"]
    # A run shared with other machines also keeps its trials' models in the store.
    from training.carry import model_key

    assert all(get_run_store().get_file(model_key(shown["run"]["_id"], t["number"])) for t in trials)


def test_a_worker_refuses_a_project_that_is_not_the_one_the_run_trains(project_factory) -> None:
    p = knn_project(project_factory, OUT_OF_REACH + "strategy: ladder\nbudget: {max_trials: 1}\n", sleep="8")
    driver = start("train", str(p), "--backend", "local", "--run-id", "r-1")
    wait_for(lambda: get_run_store().get_run("r-1"), what="the run")
    other = knn_project(project_factory, OUT_OF_REACH + "strategy: ladder\nbudget: {max_trials: 1}\n", sleep="1")
    proc = mlops("worker", "r-1", "--project", str(other), env=NO_DOCKER)
    driver.communicate(timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: {other} is not the project run r-1 trains (its train.py, requirements or "
                                   "mlops.yaml differ); check out the same commit")
    proc = mlops("train", str(p), "--backend", "local", "--run-id", "r-1", env=NO_DOCKER)
    assert proc.returncode == 2 and "run r-1 has already finished (failed); give another --run-id" in proc.stderr


def test_workers_share_optunas_study_in_postgresql(project_factory, postgres_url: str) -> None:
    import optuna

    p = knn_project(project_factory, OUT_OF_REACH + "strategy: optuna\nworkers: 2\nbudget: {max_trials: 4}\n",
                    sleep="1")
    proc = mlops("run", str(p), "--backend", "local", "--json", "--no-notify",
                 env={**NO_DOCKER, "MLOPS_OPTUNA_STORAGE": postgres_url})
    summary = json.loads(proc.stdout)
    trials = get_run_store().trials(summary["run_id"])
    assert len(trials) == 4 and len({t.worker for t in trials}) == 2
    assert not (Path(summary["run_dir"]) / "optuna.journal").exists()
    study = optuna.load_study(study_name=f"mlops-{summary['run_id']}", storage=postgres_url)
    told = {t.user_attrs["mlops_trial"]: t.value for t in study.trials if t.state.name == "COMPLETE"}
    finished = {t.number: t.value for t in trials if t.status == "ok"}  # not one stopped by another's success
    assert told == finished and len(finished) >= 3  # each worker told its own trials to the one study
    proc = mlops("run", str(p), "--backend", "local", "--no-notify", "--fresh",
                 env={**NO_DOCKER, "MLOPS_OPTUNA_STORAGE": "postgresql://mlops:s3cret@127.0.0.1:1/optuna"})
    assert proc.returncode == 2 and "s3cret" not in proc.stderr
    assert "error: optuna_storage (or MLOPS_OPTUNA_STORAGE): cannot use postgresql://mlops:***@127.0.0.1:1/optuna" \
        in proc.stderr


SLOW_EPOCHS = (EXAMPLES / "wine-keras" / "train.py").read_text().replace(
    "model.fit(X_train, y_train, epochs=40, batch_size=16, validation_split=0.1, verbose=2)",
    "import time\n\n\nclass Slow(keras.callbacks.Callback):\n    def on_epoch_end(self, epoch, logs=None):\n"
    "        time.sleep(1)\n\n\n"
    "model.fit(X_train, y_train, epochs=12, batch_size=16, validation_split=0.1, verbose=2, callbacks=[Slow()])")


@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
def test_the_rerun_of_a_killed_workers_keras_trial_resumes_from_its_last_checkpoint(project_factory) -> None:
    p = project_factory({"train.py": SLOW_EPOCHS, "mlops.yaml": "target: 0.5\nbudget: {max_trials: 2}\n"})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-keras" / "wines.csv.gz").read_bytes())
    # The controller only coordinates (--workers 0); two agents do the training.
    driver = start("train", str(p), "--backend", "local", "--run-id", "keras-7", "--workers", "0", "--json")
    agents = [start("worker", "keras-7", "--project", str(p)) for _ in range(2)]
    store = get_run_store()

    def three_epochs_in() -> Trial | None:
        for t in store.trials("keras-7") if store.get_run("keras-7") else []:
            events = Path(t.run_dir) / "events.jsonl" if t.run_dir else None
            if t.status == "running" and events and events.is_file() and len(events.read_text().splitlines()) >= 3:
                return t
        return None

    doomed = wait_for(three_epochs_in, timeout=240, what="three epochs of the first trial")
    assert isinstance(doomed, Trial)
    time.sleep(1.5)  # the third epoch's checkpoint is written just after its event
    os.kill(int(doomed.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    out, err = driver.communicate(timeout=400)
    for agent in agents:
        agent.communicate(timeout=60)
    assert driver.returncode == 0, err
    assert json.loads(out)["status"] == "passed"
    trials = store.trials("keras-7")
    rerun = next(t for t in trials if t.source_hash == doomed.source_hash and t.number != doomed.number)
    assert trials[doomed.number - 1].status == "reaped" and rerun.status == "ok"
    assert rerun.resumed_from_epoch and rerun.resumed_from_epoch[0] >= 3  # not from epoch 1
    assert len(rerun.history["loss"]) == 12  # the epochs before the kill are part of its history
