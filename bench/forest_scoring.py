"""How a served forest is scored, side by side in one run: the estimator's own call, the trees' own calls summed
in order, and all the trees walked together (``monitor/serving/_forest.py``), for requests of 1 to 256 rows.

Usage, from a clean clone with the tool virtualenv (``make setup``)::

    .venv/bin/python -m bench.forest_scoring [--repeat 200] [--quick]

Runs ``bench/inner/forest_walks.py`` in the serving virtualenv (``ml-serve``, built on first use as
``mlops deploy`` builds it without Docker). Three forests: the wine random forest (100 trees, 8 levels), a random
forest on 20,000 synthetic rows (100 trees, about 34 levels) and extra trees on 5,000 of them (300 trees, about 43
levels). Each call is checked to give the estimator's own answers to the last bit, and each size says which way
the server takes (``served by``): the walk while rows x depth is at most ``MAX_STEPS``, the trees' own calls up to
``MAX_ROWS``, the estimator above. Rounds of the three ways are interleaved so that they see the same load; the
median of 5 rounds is printed. ``--quick``: forests of 10 and 30 trees on 2,000 rows, 1 round of few calls.
"""

from __future__ import annotations

import subprocess
import sys

from bench._common import inner, load_average, parser, serve_venv, serving_env


def main() -> int:
    """Run the comparison in the serving virtualenv and print it."""
    cli = parser(__doc__)
    cli.add_argument("--repeat", type=int, default=200, help="calls per round for one row (fewer for more rows)")
    args = cli.parse_args()
    repeat, rounds, mode = (4, 1, "quick") if args.quick else (args.repeat, 5, "full")
    python = serve_venv("ml")
    load_average("start")
    done = subprocess.run([str(python), inner("forest_walks.py"), str(repeat), str(rounds), mode],
                          env=serving_env(OMP_NUM_THREADS="1"), check=False)
    print()
    load_average("end")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
