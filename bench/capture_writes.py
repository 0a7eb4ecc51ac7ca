"""What writing captured predictions costs as the capture spool grows, side by side in one run: the server's own
inference ids (version-7 UUIDs, time first) against random ones (version-4 UUIDs, as the server made them
before, or as a client may send its own).

Usage, from a clean clone with the tool virtualenv (``make setup``)::

    .venv/bin/python -m bench.capture_writes [--rows 200000] [--quick]

Runs ``bench/inner/capture_fill.py`` in the serving virtualenv (``ml-serve``, built on first use as
``mlops deploy`` builds it without Docker). Each kind of id fills its own spool (``SpoolCapture``, the SQLite file
a server without MongoDB captures into) with one-row predictions of the wine forest, in batches of 500 as the
capture writer takes them. The two fill in alternating blocks of 10,000 rows so that both see the same load, and
the CPU time per row of ``add_prepared`` (the writer thread's part) is printed for each block: random ids land at
random places in the primary key's index, so the cost grows with the table; time-ordered ids land at its end.
``--quick``: 2 blocks of 1,000 rows.
"""

from __future__ import annotations

import subprocess
import sys

from bench._common import inner, load_average, parser, serve_venv, serving_env


def main() -> int:
    """Fill both spools block by block in the serving virtualenv and print the per-row cost of each block."""
    cli = parser(__doc__)
    cli.add_argument("--rows", type=int, default=200_000, help="rows written into each spool (default 200,000)")
    args = cli.parse_args()
    rows, block = (2_000, 1_000) if args.quick else (args.rows, 10_000)
    python = serve_venv("ml")
    load_average("start")
    done = subprocess.run([str(python), inner("capture_fill.py"), str(rows), str(block)], env=serving_env(),
                          check=False)
    load_average("end")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
