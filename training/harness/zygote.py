"""A warm start for trials: a process that has already imported the framework and forks one fresh child per
trial (stdlib only; it runs in the trial environment).

Importing TensorFlow and Keras takes seconds, scikit-learn and pandas about one; a trial forked from a process
that imported them starts in milliseconds. Each trial is still a process of its own, forked from a parent that
never ran user code: whatever a trial does to modules or threads dies with it.

    python -m training.harness.zygote --socket PATH --preload sklearn|keras|tf_keras [--idle 600]

A client connects to the socket and sends one JSON line (``argv`` of the harness, ``env``, ``cwd``) with the
write end of a pipe (``SCM_RIGHTS``) that becomes the trial's stdout and stderr. The zygote answers
``{"pid": N}``, and ``{"exit": CODE}`` when the trial ends (``-SIGNAL`` when killed; in a container,
``"oom_kill"`` counts the kernel's out-of-memory kills in it meanwhile). It exits after ``--idle`` seconds
without a trial. Closing the connection (or shutting down its write side) kills the trial.

In a PID namespace of its own (``--own-pid-namespace``: a bubblewrap sandbox or a container), whatever a trial
leaves running (a detached child in a session of its own) is killed when the trial ends: every process of the
namespace but its first, the zygote and the trials still running.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path

#: What each kind of zygote imports before it serves (modules users' scripts import anyway).
PRELOAD = {
    "sklearn": ["numpy", "pandas", "scipy", "sklearn", "sklearn.model_selection", "sklearn.metrics",
                "sklearn.ensemble", "sklearn.linear_model", "sklearn.neighbors", "sklearn.svm", "sklearn.tree",
                "sklearn.preprocessing", "sklearn.pipeline", "joblib", "matplotlib", "matplotlib.pyplot"],
    "keras": ["tensorflow", "keras"],
    "tf_keras": ["tensorflow", "tf_keras"],
}


def preload(kind: str) -> list[str]:
    """Import what a kind of zygote preloads; return what could not be imported (not installed)."""
    import importlib

    if kind == "tf_keras":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow: tf.keras is tf_keras, Keras 3 never loads
    missing = []
    for name in PRELOAD["sklearn"] + (PRELOAD[kind] if kind != "sklearn" else []):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _child(request: dict, out_fd: int) -> None:
    """In the forked child: become the trial and never return."""
    code = 5
    try:
        os.setsid()  # its own process group: the backend kills the trial and what it started
        try:  # when memory runs out, the kernel kills the trial, not the zygote the next trials need
            Path("/proc/self/oom_score_adj").write_text("1000")
        except OSError:
            pass
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        legacy = os.environ.get("TF_USE_LEGACY_KERAS")  # how this process imported TensorFlow: a fact, kept
        os.environ.clear()
        os.environ.update(request["env"])
        if legacy is not None:
            os.environ["TF_USE_LEGACY_KERAS"] = legacy
        os.chdir(request["cwd"])
        from training.harness.run import main

        sys.argv = ["training.harness", *request["argv"]]
        code = main(request["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


#: The container's own memory cgroup files with an ``oom_kill N`` line: cgroup v2, then v1.
MEMORY_EVENTS = (Path("/sys/fs/cgroup/memory.events"), Path("/sys/fs/cgroup/memory/memory.oom_control"))


def oom_kills() -> int:
    """Out-of-memory kills in this container so far (0 where no cgroup file can be read)."""
    for events in MEMORY_EVENTS:
        try:
            for line in events.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return 0


#: The trials this zygote runs now (their pids).
_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def _parents() -> dict[int, int]:
    """Every process of this PID namespace -> its parent (threads are not listed in ``/proc``)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


def sweep(keep: set[int]) -> int:
    """Kill every process of this PID namespace but its first one, this zygote, and ``keep`` with their
    descendants (the trials still running); return how many."""
    parents = _parents()
    killed = 0
    for pid in parents:
        if pid in (1, os.getpid()):
            continue
        ancestor, steps = pid, 0
        while ancestor in parents and ancestor not in keep and steps < 10_000:
            ancestor, steps = parents[ancestor], steps + 1
        if ancestor in keep:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    return killed


def _serve_one(conn: socket.socket, listener: socket.socket, in_container: bool = False,
               own_pid_namespace: bool = False) -> None:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 1)
    if not fds:
        conn.close()
        return
    request = json.loads(data.decode())
    ooms = oom_kills() if in_container else 0
    pid = os.fork()
    if pid == 0:
        listener.close()
        conn.close()
        _child(request, fds[0])
    os.close(fds[0])
    with _RUNNING_LOCK:
        _RUNNING.add(pid)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")

    ended = threading.Event()

    def reap() -> None:
        _, status = os.waitpid(pid, 0)
        ended.set()
        with _RUNNING_LOCK:
            _RUNNING.discard(pid)
            if own_pid_namespace:
                sweep(set(_RUNNING))
        try:
            ended_with = {"exit": _exit_code(status)}
            if in_container:
                ended_with["oom_kill"] = oom_kills() - ooms
            conn.sendall(json.dumps(ended_with).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    def follow_client() -> None:
        """The client (the backend driving the trial) went away: the trial goes with it."""
        try:
            gone = conn.recv(1) == b""
        except OSError:
            gone = True
        if gone and not ended.is_set():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    threading.Thread(target=reap, daemon=True).start()
    threading.Thread(target=follow_client, daemon=True).start()


def serve(path: Path, kind: str, idle_s: float, in_container: bool = False, own_pid_namespace: bool = False) -> int:
    """Preload, then fork a trial per connection until ``idle_s`` seconds pass without one."""
    missing = preload(kind)
    if missing:
        print(f"mlops zygote: not installed here: {', '.join(missing)}", file=sys.stderr, flush=True)
    tmp = path.with_name(path.name + f".{os.getpid()}")
    tmp.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp))
    listener.listen(16)
    if in_container:  # the backend's user may differ from the container's
        os.chmod(tmp, 0o777)
    os.replace(tmp, path)  # clients see the socket only once it accepts
    path.with_name(path.name + ".pid").write_text(str(os.getpid()))
    listener.settimeout(idle_s)
    def stop(*_: object) -> None:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".pid").unlink(missing_ok=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            break
        conn.settimeout(None)
        try:
            _serve_one(conn, listener, in_container, own_pid_namespace or in_container)
        except (OSError, ValueError) as e:
            print(f"mlops zygote: a request failed: {e}", file=sys.stderr, flush=True)
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pid").unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m training.harness.zygote", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--preload", choices=sorted(PRELOAD), required=True)
    parser.add_argument("--idle", type=float, default=600.0, help="seconds without a trial before it exits")
    parser.add_argument("--container", action="store_true", help="in a trial container: report its OOM kills")
    parser.add_argument("--own-pid-namespace", action="store_true",
                        help="in a sandbox: kill what a trial leaves running when it ends")
    args = parser.parse_args(argv)
    return serve(args.socket, args.preload, args.idle, args.container, args.own_pid_namespace)


if __name__ == "__main__":
    sys.exit(main())
