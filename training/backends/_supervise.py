"""The supervision loop, written once for every backend: stream output, enforce the time limit, prune
on the streamed epochs, restart a trial killed from outside (it resumes from its epoch checkpoint)."""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from training.backends._trial import OutputSink, TrialProcess, TrialResult, TrialSpec

TAIL_LINES = 40
#: Seconds between two ``on_alive`` calls (heartbeats) while a trial runs.
ALIVE_EVERY_S = 5.0


class EpochWatcher(threading.Thread):
    """Follow a running trial's ``events.jsonl`` and stop the trial when ``on_epoch`` says so.

    Args:
        path: The harness's ``events.jsonl``.
        on_epoch: Receives (epoch, logs); returning False requests the stop.
        stop: Stops the trial (kills its process or container).
    """

    def __init__(self, path: Path, on_epoch: Callable[[int, dict[str, float]], bool],
                 stop: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.path, self.on_epoch, self.stop = path, on_epoch, stop
        self.stopped_at: int | None = None
        self._done = threading.Event()
        self._offset = 0

    def _poll(self) -> bool:
        if not self.path.exists():
            return True
        with self.path.open(encoding="utf-8") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        complete, _, _ = chunk.rpartition("\n")
        if not complete:
            return True
        self._offset += len(complete) + 1
        for line in complete.splitlines():
            event = json.loads(line)
            if not self.on_epoch(event["epoch"], event.get("logs", {})):
                self.stopped_at = event["epoch"]
                self.stop()
                return False
        return True

    def run(self) -> None:
        while not self._done.wait(0.3):
            if not self._poll():
                return

    def finish(self) -> None:
        """Stop following (the trial has ended)."""
        self._done.set()
        if self.is_alive():
            self.join(timeout=2)

    def pruned_result(self, log_tail: str, duration_s: float, where: str) -> TrialResult:
        """The result of a trial this watcher stopped."""
        return TrialResult(status="pruned", error_kind="pruned", where=where, log_tail=log_tail,
                           duration_s=duration_s,
                           error=f"pruned after epoch {(self.stopped_at or 0) + 1}: its validation metric was "
                                 "behind earlier trials at the same epoch")


def supervise(spec: TrialSpec, proc: TrialProcess, output: OutputSink) -> TrialResult:
    """Run ``proc`` to its end and turn how it ended into a ``TrialResult``."""
    start = time.time()
    deadline = start + spec.time_limit_s
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    log_path = spec.run_dir / "trial.log"
    watcher = EpochWatcher(spec.run_dir / "events.jsonl", spec.on_epoch, proc.kill) if spec.on_epoch else None
    restarts = 0

    def pump() -> None:
        with log_path.open("a", encoding="utf-8") as log:
            for line in proc.lines():
                log.write(line + "\n")
                log.flush()
                tail.append(line)
                output(line)

    def log_tail() -> str:
        return "\n".join(tail)

    try:
        proc.start()
        if watcher:
            watcher.start()
        while True:
            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            exit_code = _wait_alive(proc, deadline, spec.on_alive)
            if exit_code is None:
                proc.kill()
                reader.join(timeout=5)
                return TrialResult.timed_out(spec, log_tail(), time.time() - start, proc.where, restarts)
            reader.join(timeout=10)
            if watcher and watcher.stopped_at is not None:
                watcher.finish()
                return watcher.pruned_result(log_tail(), time.time() - start, proc.where)
            killed = proc.killed_from_outside(exit_code) and not (spec.run_dir / "metrics.json").exists()
            if not (killed and restarts < spec.restarts):
                break
            restarts += 1
            output(f"mlops: the trial was killed (exit code {exit_code}); starting it again "
                   f"({restarts}/{spec.restarts}): training resumes from its last checkpoint")
            proc.start()
        result = TrialResult.from_run_dir(spec.run_dir, exit_code, log_tail(), time.time() - start, proc.where)
        result.restarts = restarts
        explained = proc.failure(exit_code, spec)
        if explained:
            result.status = "failed"
            result.error_kind, result.error = explained
        elif killed:
            result.error_kind = "killed"
            result.error = (f"the trial was killed (exit code {exit_code}) before it finished"
                            + (f", also after {restarts} restart(s)" if restarts else ""))
        return result
    except BaseException:
        proc.kill()
        raise
    finally:
        if watcher:
            watcher.finish()
        proc.remove()


def _wait_alive(proc: TrialProcess, deadline: float, on_alive: Callable[[], None] | None) -> int | None:
    """Wait for the process to end (or the deadline), calling ``on_alive`` every few seconds meanwhile."""
    while True:
        left = deadline - time.time()
        if left <= 0:
            return None
        code = proc.wait(min(left, ALIVE_EVERY_S) if on_alive else max(1.0, left))
        if code is not None:
            return code
        if on_alive:
            on_alive()
