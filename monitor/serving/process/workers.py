"""The worker processes of ``python -m serving``: started, watched, restarted, stopped, and given connections.

The supervisor accepts every connection and hands it to the worker that has the fewest open (see ``handover``),
so a few keep-alive clients are spread evenly: with a socket per worker (``SO_REUSEPORT``) the kernel spreads
them by a hash, and 8 connections over 2 workers were split anywhere from 4/4 to 6/2 here, the busier worker's
clients waiting three times as long. A worker still loading its model gets none while another has it loaded.
Once handed over, a connection talks to its worker directly: only its first request waits for the hand-over.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque
from multiprocessing.connection import wait
from pathlib import Path

import uvicorn

from .handover import MAX_WAITING, Channel, HandedConnections, accept_all, hand_out
from .writes import OneWriteProtocol

#: Exit code of a worker (and so of the server) whose model cannot be loaded.
EXIT_MODEL_UNLOADABLE = 3
#: The serving package (``serving`` in the image), whose ``http.app`` each worker serves.
SERVING_PACKAGE = __package__.rpartition(".")[0]
#: A worker that ends sooner than this after its start is not started again: the server ends instead.
MIN_LIFETIME_S = 10.0


def supervise(workers: int, host: str, port: int, ready_dir: Path) -> int:
    """Keep ``workers`` worker processes running until SIGTERM/SIGINT, or until one cannot load the model; hand
    each connection to ``host:port`` to the one with the fewest open, among those that have loaded the model (a
    file named after their pid in ``ready_dir``) if any has. 1 if ``host:port`` cannot be listened on."""
    try:
        listener = _listen(host, port)
    except OSError as e:
        why = os.strerror(e.errno) if e.errno else str(e)
        print(f"mlops serve: cannot listen on {host}:{port}: {why}", file=sys.stderr, flush=True)
        return 1
    ctx = multiprocessing.get_context("spawn")
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))

    def start() -> Channel:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = ctx.Process(target=_worker, args=(SERVING_PACKAGE, theirs), daemon=False)
        proc.start()
        theirs.close()
        ours.setblocking(False)  # a worker too busy to take more is passed over, not waited for
        return Channel(proc, ours)

    pool = [start() for _ in range(workers)]
    waiting: deque[socket.socket] = deque()
    code = 0
    try:
        while not stopping:
            watched = [*(w.pair for w in pool if not w.leaving), *(w.proc.sentinel for w in pool)]
            if len(waiting) < MAX_WAITING:  # beyond, new connections wait in the listen backlog
                watched.append(listener)
            ready = wait(watched, timeout=0.01 if waiting else 0.5)
            for w in pool:
                if w.pair in ready:
                    w.read_notes()
            if listener in ready:
                accept_all(listener, waiting)
            hand_out(waiting, pool, ready_dir)
            for i, w in enumerate(pool):
                if w.proc.exitcode is None or stopping:
                    continue
                w.pair.close()
                if w.proc.exitcode == EXIT_MODEL_UNLOADABLE or time.monotonic() - w.started < MIN_LIFETIME_S:
                    print(f"mlops serve: worker {w.proc.pid} ended with code {w.proc.exitcode}; stopping",
                          file=sys.stderr, flush=True)
                    code = w.proc.exitcode if w.proc.exitcode and w.proc.exitcode > 0 else 1
                    stopping.append(0)
                    break
                print(f"mlops serve: worker {w.proc.pid} ended with code {w.proc.exitcode}; starting another",
                      file=sys.stderr, flush=True)
                pool[i] = start()
    finally:
        listener.close()
        for conn in waiting:
            conn.close()
        for w in pool:
            if w.proc.exitcode is None:
                w.proc.terminate()
        for w in pool:
            w.proc.join(10)
            if w.proc.exitcode is None:
                w.proc.kill()
            w.pair.close()
    return code


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket (``::`` takes IPv4 clients too, where the system allows it)."""
    if host == "::" and socket.has_dualstack_ipv6():
        listener = socket.create_server((host, port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=2048)
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=2048)
    listener.setblocking(False)
    return listener


def _worker(package: str, pair: socket.socket) -> None:
    """One worker: a uvicorn server of the app, for the connections the supervisor hands over on ``pair``."""
    config = uvicorn.Config(f"{package}.http.app:create_app", factory=True, http=OneWriteProtocol, access_log=False,
                            timeout_graceful_shutdown=5)
    HandedConnections(config, pair).run()
