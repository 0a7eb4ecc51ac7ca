"""Benchmarks, run from the repository's root with the tool virtualenv: ``.venv/bin/python -m bench.NAME``.

Each takes ``--quick`` (tiny data, one round: seconds to a minute), which ``tests/test_bench.py`` runs for every
one of them, so that a change cannot break a benchmark unseen. Shared helpers are in ``bench/_common.py``; the
programs a benchmark runs in another interpreter (the serving or trial virtualenvs) are files in ``bench/inner/``.
"""
