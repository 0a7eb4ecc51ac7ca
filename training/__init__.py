"""Everything that happens to a training project: detection, the harness, tweaks, strategies, backends.

User scripts never need to import this package. Those that want to name their metrics explicitly can
call :func:`report`. This module is shipped into trial environments with ``training/harness/``, so it
imports only the standard library.
"""

from __future__ import annotations

__all__ = ["report"]


def report(**metrics: float) -> None:
    """Report final metrics explicitly, e.g. ``training.report(accuracy=0.93)``.

    Inside an ``mlops`` trial these values win over every other source; outside one
    they are printed, so the script still runs on its own.
    """
    from training.harness.capture import current

    cap = current()
    if cap is None:
        print("metrics:", ", ".join(f"{k}={v}" for k, v in metrics.items()))
        return
    for name, value in metrics.items():
        cap.record(name, value, "report")
