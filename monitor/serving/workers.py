"""The worker processes of ``python -m serving``: started, watched, restarted, stopped, and given connections.

The supervisor accepts every connection and hands it (its file descriptor, over a Unix socket pair) to the worker
that has the fewest open, so a few keep-alive clients are spread evenly: with a socket per worker
(``SO_REUSEPORT``) the kernel spreads them by a hash, and 8 connections over 2 workers were split anywhere from
4/4 to 6/2 here, the busier worker's clients waiting three times as long. A worker still loading its model gets
none while another has it loaded. Once handed over, a connection talks to its worker directly: only its first
request waits for the hand-over.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

import uvicorn

from .writes import OneWriteProtocol

#: Exit code of a worker (and so of the server) whose model cannot be loaded.
EXIT_MODEL_UNLOADABLE = 3
#: A worker that ends sooner than this after its start is not started again: the server ends instead.
MIN_LIFETIME_S = 10.0
#: What a worker sends back each time one of its connections closes.
CLOSED = b"-"


@dataclass
class Worker:
    """One worker process, the supervisor's end of its socket pair, and how many connections it has open."""

    proc: BaseProcess
    pair: socket.socket
    started: float = field(default_factory=time.monotonic)
    open: int = 0

    def take(self, conn: socket.socket) -> bool:
        """Hand ``conn`` over; whether the worker got it."""
        try:
            socket.send_fds(self.pair, [b"+"], [conn.fileno()])
        except OSError:  # gone (started again below), or too busy to read what it was given
            return False
        self.open += 1
        return True

    def count_closed(self) -> None:
        """Take in the worker's notes of closed connections."""
        while True:
            try:
                note = self.pair.recv(1, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                note = b""
            if note != CLOSED:  # the worker's end is closed: it is ending
                self.open = 1 << 30
                return
            self.open = max(0, self.open - 1)


def supervise(workers: int, host: str, port: int, ready_dir: Path) -> int:
    """Keep ``workers`` worker processes running until SIGTERM/SIGINT, or until one cannot load the model; hand
    each connection to ``host:port`` to the one with the fewest open, among those that have loaded the model (a
    file named after their pid in ``ready_dir``) if any has."""
    ctx = multiprocessing.get_context("spawn")
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                    backlog=2048)
    listener.setblocking(False)

    def start() -> Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = ctx.Process(target=_worker, args=(__package__, theirs), daemon=False)
        proc.start()
        theirs.close()
        ours.setblocking(False)  # a worker too busy to take more is passed over, not waited for
        return Worker(proc, ours)

    pool = [start() for _ in range(workers)]
    code = 0
    try:
        while not stopping:
            ready = wait([listener, *(w.pair for w in pool), *(w.proc.sentinel for w in pool)], timeout=0.5)
            for w in pool:
                if w.pair in ready:
                    w.count_closed()
            if listener in ready:
                _hand_out(listener, pool, ready_dir)
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
        for w in pool:
            if w.proc.exitcode is None:
                w.proc.terminate()
        for w in pool:
            w.proc.join(10)
            if w.proc.exitcode is None:
                w.proc.kill()
            w.pair.close()
    return code


def _hand_out(listener: socket.socket, pool: list[Worker], ready_dir: Path) -> None:
    """Accept every pending connection and hand each to the worker with the fewest open, a loaded one first."""
    loaded = {p.name for p in ready_dir.iterdir()}
    while True:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # e.g. the client reset it while queued, or out of file descriptors for now
            return
        with conn:
            for w in sorted(pool, key=lambda w: (str(w.proc.pid) not in loaded, w.open)):
                if w.proc.exitcode is None and w.take(conn):
                    break


def _worker(package: str, pair: socket.socket) -> None:
    """One worker: a uvicorn server of the app, for the connections the supervisor hands over on ``pair``."""
    config = uvicorn.Config(f"{package}.app:create_app", factory=True, http=OneWriteProtocol, access_log=False,
                            timeout_graceful_shutdown=5)
    HandedConnections(config, pair).run()


class HandedConnections(uvicorn.Server):
    """A uvicorn server with no listening socket of its own: it serves the connections that arrive on ``pair``,
    and says there when one closes."""

    def __init__(self, config: uvicorn.Config, pair: socket.socket) -> None:
        super().__init__(config)
        self.pair = pair
        self._opening: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start the app, then take connections."""
        await super().startup(sockets=[])
        self.pair.setblocking(False)
        asyncio.get_running_loop().add_reader(self.pair.fileno(), self._take)

    def _take(self) -> None:
        try:
            _, fds, _, _ = socket.recv_fds(self.pair, 16, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            fds = []
        loop = asyncio.get_running_loop()
        if not fds:  # the supervisor is gone
            loop.remove_reader(self.pair.fileno())
            self.should_exit = True
            return
        for fd in fds:
            task = loop.create_task(self._open(socket.socket(fileno=fd)))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self._protocol, conn)
        except OSError:  # reset by the client before it got here
            conn.close()
            self._closed()

    def _closed(self) -> None:
        try:
            self.pair.send(CLOSED)
        except OSError:
            pass

    def _protocol(self) -> asyncio.Protocol:
        protocol = self.config.http_protocol_class(config=self.config, server_state=self.server_state,
                                                   app_state=self.lifespan.state)
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            lost(exc)
            self._closed()

        protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        return protocol
