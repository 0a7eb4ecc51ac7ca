"""Serving speed, side by side in one run: the model's own predict, our server, and MLflow's scoring server.

Usage, from a clean clone with the tool virtualenv (``make setup``) and Debian's ``wrk``::

    apt-get install -y wrk
    .venv/bin/python -m bench.serving [--seconds 6] [--skip-mlflow] [--only-capture] [--quick]

The first run builds, and later runs reuse: the serving virtualenvs (``ml-serve``, ``dl-serve``: trial
packages + requirements-serve.txt, as ``mlops deploy`` uses without Docker) and MLflow's own virtualenv
(``~/.cache/mlops/bench/mlflow-<version>``: ``mlflow`` + requirements-dl.txt, from PyPI). It trains the
wine random forest (examples/wine-sklearn, 100 trees) and a small Keras CNN on scikit-learn's 8x8
digits, then for each model, one row per request, all on 127.0.0.1:

1. the model's own predict: the exact call the server makes on an already validated array, timed
   in-process in the serving virtualenv, in rounds interleaved with (2) so that both see the same load (and for
   scikit-learn, the estimator's own call beside it: a forest is served without joblib, its trees walked together);
2. ours, ``python -m serving`` (one worker per CPU): ``wrk`` with 1 connection and with 8 connections, in the
   same interleaved rounds (each figure is the median of the rounds', p99 / p50 too). Each answer's
   ``Server-Timing`` header says how long the model's predict took in the server and the whole answer there, so
   the overhead is the latency's p50 minus the predict's p50 over the same requests (a separately timed predict
   moves by more than the overhead with the load of the moment; it is shown too); beside it, a bare ASGI app on
   the same uvicorn, the floor of loopback HTTP, answering at once and after computing as long as the predict
   (a client that waited longer wakes up more slowly, so the floor rises with the predict's time);
3. MLflow's ``mlflow models serve --env-manager local`` on the same model (its default: 1 worker),
   1 and 8 connections, and with as many workers as ours at 8 connections;
4. peak RSS (VmHWM summed over the server's processes);
5. prediction capture on vs off: two servers of the same model, one writing every prediction to a capture spool
   (``MLOPS_CAPTURE_DIR``), one with ``MLOPS_CAPTURE=off``, measured in interleaved rounds at 1 and 8 connections;
   the spool's row count is checked against the requests answered (``--only-capture`` runs just this part).

Goals (issue "Speed"): overhead over the model's predict <= 0.5 ms p50; capture costs at most a few percent
(p50 and requests/s); 8 connections >= 1.7x the
one-client rate; >= 3x MLflow's throughput at 8 connections, with p99 <= 3x p50 under load. The machine
is shared: the load average is printed at the start and the end, so a noisy run can be told apart.

``--quick``: 1 round of 1-second wrk runs, a CNN trained for 1 epoch, and MLflow only if its virtualenv is
already built. The parts: ``_model.py`` (1-4), ``_mlflow.py`` (3), ``_capture.py`` (5), ``_wrk.py`` (the load),
``_procs.py`` (CPU and memory of a process tree), ``_report.py`` (lines and goals); the programs they run in the
serving virtualenvs are in ``bench/inner/``.
"""
