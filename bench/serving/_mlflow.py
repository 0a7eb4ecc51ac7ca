"""MLflow's scoring server (``mlflow models serve --env-manager local``) on the same model: its own virtualenv,
the model saved in its format, and its figures at 1 and 8 connections, with 1 worker and with as many as ours."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._common import ROOT, Server, free_port, inner
from bench.serving._procs import tree_peak_rss_mb
from bench.serving._report import row
from bench.serving._setup import Load, Served, clean_env
from bench.serving._wrk import wrk

MLFLOW_VERSION = "3.17.2"


def venv_path() -> Path:
    """Where MLflow's virtualenv is kept (``~/.cache/mlops/bench``), built or not."""
    return Path.home() / ".cache" / "mlops" / "bench" / f"mlflow-{MLFLOW_VERSION}"


def mlflow_venv() -> Path:
    """MLflow's scoring server in its own virtualenv under ~/.cache/mlops/bench (built once, from PyPI)."""
    venv = venv_path()
    if not (venv / ".ready").exists():
        print(f"  building {venv} (mlflow=={MLFLOW_VERSION} + requirements-dl.txt; first run only)", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        f"mlflow=={MLFLOW_VERSION}", "-r", str(ROOT / "requirements-dl.txt")], check=True)
        (venv / ".ready").write_text("ok\n")
    return venv


def same_answers(answer: list[Any], expected: list[Any], keras: bool) -> None:
    """MLflow's predictions are ours (a Keras model's probabilities as their classes)."""
    got = [int(max(range(len(p)), key=p.__getitem__)) for p in answer] if keras else answer
    assert got == expected, (got, expected)


def compare(mlflow: Path, model: Served, expected: list[Any], n_workers: int, load: Load) -> dict[str, Any]:
    """MLflow's figures on ``model`` (1 worker at 1 and 8 connections, ``n_workers`` at 8), printed."""
    figures: dict[str, Any] = {}
    saved = load.tmp / f"{model.folder.name}-mlflow-model"
    keras = (model.folder / "model.keras").exists()
    src = next(p for p in model.folder.iterdir() if p.name.startswith("model.") and p.suffix != ".json")
    subprocess.run([str(mlflow / "bin" / "python"), inner("save_mlflow.py"), "keras" if keras else "sklearn",
                    str(src), str(saved)], env=clean_env(), check=True, stdout=subprocess.DEVNULL)
    env = clean_env(PATH=f"{mlflow / 'bin'}:{os.environ['PATH']}")  # it runs `uvicorn`
    for count in (1, n_workers):
        port = free_port()
        server = Server(f"MLflow ({count} worker)", [str(mlflow / "bin" / "mlflow"), "models", "serve", "-m",
                        str(saved), "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local", "-w", str(count)],
                        env, port, "/ping", load.tmp / f"{model.folder.name}-mlflow{count}.log")
        url = server.url + "/invocations"
        try:
            same_answers(server.post("/invocations", model.mlflow_body)["predictions"], expected, keras)
            wrk(url, model.mlflow_body, 8, 1, load.tmp)
            if count == 1:
                figures["mlflow_1"] = wrk(url, model.mlflow_body, 1, load.seconds, load.tmp)
                figures["mlflow_8"] = wrk(url, model.mlflow_body, 8, load.seconds, load.tmp)
                figures["mlflow_rss"] = tree_peak_rss_mb(server.proc.pid)
                row("MLflow (its default: 1 worker), 1 connection", figures["mlflow_1"])
                row("MLflow (its default: 1 worker), 8 connections", figures["mlflow_8"],
                    f"peak RSS {figures['mlflow_rss']:.0f} MB")
            else:
                figures["mlflow_n8"] = wrk(url, model.mlflow_body, 8, load.seconds, load.tmp)
                row(f"MLflow -w {count}, 8 connections", figures["mlflow_n8"],
                    f"peak RSS {tree_peak_rss_mb(server.proc.pid):.0f} MB")
        finally:
            server.stop()
        if n_workers == 1:
            break
    return figures
