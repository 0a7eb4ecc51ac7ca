"""The floor under any Python HTTP server here: a bare ASGI app on the same uvicorn (httptools, uvloop) that reads
the body and answers at once, or after computing ``?busy_ms=`` milliseconds (``bench/serving``).

Runs in the serving virtualenv. Argument: the port on 127.0.0.1.
"""

import sys
import time
from typing import Any

import uvicorn


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the body, compute ``busy_ms`` if asked, answer with a ``Server-Timing`` header as ours does."""
    if scope["type"] != "http":
        return
    start = time.perf_counter()
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    busy = float(scope["query_string"].partition(b"=")[2] or 0) / 1000
    began = time.perf_counter()
    while time.perf_counter() - began < busy:
        pass
    end = time.perf_counter()
    timing = b"predict;dur=%.3f, server;dur=%.3f" % ((end - began) * 1000, (end - start) * 1000)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"server-timing", timing)]})
    await send({"type": "http.response.body", "body": b'{"predictions":[0]}'})


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
