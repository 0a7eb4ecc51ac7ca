"""mlops.yaml validation: every bad key or value is named, env and flags override."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.config import load_config
from core.errors import ConfigError
from tests.conftest import ROOT, mlops


def project(tmp_path: Path, text: str | None) -> Path:
    if text is not None:
        (tmp_path / "mlops.yaml").write_text(text)
    return tmp_path


def test_defaults_without_a_file_follow_the_task(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path, None), environ={})
    assert (cfg.metric, cfg.target, cfg.budget.max_trials, cfg.strategy) == (None, None, 10, "optuna")
    classifier, regressor = cfg.for_task("classification"), cfg.for_task("regression")
    assert (classifier.metric, classifier.target, classifier.goal) == ("accuracy", 0.8, "maximize")
    assert (regressor.metric, regressor.target, regressor.goal) == ("r2", 0.8, "maximize")
    assert classifier.metric_is_default and cfg.for_task(None).metric == "accuracy"
    named = load_config(project(tmp_path, "metric: accuracy\n"), environ={}).for_task("regression")
    assert named.metric == "accuracy" and not named.metric_is_default


@pytest.mark.parametrize(("text", "message"), [
    ("target: 93\n", "mlops.yaml: target 93 is out of range for accuracy (0..1]; did you mean 0.93?"),
    ("target: -0.5\n", "mlops.yaml: target -0.5 is out of range for accuracy (0..1]"),
    ("metric: f1\ntarget: 15\n", "mlops.yaml: target 15 is out of range for f1 (0..1]; did you mean 0.15?"),
    ("target: 1.7\n", "mlops.yaml: target 1.7 is out of range for accuracy (0..1]: give a share, e.g. 0.9 for 90%"),
    ("metric: f1\ntarget: 1.5\n", "mlops.yaml: target 1.5 is out of range for f1 (0..1]: give a share, e.g. 0.9 "
                                   "for 90%"),
    ("target: 250\n", "mlops.yaml: target 250 is out of range for accuracy (0..1]: give a share, e.g. 0.9 for 90%"),
    ("metric: r2\ntarget: 0\n", "mlops.yaml: target 0 is out of range for r2 (0..1]"),
    ("metric: rmse\ntarget: -1\n", "mlops.yaml: target -1 is out of range for rmse (an error: it must be above 0)"),
])
def test_a_target_the_metric_can_never_reach_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(project(tmp_path, text), environ={})
    assert str(info.value).endswith(message.removeprefix("mlops.yaml")) and info.value.exit_code == 2


@pytest.mark.parametrize(("text", "message"), [
    ("metric: accuracy\ndirection: minimize\n", "mlops.yaml: direction: metric accuracy is maximized (higher is "
     "better), not minimized; remove 'direction:' (it follows the metric) (got 'minimize')"),
    ("metric: rmse\ntarget: 3\ndirection: maximize\n", "mlops.yaml: direction: metric rmse is minimized (lower is "
     "better), not maximized; remove 'direction:' (it follows the metric) (got 'maximize')"),
    ("metric: f1\ndirection: minimize\ntarget: 0.9\n", "mlops.yaml: direction: metric f1 is maximized"),
])
def test_a_direction_against_the_metrics_own_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(project(tmp_path, text), environ={})
    assert message.removeprefix("mlops.yaml") in str(info.value)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "mlops.yaml") + ": direction: ")


def test_a_direction_against_the_tasks_default_metric_is_refused_once_the_task_is_known(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path, "direction: minimize\n"), environ={})
    for task, metric in (("classification", "accuracy"), ("regression", "r2")):
        with pytest.raises(ConfigError, match=rf"^mlops.yaml: direction: the task's default metric {metric} is "
                                              r"maximized \(higher is better\), not minimized; remove 'direction:'"):
            cfg.for_task(task)
    agreeing = load_config(project(tmp_path, "metric: mae\ntarget: 4\ndirection: minimize\n"), environ={})
    assert agreeing.for_task("regression").goal == "minimize"
    assert load_config(project(tmp_path, "direction: maximize\n"), environ={}).for_task("regression").goal == \
        "maximize"


def test_a_target_out_of_range_from_the_command_line_or_the_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^command line: target 85 is out of range for accuracy"):
        load_config(project(tmp_path, None), {"target": 85}, environ={})
    with pytest.raises(ConfigError, match=r"^MLOPS_TARGET: target 2 is out of range"):
        load_config(project(tmp_path, None), environ={"MLOPS_TARGET": "2"})


def test_an_error_metric_needs_its_target(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path, "metric: rmse\n"), environ={})
    with pytest.raises(ConfigError, match="metric rmse needs a target"):
        cfg.for_task("regression")


def test_a_full_file_is_read(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path, """
entry: src/fit.py
metric: rmse
target: 12.5
budget: {max_trials: 4, max_minutes: 30}
trial: {time_limit_s: 300, memory: 2g, network: true}
mail: {to: [a@example.com, b@example.com], when: failure}
"""), environ={})
    assert cfg.entry == "src/fit.py" and cfg.goal == "minimize" and cfg.reached(12.0) and not cfg.reached(13)
    assert cfg.budget.max_trials == 4 and cfg.trial.memory == "2g" and cfg.mail.to == ["a@example.com",
                                                                                       "b@example.com"]


@pytest.mark.parametrize(("text", "message"), [
    ("targte: 0.9\n", r"mlops.yaml: targte: unknown key; known keys here: name, entry, metric, target"),
    ("budget:\n  max_trial: 3\n", r"mlops.yaml: budget.max_trial: unknown key; known keys here: max_trials, "
                                  r"max_minutes"),
    ("target: high\n", r"mlops.yaml: target: Input should be a valid number.*\(got 'high'\)"),
    ("metric: accuracyy\n", r"mlops.yaml: metric: unknown metric 'accuracyy'; use one of accuracy, f1"),
    ("budget: {max_trials: 0}\n", r"mlops.yaml: budget.max_trials: Input should be greater than or equal to 1"),
    ("mail: {to: [not-an-address]}\n", r"mlops.yaml: mail.to: 'not-an-address' is not an e-mail address"),
    ("trial: {memory: lots}\n", r"mlops.yaml: trial.memory: not an amount of memory; write e.g. 512m or 4g"),
    ("trial: {memory: 0}\n", r"mlops.yaml: trial.memory: 0 is too little memory for a trial; give at least 6m"),
    ("trial: {memory: -1g}\n", r"mlops.yaml: trial.memory: not an amount of memory"),
    ("trial: {cpus: 0}\n", r"mlops.yaml: trial.cpus: Input should be greater than or equal to 0.01 \(got 0\)"),
    ("trial: {cpus: -2}\n", r"mlops.yaml: trial.cpus: Input should be greater than or equal to 0.01"),
    ("trial: {cpus: .inf}\n", r"mlops.yaml: trial.cpus: Input should be a finite number"),
    ("trial: {time_limit_s: 0}\n", r"mlops.yaml: trial.time_limit_s: Input should be greater than or equal to 5"),
    ("trial: {time_limit_s: forever}\n", r"mlops.yaml: trial.time_limit_s: Input should be a valid integer"),
    ("budget: {max_minutes: .inf}\n", r"mlops.yaml: budget.max_minutes: Input should be a finite number"),
    ("target: [0.8\n", r"mlops.yaml: line \d+: not valid YAML"),
    ("- 0.8\n", r"mlops.yaml: must be a mapping of keys to values"),
])
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(project(tmp_path, text), environ={})
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    p = project(tmp_path, "target: 0.9\nbudget: {max_trials: 3}\n")
    env = {"MLOPS_TARGET": "0.95", "MLOPS_MAIL_TO": "x@example.com, y@example.com"}
    cfg = load_config(p, environ=env)
    assert cfg.target == 0.95 and cfg.budget.max_trials == 3 and cfg.mail.to == ["x@example.com", "y@example.com"]
    assert load_config(p, {"target": 0.5, "budget.max_trials": None}, environ=env).target == 0.5


def test_a_bad_environment_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^MLOPS_MAX_TRIALS: budget.max_trials: Input should be a valid integer"):
        load_config(project(tmp_path, None), environ={"MLOPS_MAX_TRIALS": "many"})


def test_workers_docker_hosts_and_optunas_storage_are_read_and_checked(tmp_path: Path) -> None:
    cfg = load_config(project(tmp_path, "workers: 3\ndocker:\n  hosts: [unix:///var/run/docker.sock, "
                                        "tcp://gpu-box:2376]\noptuna_storage: postgresql://u:pw@db/optuna\n"),
                      environ={})
    assert (cfg.workers, cfg.docker.hosts, cfg.optuna_storage) == (
        3, ["unix:///var/run/docker.sock", "tcp://gpu-box:2376"], "postgresql://u:pw@db/optuna")
    assert not {"workers", "docker", "optuna_storage"} & set(cfg.run_settings())  # never stored with the run
    env = load_config(project(tmp_path, None), environ={"MLOPS_WORKERS": "0", "MLOPS_OPTUNA_STORAGE": "sqlite:///o.db",
                                                        "MLOPS_DOCKER_HOSTS": "tcp://a:2376, ssh://me@b"})
    assert (env.workers, env.docker.hosts, env.optuna_storage) == (0, ["tcp://a:2376", "ssh://me@b"], "sqlite:///o.db")


@pytest.mark.parametrize(("text", "message"), [
    ("workers: -1\n", "workers: Input should be greater than or equal to 0"),
    ("docker: {hosts: [gpu-box:2376]}\n", "docker.hosts: 'gpu-box:2376' is not a Docker engine URL; use "
                                          "unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST"),
    ("docker: {hosts: [tcp://a:2376, tcp://a:2376]}\n", "docker.hosts: a Docker host is listed twice"),
    ("docker: {host: tcp://a:2376}\n", "docker.host: unknown key; known keys here: hosts"),
    ("optuna_storage: db.example.com\n", "optuna_storage: 'db.example.com' is not a database URL"),
])
def test_bad_worker_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("/mlops.yaml: " + message)):
        load_config(project(tmp_path, text), environ={})


def test_packages_none_turns_off_the_packages_of_the_scripts_imports(tmp_path: Path) -> None:
    assert load_config(project(tmp_path, None), environ={}).auto_packages is True
    cfg = load_config(project(tmp_path, "packages: none\n"), environ={})
    assert (cfg.packages, cfg.auto_packages) == ([], False)
    assert load_config(project(tmp_path, "auto_packages: false\n"), environ={}).auto_packages is False
    with pytest.raises(ConfigError, match="packages: none and auto_packages: true contradict each other"):
        load_config(project(tmp_path, "packages: none\nauto_packages: true\n"), environ={})


def test_trial_limits_beyond_the_machine_are_capped_with_one_line_each(tmp_path: Path) -> None:
    from training.backends._capacity import this_machine

    cfg = load_config(project(tmp_path, "trial: {cpus: 100000, memory: 99999999g, time_limit_s: 1e15}\n"),
                      environ={})
    assert cfg.trial.time_limit_s == 10**15  # 1e15 is a number of seconds (YAML reads it as text)
    most = this_machine()
    limits, said = cfg.trial.within(most.cpus, most.memory, cfg.budget.max_minutes * 60, most.where)
    assert limits.cpus == most.cpus and limits.time_limit_s == 3600
    assert most.memory is not None and limits.memory == f"{most.memory // 1024**2}m"
    assert said == [f"trial.cpus 100000 is more than this machine has: a trial gets {most.cpus:g} CPUs",
                    f"trial.memory 99999999g is more than this machine has: a trial gets at most {limits.memory} "
                    f"({most.memory / 1024**3:.1f} GiB)",
                    "trial.time_limit_s 1000000000000000 is longer than the run's time budget "
                    "(budget.max_minutes 60): a trial stops after 3600 s at the latest"]
    fitting = load_config(project(tmp_path, "trial: {cpus: 1, memory: 512m, time_limit_s: 60}\n"), environ={})
    assert fitting.trial.within(most.cpus, most.memory, 3600, most.where) == (fitting.trial, [])


# -- settings declared once (core/settings.py and the mlops.yaml fields declared with core.config.setting) ------

#: Where the product reads or passes its variables (the test suite's and scripts/' own knobs are not settings).
PRODUCT = ("core", "mlops", "training", "monitor", "dockerfiles", "jenkins", "Jenkinsfile")


def test_every_mlops_variable_the_product_names_is_declared_once() -> None:
    from core.config import ENV_OVERRIDES
    from core.settings import DECLARED

    named: dict[str, str] = {}
    for top in PRODUCT:
        base = ROOT / top
        for path in [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()):
            if "__pycache__" not in path.parts and path.suffix not in (".pyc", ".gz", ".png", ".keras"):
                for var in re.findall(r"\bMLOPS_[A-Z0-9_]+\b", path.read_text(encoding="utf-8", errors="ignore")):
                    named.setdefault(var, str(path.relative_to(ROOT)))
    project_vars = list(ENV_OVERRIDES.values())
    assert len(named) > 30 and len(set(project_vars)) == len(project_vars)
    assert not set(project_vars) & set(DECLARED), "a variable is both a project and an operator setting"
    undeclared = {var: where for var, where in named.items() if var not in {*DECLARED, *project_vars}}
    assert undeclared == {}, "declare these in core/settings.py (or as an mlops.yaml field with setting(env=...))"


def test_the_settings_module_serving_ships_with_imports_only_the_standard_library() -> None:
    import ast
    import sys

    tree = ast.parse((ROOT / "core" / "settings.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}


@pytest.mark.slow
def test_mlops_config_lists_each_setting_with_its_variable_flag_value_and_source(tmp_path: Path) -> None:
    p = project(tmp_path, "target: 0.9\nstrategy: ladder\nbudget: {max_trials: 5}\n")
    proc = mlops("config", str(p), "--json", "--max-trials", "3", env={
        "MLOPS_TARGET": "0.95", "MLOPS_STRATEGY": "", "MLOPS_FEEDBACK_TOKEN": "s3cret", "MLOPS_SERVE_WORKERS": "2"})
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    rows = {row["setting"]: row for row in listed["project"]}
    # CLI > env > mlops.yaml > default, as before; an empty variable is no value
    assert {name: (rows[name]["value"], rows[name]["source"]) for name in
            ("budget.max_trials", "target", "strategy", "budget.max_minutes")} == {
        "budget.max_trials": (3, "--max-trials"), "target": (0.95, "MLOPS_TARGET"),
        "strategy": ("ladder", "mlops.yaml"), "budget.max_minutes": (60.0, "default")}
    assert (rows["budget.max_trials"]["env"], rows["workers"]["flag"], rows["mail.to"]["flag"]) == (
        "MLOPS_MAX_TRIALS", "--workers", None)
    operator = {row["env"]: row for row in listed["operator"]}
    shown = {name: (operator[name]["value"], operator[name]["source"]) for name in
             ("MLOPS_SERVE_WORKERS", "MLOPS_FEEDBACK_TOKEN", "MLOPS_CAPTURE_RETENTION")}
    assert shown == {"MLOPS_SERVE_WORKERS": (2, "MLOPS_SERVE_WORKERS"),
                     "MLOPS_FEEDBACK_TOKEN": ("(set)", "MLOPS_FEEDBACK_TOKEN"),  # a secret is never shown
                     "MLOPS_CAPTURE_RETENTION": (100_000, "default")}
    assert "s3cret" not in proc.stdout


@pytest.mark.slow
def test_the_flags_of_mlops_run_reach_the_configuration(tmp_path: Path) -> None:
    p = project(tmp_path, "budget: {max_trials: 5}\n")
    (p / "train.py").write_text("print('accuracy: 1.0')\n")
    bad_word = mlops("run", str(p), "--strategy", "grid", "--backend", "local", env={"MLOPS_STRATEGY": "ladder"})
    assert bad_word.returncode == 2
    assert bad_word.stderr.strip() == ("error: command line: strategy: Input should be 'ladder', 'optuna' or 'random' "
                                       "(got 'grid')")
    below = mlops("run", str(p), "--max-trials", "0", env={"COLUMNS": "200"})  # the field's lower bound
    assert below.returncode == 2
    assert "Invalid value for '--max-trials': Input should be greater than or equal to 1" in below.stderr
    helped = mlops("run", "--help", env={"COLUMNS": "200"}).stdout
    assert "The trial budget [mlops.yaml: budget.max_trials, 10]." in helped


def test_the_docs_table_of_settings_names_every_variable_once(tmp_path: Path) -> None:
    from core.settings import DECLARED
    from core.sources import markdown, operator_rows, project_rows

    table = markdown(project_rows(project(tmp_path, None), environ={}), operator_rows({}))
    assert "| `budget.max_trials` | `MLOPS_MAX_TRIALS` | `--max-trials` | `10` | the trial budget |" in table
    for var in [*DECLARED, "MLOPS_TRIAL_TIME_LIMIT"]:
        assert table.count(f"| `{var}` |") == 1, var
