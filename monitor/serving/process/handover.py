"""Connections handed from the supervisor to the workers of ``python -m serving``.

The supervisor accepts every connection and passes its file descriptor over a Unix socket pair to the worker
with the fewest open (``Channel``); the worker serves it like one it had accepted itself (``HandedConnections``).
Each worker says, after each connection it is done with, how many it has been done with in all (so a note that
cannot be sent at once is made good by the next), and ``bye`` when it stops taking any.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

import uvicorn

#: What a worker sends when it stops taking connections.
BYE = b"bye"
#: Connections the supervisor keeps accepted while no worker can take one (beyond them, the backlog waits).
MAX_WAITING = 1024


@dataclass
class Channel:
    """A worker process as the supervisor sees it: its end of the pair and its count of open connections."""

    proc: BaseProcess
    pair: socket.socket
    started: float = field(default_factory=time.monotonic)
    handed: int = 0
    done: int = 0
    leaving: bool = False

    @property
    def open(self) -> int:
        """Connections handed over that the worker has not said it is done with."""
        return self.handed - self.done

    def take(self, conn: socket.socket) -> bool:
        """Hand ``conn`` over; whether the worker got it (not if it is leaving, gone, or has too many queued)."""
        if self.leaving or self.proc.exitcode is not None:
            return False
        try:
            socket.send_fds(self.pair, [b"+"], [conn.fileno()])
        except OSError:
            return False
        self.handed += 1
        return True

    def read_notes(self) -> None:
        """Take in what the worker said."""
        while not self.leaving:
            try:
                note = self.pair.recv(32, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                note = b""
            if note.isdigit():
                self.done = max(self.done, int(note))
            else:  # bye, or the worker's end closed
                self.leaving = True


def hand_out(waiting: deque[socket.socket], pool: list[Channel], ready_dir: Path) -> None:
    """Hand the waiting connections, oldest first, each to the worker with the fewest open (one that has loaded
    its model first: a file named after its pid in ``ready_dir``); stop at one that no worker can take now."""
    if not waiting:
        return
    try:
        loaded = {p.name for p in ready_dir.iterdir()}
    except OSError:
        loaded = set()
    while waiting:
        conn = waiting[0]
        if not any(w.take(conn) for w in sorted(pool, key=lambda w: (str(w.proc.pid) not in loaded, w.open))):
            return
        waiting.popleft().close()


def accept_all(listener: socket.socket, waiting: deque[socket.socket]) -> None:
    """Accept the pending connections into ``waiting``, up to ``MAX_WAITING``."""
    while len(waiting) < MAX_WAITING:
        try:
            conn, _ = listener.accept()
        except OSError:  # none left, reset by its client while queued, or out of file descriptors for now
            return
        waiting.append(conn)


class HandedConnections(uvicorn.Server):
    """A uvicorn server with no listening socket of its own: it serves the connections that arrive on ``pair``."""

    def __init__(self, config: uvicorn.Config, pair: socket.socket) -> None:
        super().__init__(config)
        self.pair = pair
        self._done = 0
        self._note_waits = False
        self._opening: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start the app, then take connections."""
        await super().startup(sockets=[])
        self.pair.setblocking(False)
        asyncio.get_running_loop().add_reader(self.pair.fileno(), self._take)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Take no more connections (closing those still queued here), then shut down as uvicorn does."""
        self._leave()
        await super().shutdown(sockets=sockets)

    def _receive(self) -> tuple[bytes, list[int]] | None:
        """The supervisor's next message and its descriptors (both empty: the supervisor is gone); ``None`` when
        there is none yet."""
        try:
            message, fds, _, _ = socket.recv_fds(self.pair, 16, 4)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b"", []
        return message, fds

    def _take(self) -> None:
        received = self._receive()
        if received is None:
            return
        message, fds = received
        if not message and not fds:  # the supervisor is gone
            asyncio.get_running_loop().remove_reader(self.pair.fileno())
            self.should_exit = True
            return
        if not fds:  # it did not fit (this process is out of file descriptors): the kernel closed it
            self._finished()
            return
        loop = asyncio.get_running_loop()
        for fd in fds:
            task = loop.create_task(self._open(socket.socket(fileno=fd)))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self._protocol, conn)
        except OSError:  # reset by the client before it got here
            conn.close()
            self._finished()

    def _protocol(self) -> asyncio.Protocol:
        protocol = self.config.http_protocol_class(config=self.config, server_state=self.server_state,
                                                   app_state=self.lifespan.state)
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            lost(exc)
            self._finished()

        protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        return protocol

    def _finished(self) -> None:
        self._done += 1
        self._say_done()

    def _say_done(self) -> None:
        try:
            self.pair.send(b"%d" % self._done)
        except BlockingIOError:  # the supervisor has not read the earlier notes yet: say it when there is room
            if not self._note_waits:
                self._note_waits = True
                asyncio.get_running_loop().add_writer(self.pair.fileno(), self._say_done_later)
        except OSError:
            pass

    def _say_done_later(self) -> None:
        asyncio.get_running_loop().remove_writer(self.pair.fileno())
        self._note_waits = False
        self._say_done()

    def _leave(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.pair.fileno())
        if self._note_waits:
            loop.remove_writer(self.pair.fileno())
        # handed over but not taken yet: closed, as a stopping server's backlog is
        while (received := self._receive()) not in (None, (b"", [])):
            for fd in received[1]:
                os.close(fd)
        try:
            self.pair.send(BYE)
        except OSError:
            pass
