"""The tuning loop through ``mlops run``: reaching the target, budgets, resuming after a kill, pruning."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.records import Trial
from core.store import get_run_store
from tests.conftest import EXAMPLES, ROOT, mlops
from training.backends import EpochWatcher
from training.strategies import LadderStrategy, OptunaStrategy, RandomStrategy, TweakSpace, full_config

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def run_json(*args: str) -> tuple[int, dict, str]:
    proc = mlops("run", *args, "--json", "--backend", "local", env=NO_DOCKER)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


@pytest.mark.usefixtures("ml_env")
@pytest.mark.parametrize("strategy", ["ladder", "optuna"])
def test_a_project_under_the_target_is_tuned_above_it(strategy: str) -> None:
    code, summary, err = run_json(str(EXAMPLES / "wine-knn-unscaled"), "--strategy", strategy)
    assert code == 0, err
    first, last = summary["trials"][0], summary["trials"][-1]
    assert first["value"] < 0.9 <= last["value"] == summary["value"]
    assert summary["stopped"] == "target reached" and summary["status"] == "passed"
    best = Path(summary["best_script"]).read_text()
    assert "_MlopsStandardScaler()" in best and best != (EXAMPLES / "wine-knn-unscaled" / "train.py").read_text()
    diff = (Path(summary["run_dir"]) / "best.diff").read_text()
    assert diff.startswith("--- a/train.py") and "+knn = _mlops_make_pipeline(_MlopsStandardScaler()" in diff
    report = Path(summary["report"]).read_text()
    assert "What was changed in train.py" in report and "scale features" in report
    assert "trial 2  scale features" in err


@pytest.mark.usefixtures("ml_env")
def test_the_trial_budget_is_respected_and_the_best_model_kept(project_factory) -> None:
    p = project_factory({"train.py": (EXAMPLES / "wine-knn-unscaled" / "train.py").read_text()})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-knn-unscaled" / "wines.csv.gz").read_bytes())
    # Scaled, the KNN scores 0.963 on its test rows: two trials stay under the target (the third would pass)
    code, summary, _ = run_json(str(p), "--target", "1.0", "--max-trials", "2", "--strategy", "ladder")
    assert code == 1 and summary["status"] == "failed"
    assert len(summary["trials"]) == 2 and summary["stopped"] == "trial budget used (2 trials)"
    best = max(summary["trials"], key=lambda t: t["value"])
    assert summary["best_trial"] == best["number"] and Path(summary["model"]).is_file()
    assert get_run_store().model_versions(p.name)[0].passed is False


@pytest.mark.usefixtures("ml_env")
def test_the_time_budget_stops_the_loop(project_factory) -> None:
    p = project_factory({"train.py": "import time\nfrom sklearn.svm import SVC\ntime.sleep(4)\nprint(0.5)\n"})
    code, summary, _ = run_json(str(p), "--max-minutes", "0.1", "--max-trials", "10")
    assert code == 1 and summary["stopped"].startswith("time budget used")
    assert 1 <= len(summary["trials"]) <= 2


SLOW_KNN = (EXAMPLES / "wine-knn-unscaled" / "train.py").read_text().replace(
    "knn.fit(X_train, y_train)", "import time\ntime.sleep(3)\nknn.fit(X_train, y_train)")


@pytest.mark.usefixtures("ml_env")
def test_a_killed_run_reads_as_interrupted_and_continues_within_its_budget(project_factory) -> None:
    p = project_factory({"train.py": SLOW_KNN,
                         "mlops.yaml": "target: 1.0\nstrategy: ladder\nbudget: {max_trials: 3}\n"})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-knn-unscaled" / "wines.csv.gz").read_bytes())
    env = {**os.environ, **NO_DOCKER}
    proc = subprocess.Popen([sys.executable, "-m", "mlops", "run", str(p), "--backend", "local", "--no-notify"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    store = get_run_store()
    deadline = time.time() + 120
    while time.time() < deadline:
        runs = store.find_runs()
        trials = store.trials(runs[0].id) if runs else []
        if sum(t.status == "ok" for t in trials) == 1 and len(trials) == 2:  # trial 2 has started: kill it
            break
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, trial included
    proc.wait()
    run_id = runs[0].id
    # Every command that looks at the run sees that its driver is gone, before anything runs the project again.
    shown = mlops("show", run_id, "--oneline")
    assert shown.returncode == 1 and shown.stdout.startswith(f"INTERRUPTED: run {run_id} did not finish (its "
                                                             f"driver {socket.gethostname()}:{proc.pid} is gone")
    assert f"{run_id}  interrupted" in mlops("runs").stdout
    assert mlops("show", run_id).stdout.startswith("INTERRUPTED - ")
    assert [t.status for t in store.trials(run_id)] == ["ok", "reaped"]
    code, summary, err = run_json(str(p))
    assert f"continuing run {run_id}, which was stopped before it finished (its driver" in err
    assert "resuming after trial 2" in err and "trial 3/3: scale features" in err and "(again: trial 2's" in err
    trials = summary["trials"]
    assert summary["run_id"] == run_id and [t["number"] for t in trials] == [1, 2, 3]  # never "trial 4/3"
    assert [t["status"] for t in trials] == ["ok", "reaped", "ok"]  # the cut-off trial counts once
    assert trials[1]["label"].startswith("scale features") and trials[2]["label"] == trials[1]["label"]
    assert trials[1]["error"].startswith("interrupted: its worker")
    assert summary["stopped"] == "trial budget used (3 trials)"
    assert code == 1 and store.get_run(run_id).status == "failed"
    code, fresh, _ = run_json(str(p), "--fresh", "--max-trials", "1")
    assert fresh["run_id"] != run_id


def test_the_ladder_walks_its_rungs_in_order_then_stops() -> None:
    space = TweakSpace(choices={"scale": [False, True], "dense": [0, 1]},
                       ladder=[{}, {"scale": True}, {"scale": True, "dense": 1}])
    ladder, history = LadderStrategy(space), []
    while (config := ladder.suggest(history)) is not None:
        history.append(Trial(config=config))
    assert [h.config for h in history] == [{"scale": False, "dense": 0}, {"scale": True, "dense": 0},
                                              {"scale": True, "dense": 1}]


def test_random_search_starts_from_the_baseline_and_never_repeats() -> None:
    space = TweakSpace(choices={"a": [0, 1, 2], "b": [None, "x"]})
    history: list[Trial] = []
    while (config := RandomStrategy(space, seed=3).suggest(history)) is not None:
        history.append(Trial(config=config))
    configs = [h.config for h in history]
    assert configs[0] == {"a": 0, "b": None} and len(configs) == 6
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 6


def test_optuna_follows_the_ladder_first_then_learns_and_prunes() -> None:
    space = TweakSpace(choices={"dense": [0, 1, 2], "epochs": [1, 2, 4]},
                       ladder=[{}, {"dense": 1}, {"dense": 1, "epochs": 2}])
    strategy = OptunaStrategy(space, seed=0)
    history: list[Trial] = []
    for number in range(1, 6):
        config = strategy.suggest(history)
        assert config is not None and config not in [h.config for h in history]
        if number <= 3:
            assert config == full_config(space, space.ladder[number - 1])
        strategy.before_trial(number, config)
        curve = [0.5 + 0.05 * e for e in range(8)]
        pruned = any(strategy.should_prune(number, e, v) for e, v in enumerate(curve))
        record = Trial(number=number, config=config, status="ok", value=curve[-1], curve=curve)
        strategy.after_trial(number, config, record)
        history.append(record)
        assert not pruned
    strategy.before_trial(6, config := strategy.suggest(history))
    hopeless = [0.01] * 8  # three earlier trials reported every epoch (ladder rung 1 is a 4-epoch curve too)
    verdicts = [strategy.should_prune(6, e, v) for e, v in enumerate(hopeless)]
    assert not any(verdicts[:5]) and any(verdicts[5:])  # never during the warm-up epochs
    restored = OptunaStrategy(space, seed=0)
    restored.restore(history)
    assert sum(t.state.name == "COMPLETE" for t in restored.study.trials) == 5
    resumed = restored.suggest(history)  # the enqueued ladder was already tried: it goes on from there
    assert resumed is not None and resumed not in [h.config for h in history]


@pytest.mark.slow
def test_the_epoch_watcher_stops_a_trial_that_falls_behind(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", f"""
import json, time
for e in range(100):
    with open({str(events)!r}, "a") as f:
        f.write(json.dumps({{"epoch": e, "logs": {{"val_accuracy": 0.9 - 0.2 * e}}}}) + "\\n")
    time.sleep(0.1)
