"""``python -m serving [--host H] [--port P] [--workers N]``: serve the model in ``$MLOPS_MODEL_DIR``.

Starts one uvicorn worker process per usable CPU (``MLOPS_SERVE_WORKERS`` overrides), each with the
model loaded, its numeric libraries' thread pools sized to its share of the CPUs (``OMP_NUM_THREADS`` and the
like, unless set), and one set of Prometheus value files for all. The supervisor accepts the connections and
hands each to the worker with the fewest open (see ``process/workers.py``), so a few keep-alive clients keep
every worker busy.
A worker that dies is started again; one that cannot load the model ends the server with exit code 3,
so that the watchdog sees the unit fail.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .process.workers import supervise
from .settings import (
    MULTIPROC_ENV,
    READY_DIR_ENV,
    SUPERVISOR_ENV,
    WORKERS_ENV,
    Settings,
    thread_environment,
    worker_count,
)


def main(argv: list[str] | None = None) -> int:
    """Run the server until it is stopped; 3 if the model could not be loaded."""
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=None, help="default: MLOPS_SERVE_WORKERS or the usable CPUs")
    args = parser.parse_args(argv)
    try:
        workers = args.workers or worker_count()
        Settings.from_env()  # a bad MLOPS_* value ends the server here, in one line, not in every worker
    except ValueError as e:
        print(f"mlops serve: {e}", file=sys.stderr)
        return 2
    os.environ.update(thread_environment(workers))  # read by the libraries when they load, in every worker
    if workers == 1:  # the worker is this process: it exits with code 3 itself when the model cannot load
        import uvicorn

        from .process.writes import OneWriteProtocol

        uvicorn.run(f"{__package__}.http.app:create_app", factory=True, host=args.host, port=args.port,
                    http=OneWriteProtocol, access_log=False, timeout_graceful_shutdown=5)
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="mlops-serve-"))
    try:
        for sub in ("metrics", "ready"):
            (scratch / sub).mkdir()
        # Read by the workers (spawned processes inherit the environment), and by prometheus-client at import.
        os.environ.update({MULTIPROC_ENV: str(scratch / "metrics"), READY_DIR_ENV: str(scratch / "ready"),
                           SUPERVISOR_ENV: str(os.getpid()), WORKERS_ENV: str(workers)})
        return supervise(workers, args.host, args.port, scratch / "ready")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
