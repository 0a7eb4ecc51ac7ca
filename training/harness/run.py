"""Run an unmodified training script and capture its metrics and model.

Usage (what every backend runs, inside the trial's virtualenv or container)::

    python -m training.harness --project DIR --entry train.py --run-dir DIR \
        [--script REWRITTEN.py] [--metric accuracy] [--seed 42]

Writes ``RUN_DIR/metrics.json`` and saves the model under ``RUN_DIR/model/``.
Exit codes: 0 metric captured, 3 the script raised (or exited with an error code) before reporting it, 4 no
metric reported (or only a non-finite one), 5 the harness itself failed. Imports only the standard library at
start-up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_SCRIPT_ERROR, EXIT_NO_METRIC, EXIT_HARNESS_ERROR = 0, 3, 4, 5
def prepare_workdir(project: Path, workdir: Path, entry: str, script: Path | None, tree: Path | None = None
                    ) -> Path:
    """Mirror the (read-only) project, or the repository ``tree`` it is a folder of, into ``workdir`` and place
    the script to run.

    The user's script can read its data by relative paths (``../Dataset`` too, with a tree) and write files,
    while the project itself is never modified (see ``training.harness.workdir``). Notebooks are converted to
    a ``.py`` file.

    Returns:
        The path of the script to execute inside ``workdir`` (in the project's folder of it).
    """
    from training.harness.source import notebook_to_python, read_source, write_source
    from training.harness.workdir import empty, mirror

    if workdir.exists():
        empty(workdir)  # emptied, not removed: folders of it may be bind-mounted (paths: in mlops.yaml)
    workdir.mkdir(parents=True, exist_ok=True)
    mirror(tree or project, workdir)
    source_path = script or project / entry
    text = read_source(source_path)
    if source_path.suffix == ".ipynb":
        text = notebook_to_python(text)
    if tree is not None:
        workdir = workdir / project.relative_to(tree)
    target = workdir / (Path(entry).stem + ".py" if entry.endswith(".ipynb") else entry)
    if target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_source(target, text)
    return target


def _seed_everything(seed: int) -> None:
    from training.harness.patching import when_imported

    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    when_imported("numpy", lambda np: np.random.seed(seed))
    when_imported("keras", lambda keras: keras.utils.set_random_seed(seed))
    when_imported("tf_keras", lambda keras: keras.utils.set_random_seed(seed))


def _size_thread_pools() -> None:
    """TensorFlow's pools sized to the CPUs the trial may use (``MLOPS_CPUS``, set in containers)."""
    from training.harness.patching import when_imported

    cpus = os.environ.get("MLOPS_CPUS", "")
    if not cpus.isdigit():
        return

    def size(tf: Any) -> None:
        tf.config.threading.set_intra_op_parallelism_threads(int(cpus))
        tf.config.threading.set_inter_op_parallelism_threads(1)

    when_imported("tensorflow", size)


def _is_fitted_estimator(obj: Any) -> bool:
    if type(obj).__module__.split(".")[0] != "sklearn" and not hasattr(obj, "get_params"):
        return False
    try:
        from sklearn.base import BaseEstimator
        from sklearn.utils.validation import check_is_fitted

        if not isinstance(obj, BaseEstimator):
            return False
        check_is_fitted(obj)
        return True
    except Exception:
        return False


def _is_built_keras_model(obj: Any) -> bool:
    from training.harness.keras_compat import model_classes

    classes = model_classes()  # Keras 3's and, for a Keras 2 script, tf_keras's
    return bool(classes) and isinstance(obj, classes) and bool(getattr(obj, "built", False))


def _find_model(cap: Any, namespace: dict[str, Any]) -> None:
    """Fall back to the last trained model left in the script's globals."""
    if cap.model is not None:
        return
    for value in reversed(list(namespace.values())):
        if _is_built_keras_model(value) or _is_fitted_estimator(value):
            cap.model, cap.model_source = value, "script globals"
            return


def _save_model(cap: Any, run_dir: Path) -> dict[str, Any] | None:
    if cap.model is None:
        cap.warn("no trained model object found to save")
        return None
    model_dir = run_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        if _is_built_keras_model(cap.model):
            path = model_dir / "model.keras"
            cap.model.save(path)
            fmt = "keras"
        else:
            import joblib

            path = model_dir / "model.joblib"
            joblib.dump(cap.model, path)
            fmt = "joblib"
    except Exception as e:
        cap.warn(f"could not save the model ({type(e).__name__}: {e})")
        return None
    info = {"path": str(path.relative_to(run_dir)), "format": fmt, "source": cap.model_source,
            "class": type(cap.model).__name__}
    if fmt == "keras" and type(cap.model).__module__.startswith("tf_keras"):
        info["runtime"] = "tf_keras"  # Keras 3 cannot load it: load it with tf_keras (TF_USE_LEGACY_KERAS=1)
    return info


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that a reader never sees half a file, even if the process is killed."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def run(project: Path, entry: str, run_dir: Path, script: Path | None, metric: str, seed: int,
        metric_is_default: bool = False, args: list[str] | None = None,
        path_map: dict[str, str] | None = None, keras_api: int | None = None, tree: Path | None = None) -> int:
    """Run the script under the hooks and write ``metrics.json``. Returns the exit code.

    Args:
        project: The project folder (read-only).
        entry: The entry script, relative to the project.
        run_dir: Where ``metrics.json``, the model and the work folder go.
        script: A rewritten version of the entry script to run instead (its name is used in messages).
        metric: The metric the run is judged on.
        seed: Seeds Python, NumPy and Keras.
        metric_is_default: The metric is the task's default: a lone printed number may count for it.
        args: The script's command-line arguments (``sys.argv[1:]``).
        path_map: Absolute path prefix -> folder relative to the project (``/mycode`` -> ``.``), mapped onto
            the work folder by rewriting paths (the local backend; containers use bind mounts instead).
        keras_api: The Keras the script was written for (2 runs on tf_keras with shims, see ``keras_compat``);
            ``None`` reads it from the script.
        tree: The repository ``project`` is a folder of (read-only): mirrored whole, the script working in
            the project's folder of it.
    """
    from training.harness import capture as _capture
    from training.harness import hooks as _hooks
    from training.harness import keras_compat
    from training.harness import printed as _printed
    from training.harness.failures import explain
    from training.harness.patching import revert_patches
    from training.harness.workdir import Patches, PathMap, copy_on_write

    start = time.time()
    run_dir.mkdir(parents=True, exist_ok=True)
    target = prepare_workdir(project, run_dir / "work", entry, script, tree)
    workdir = run_dir / "work" / project.relative_to(tree) if tree else run_dir / "work"
    label = script.name if script else entry  # what messages call the script that ran
    cap = _capture.Capture(workdir=workdir, run_dir=run_dir, events_path=run_dir / "events.jsonl")
    _capture.set_current(cap)
    printed: list[str] = []
    file_patches = Patches()
    if path_map:
        PathMap({prefix: workdir / rel for prefix, rel in path_map.items()}).install(file_patches)
    copy_on_write(tree or project, file_patches)
    if keras_api is None:
        from training.harness.source import read_source

        keras_api = keras_compat.keras_api_of(read_source(target))
    compat = keras_compat.install(keras_api, cap.warn)  # before the hooks: its import hook comes after theirs
    _hooks.install(printed, compat.note)
    _size_thread_pools()
    _seed_everything(seed)
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    sys.argv = [str(target), *(args or [])]
    result: dict[str, Any] = {"metric": metric, "seed": seed, "entry": entry, "script": label}
    code = EXIT_OK
    namespace: dict[str, Any] = {}
    failure: BaseException | None = None
    try:
        run_script(target, namespace)
    except SystemExit as e:
        if e.code not in (None, 0):
            failure = e  # like an exception: a metric reported before it is kept (below)
            code = EXIT_SCRIPT_ERROR
            result["exit_code"] = e.code if isinstance(e.code, int) else 1  # the script's own, for the trial
            result["error"] = {"kind": "script_error", "message": f"{label} called sys.exit({e.code!r})"}
    except BaseException as e:
        failure = e
        frames = user_frames(e, workdir, target, label)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else label
        tb = "".join((["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else [])
                     + traceback.format_exception_only(type(e), e))
        kind, message = explain(e, where)
        result["error"] = {"kind": kind, "message": message, "traceback": tb}
        print(tb, file=sys.stderr, end="")
        code = EXIT_SCRIPT_ERROR
    finally:
        sys.stdout.flush()
    try:
        if code == EXIT_OK or failure is not None:
            if metric not in cap.metrics:
                for reading in _printed.file_readings(workdir, since=start):
                    cap.record(reading.metric, reading.value, "file", reading.line, reading.note)
            if metric not in cap.metrics:
                reading = _printed.printed_metric(printed, metric, metric_is_default)
                if reading:
                    cap.record(metric, reading.value, "print", reading.line, reading.note)
            _find_model(cap, namespace)
        if failure is not None and metric in cap.metrics and cap.model is not None and not isinstance(
                failure, KeyboardInterrupt):
            # The seeds' scripts save the model to /mycode, write accuracy.txt or send mail after the metric:
            # what went wrong afterwards does not undo the metric and the trained model. ``sys.exit(n)`` is
            # treated as a raise; its code is kept in the trial.
            exited = f" (exit code {result['exit_code']}, kept in the trial)" if "exit_code" in result else ""
            cap.warn(f"{result['error']['message']} after reporting {metric} {cap.metrics[metric]:.4g}; "
                     f"the model was taken from the fitted object{exited}")
            result["error"] = None
            code = EXIT_OK
        if code == EXIT_OK:
            result["model"] = _save_model(cap, run_dir)
            if metric not in cap.metrics and metric in cap.non_finite:
                code = EXIT_NO_METRIC
                result["error"] = {"kind": "non_finite_metric",
                                   "message": f"{label} reported a non-finite {metric}: {cap.non_finite[metric]}; "
                                              "it must be a number (look for a division by zero or a "
                                              "diverging loss)"}
            elif metric not in cap.metrics:
                code = EXIT_NO_METRIC
                seen = {**{r.metric: r.value for r in _printed.named_readings(printed) if math.isfinite(r.value)},
                        **cap.metrics}
                reported = ", ".join(f"{k}={v:.4g}" for k, v in sorted(seen.items())) or "nothing"
                hint = (f"set 'metric: {next(iter(sorted(seen)))}' in mlops.yaml, or " if seen else "") + \
                    f"print or report the {metric} (training.report({metric}=...))"
                result["error"] = {"kind": "no_metric",
                                   "message": f"{label} reported no {metric} (it reported: {reported}); {hint}"}
    except Exception as e:
        code = EXIT_HARNESS_ERROR
        result["error"] = {"kind": "harness_error", "message": f"harness failed: {type(e).__name__}: {e}",
                           "traceback": traceback.format_exc()}
    finally:
        keras_info = {"api": keras_api, "runtime": "tf_keras" if compat.redirect else "keras",
                      "shims": compat.applied()} if keras_compat.model_classes() else None
        revert_patches()
        facts = _facts(cap)
        compat.uninstall()
        file_patches.undo()
        _capture.set_current(None)
    result.update({
        "status": "ok" if code == EXIT_OK else "error",
        "value": cap.metrics.get(metric),
        "metrics": cap.metrics,
        "sources": cap.sources,
        "notes": cap.notes,
        "history": cap.history,
        "warnings": cap.warnings,
        "resumed_from_epoch": cap.resumed_from,
        "keras": keras_info,
        "facts": facts,
        "duration_s": round(time.time() - start, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    })
    result.setdefault("model", None)
    if result.get("error") is None:
        result.pop("error", None)
    write_json_atomic(run_dir / "metrics.json", result)
    return code


def _facts(cap: Any) -> dict[str, Any]:
    """The data and model facts of the trial (the Keras fit's, else the scikit-learn model's); never raises."""
    from training.harness.facts import sklearn_facts

    try:
        if cap.facts or cap.model is None or not _is_fitted_estimator(cap.model):
            return cap.facts
        return sklearn_facts(cap.model, cap.split)
    except Exception as e:  # a fact we could not read must not cost the trial its result
        cap.warn(f"could not read the trial's data facts ({type(e).__name__}: {e})")
        return {}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (what the trial needed), in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_script(target: Path, namespace: dict[str, Any]) -> None:
    """Execute the script as ``__main__`` in ``namespace``, which keeps its globals even when it raises."""
    import types

    module = types.ModuleType("__main__")
    module.__dict__.update({"__file__": str(target), "__builtins__": __builtins__, "__spec__": None,
                            "__loader__": None, "__package__": None, "__cached__": None})
    code = compile(target.read_bytes(), str(target), "exec")  # bytes: Python decodes them as PEP 263 says
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module  # so that classes defined in the script pickle as __main__.X
    try:
        exec(code, module.__dict__)
    finally:
        namespace.update(module.__dict__)
        if saved is not None:
            sys.modules["__main__"] = saved


def user_frames(error: BaseException, workdir: Path, target: Path, label: str) -> list[traceback.FrameSummary]:
    """The traceback's frames in the user's own files (no harness or runpy frames), with paths relative to the
    project and the (possibly rewritten) entry script under the name of the file that ran."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename.startswith(str(workdir) + os.sep)]
    for f in frames:
        f.filename = label if f.filename == str(target) else os.path.relpath(f.filename, workdir)
    return frames


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m training.harness``."""
    parser = argparse.ArgumentParser(prog="python -m training.harness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="the training project folder")
    parser.add_argument("--entry", required=True, help="the script to run, relative to the project")
    parser.add_argument("--run-dir", type=Path, required=True, help="where metrics.json and the model go")
    parser.add_argument("--script", type=Path, help="a rewritten version of the entry script to run instead")
    parser.add_argument("--metric", default="accuracy", help="the metric the run is judged on")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--metric-is-default", action="store_true",
                        help="the metric is the task's default: a lone printed number may count for it")
    parser.add_argument("--arg", action="append", default=[], help="an argument of the script (repeatable)")
    parser.add_argument("--map", action="append", default=[], metavar="PREFIX=FOLDER",
                        help="an absolute path prefix the script uses, as a folder of the project (repeatable)")
    parser.add_argument("--tree", type=Path, help="the repository the project is a folder of (read-only): the "
                                                  "script works in the project's folder of it")
    parser.add_argument("--keras-api", type=int, choices=(2, 3),
                        help="the Keras the script was written for (default: read from the script)")
    args = parser.parse_args(argv)
    path_map = dict(m.split("=", 1) for m in args.map)
    tree = args.tree.absolute() if args.tree else None
    project = args.project.absolute()
    if tree is not None and tree not in project.parents:
        parser.error(f"--project {project} is not a folder of --tree {tree}")
    return run(project, args.entry, args.run_dir.absolute(), args.script, args.metric, args.seed,
               args.metric_is_default, args.arg, path_map, args.keras_api, tree)
