"""The worker processes of ``python -m serving``: started, watched, restarted, stopped."""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

#: Exit code of a worker (and so of the server) whose model cannot be loaded.
EXIT_MODEL_UNLOADABLE = 3
#: A worker that ends sooner than this after its start is not started again: the server ends instead.
MIN_LIFETIME_S = 10.0


def supervise(workers: int, host: str, port: int) -> int:
    """Keep ``workers`` worker processes running until SIGTERM/SIGINT, or until one cannot load the model."""
    ctx = multiprocessing.get_context("spawn")
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))

    started: dict[int, float] = {}

    def start() -> BaseProcess:
        proc = ctx.Process(target=_worker, args=(__package__, host, port), daemon=False)
        proc.start()
        started[id(proc)] = time.monotonic()
        return proc

    procs = [start() for _ in range(workers)]
    code = 0
    try:
        while not stopping:
            wait([p.sentinel for p in procs], timeout=0.5)
            for i, proc in enumerate(procs):
                if proc.exitcode is None or stopping:
                    continue
                if proc.exitcode == EXIT_MODEL_UNLOADABLE or time.monotonic() - started[id(proc)] < MIN_LIFETIME_S:
                    print(f"mlops serve: worker {proc.pid} ended with code {proc.exitcode}; stopping",
                          file=sys.stderr, flush=True)
                    code = proc.exitcode if proc.exitcode and proc.exitcode > 0 else 1
                    stopping.append(0)
                    break
                print(f"mlops serve: worker {proc.pid} ended with code {proc.exitcode}; starting another",
                      file=sys.stderr, flush=True)
                procs[i] = start()
    finally:
        for proc in procs:
            if proc.exitcode is None:
                proc.terminate()
        for proc in procs:
            proc.join(10)
            if proc.exitcode is None:
                proc.kill()
    return code


def _worker(package: str, host: str, port: int) -> None:
    """One worker: its own ``SO_REUSEPORT`` socket on ``host:port`` and a uvicorn server of the app."""
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    config = uvicorn.Config(f"{package}.app:create_app", factory=True, access_log=False, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
