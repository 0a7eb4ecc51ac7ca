"""Each answer leaves in one write.

uvicorn writes an answer's status line and headers as soon as the app starts the response, and its body in a
second write: two system calls and two TCP segments, and a client that wakes up for the headers and then again
for the body. ``OneWriteProtocol`` holds the first write of a loop turn and sends it together with the next one
(the body, sent in the same turn), or on its own at the end of the turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through ``JoinedWrites``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        """Wrap the connection's transport."""
        super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]


class JoinedWrites:
    """A transport that joins a write with the next one made in the same turn of the event loop."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        """Hold ``data`` until the next write or the end of this loop turn; send both at once."""
        if self._held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            held, self._held = self._held, None
            self._transport.write(held + data)

    def flush(self) -> None:
        """Send what is held."""
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        """Send what is held, then close."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