"""])
    seen: list[float] = []

    def on_epoch(epoch: int, logs: dict) -> bool:
        seen.append(logs["val_accuracy"])
        return logs["val_accuracy"] > 0.4

    watcher = EpochWatcher(events, on_epoch, writer.kill)
    watcher.start()
    assert writer.wait(timeout=20) != 0
    watcher.finish()
    assert watcher.stopped_at == 3 and seen[-1] < 0.4 and len(seen) == 4
    assert watcher.pruned_result("", 1.0, "here").status == "pruned"


@pytest.mark.usefixtures("ml_env")
@pytest.mark.parametrize(("script", "why"), [
    ("import sklearn\nimport pandas as pd\ndf = pd.read_csv('nowhere.csv')\n", "train.py:3 raised FileNotFoundError"),
    ("from sklearn.svm import SVC\nprint('training done')\n", "train.py reported no accuracy"),
])
def test_a_script_broken_as_pushed_costs_one_trial_not_the_budget(project_factory, script: str, why: str) -> None:
    p = project_factory({"train.py": script, "mlops.yaml": "budget: {max_trials: 6}\n"})
    code, summary, _ = run_json(str(p))
    assert code == 1 and len(summary["trials"]) == 1 and summary["status"] == "failed"
    assert summary["stopped"].startswith("the script as pushed failed, and no tweak can fix that: " + why)
    assert why in summary["error"]


BREAKS_WHEN_SCALED = """
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
df = pd.read_csv("wines.csv.gz")
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=["Class"]), df["Class"], random_state=3)
knn = KNeighborsClassifier(n_neighbors=5)
knn.fit(X_train, y_train)
print("neighbours used:", knn.n_neighbors)
print("accuracy", knn.score(X_test, y_test))
"""


@pytest.mark.usefixtures("ml_env")
def test_a_tweak_that_breaks_the_script_is_blamed_once_and_never_suggested_again(project_factory) -> None:
    p = project_factory({"train.py": BREAKS_WHEN_SCALED,
                         "mlops.yaml": "target: 0.99\nstrategy: ladder\nbudget: {max_trials: 5}\n"})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-knn-unscaled" / "wines.csv.gz").read_bytes())
    code, summary, err = run_json(str(p))
    assert code == 1  # the target is out of reach on purpose
    trials = summary["trials"]
    failed = [t for t in trials if t["status"] == "failed"]
    # Neither a Pipeline (scaling) nor a random forest (estimator family) has n_neighbors: both break it.
    assert trials[0]["status"] == "ok" and [t["label"].split(" ")[0] for t in failed] == ["scale", "estimator"]
    assert all("AttributeError" in t["error"] for t in failed)
    assert summary["broken_tweaks"] == [{"tweak": "scale", "trial": failed[0]["number"], "error": failed[0]["error"]},
                                        {"tweak": "family", "trial": failed[1]["number"], "error": failed[1]["error"]}]
    after_scale = [t for t in trials if t["number"] > failed[0]["number"]]
    assert after_scale and all("scale" not in t["label"] for t in after_scale)
    after_family = [t for t in trials if t["number"] > failed[1]["number"]]
    assert all(t["label"].split(" ")[0] not in ("scale", "estimator") for t in after_family)
    assert len(trials) <= 5 and summary["stopped"] in ("no untried tweak left", "trial budget used (5 trials)")
    assert "tweak 'scale' breaks this script" in err and "tweak 'family' breaks this script" in err
    run = get_run_store().get_run(summary["run_id"])
    assert [b.tweak for b in run.broken_tweaks] == ["scale", "family"]


@pytest.mark.usefixtures("ml_env")
def test_a_trial_that_prints_megabytes_keeps_a_bounded_log_and_a_readable_console(project_factory, tmp_path) -> None:
    from training.backends import LocalBackend, TrialSpec

    p = project_factory({"train.py": "import sklearn\nfor i in range(60000):\n    print('row', i, 'x' * 50)\n"
                                     "print('accuracy', 0.5)\n"})
    lines: list[str] = []
    spec = TrialSpec(project=p, entry="train.py", run_dir=tmp_path / "run", env="ml")
    result = LocalBackend().run_trial(spec, lines.append)
    log = (tmp_path / "run" / "trial.log").read_text()
    assert result.status == "ok" and result.value == 0.5
    assert len(log) < 2_200_000 and "of output cut here" in log  # 3.7 MB printed
    assert log.startswith("row 0 ") and "accuracy 0.5" in log[-300:]  # the beginning and the end are kept
    assert len(lines) < 400 and "accuracy 0.5" in lines[-3:]
    assert any(line.startswith("[... ") and "lines not shown" in line for line in lines)


@pytest.mark.usefixtures("ml_env")
def test_the_loop_in_process_on_a_tiny_real_script(project_factory, tmp_path) -> None:
    from core.config import load_config
    from core.console import Out
    from core.records import Run
    from training.backends import LocalBackend
    from training.tuner import TuneContext
    from training.worker import work

    p = project_factory({"train.py": (EXAMPLES / "wine-knn-unscaled" / "train.py").read_text(),
                         "mlops.yaml": "target: 0.95\nstrategy: ladder\nbudget: {max_trials: 4}\n"})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-knn-unscaled" / "wines.csv.gz").read_bytes())
    store = get_run_store()
    cfg = load_config(p).for_task("classification")
    run = store.create_run(Run(project="tiny", path=str(p), entry="train.py", metric=cfg.metric, target=cfg.target))
    reason = work(TuneContext(store=store, run_id=run.id, cfg=cfg, backend=LocalBackend(), project_dir=p,
                              entry="train.py", env="ml", source=(p / "train.py").read_text(),
                              run_dir=tmp_path / "run", out=Out(quiet=True)))
    trials = store.trials(run.id)
    assert reason == "target reached" and trials[-1].reached and not trials[0].reached
    assert [t.number for t in trials] == list(range(1, len(trials) + 1)) and trials[1].tweaks
    assert all(t.status == "ok" and t.started_at and t.finished_at and t.worker for t in trials)
