"""The supervision loop, written once for every backend: stream output, enforce the time limit, prune
on the streamed epochs, restart a trial killed from outside (it resumes from its epoch checkpoint)."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from training.backends._trial import OutputSink, TrialProcess, TrialResult, TrialSpec

TAIL_LINES = 40
#: Seconds between two ``on_alive`` calls (heartbeats, and a look at whether the run still wants the trial).
ALIVE_EVERY_S = 1.0
#: What ``trial.log`` keeps of a trial that prints a lot: its beginning and its end.
LOG_HEAD_BYTES = 1_000_000
LOG_TAIL_BYTES = 1_000_000
#: How many lines of a trial's output reach the console before the rest is only summarised.
CONSOLE_LINES = 300
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def plain(line: str) -> str:
    """A line as a log file or a Jenkins console should show it: no colour codes, and of a progress bar
    redrawn with carriage returns or backspaces only its last state."""
    line = _ANSI.sub("", line)
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    while "\b" in line:
        i = line.index("\b")
        line = line[: max(0, i - 1)] + line[i + 1:]
    return line


class TrialLog:
    """``trial.log`` and the console lines of one trial, both bounded.

    The log keeps the first ``head`` bytes and the last ``tail`` bytes with a line saying how much was cut
    between them; the console shows the first ``console`` lines, then one line saying where the rest is, and
    the last lines when the trial ends.
    """

    def __init__(self, path: Path, output: OutputSink, head: int = LOG_HEAD_BYTES, tail: int = LOG_TAIL_BYTES,
                 console: int = CONSOLE_LINES) -> None:
        self.path, self.output = path, output
        self.head, self.tail_budget, self.console = head, tail, console
        self._fh = path.open("a", encoding="utf-8")
        self._written = 0
        self._head_full = False
        self._tail: collections.deque[str] = collections.deque()
        self._tail_bytes = 0
        self.cut_lines = self.cut_bytes = 0
        self.shown = self.hidden = 0
        self.last: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        #: The first write the disk refused (full, read-only): the log stops there, the caller raises it.
        self.error: OSError | None = None

    def _write(self, text: str) -> None:
        if self.error is not None:
            return
        try:
            self._fh.write(text)
            self._fh.flush()
        except OSError as e:  # in the thread that reads the trial's output: kept for the caller, not raised here
            self.error = OSError(e.errno, e.strerror, str(self.path))

    def line(self, raw: str) -> None:
        """One line the trial printed."""
        text = plain(raw)
        size = len(text.encode("utf-8", errors="replace")) + 1
        with self._lock:
            self.last.append(text)
            if not self._head_full and self._written + size <= self.head:
                self._write(text + "\n")
                self._written += size
            else:
                self._head_full = True  # from the first line that does not fit, everything goes to the tail
                self._tail.append(text)
                self._tail_bytes += size
                while self._tail_bytes > self.tail_budget and self._tail:
                    dropped = self._tail.popleft()
                    self._tail_bytes -= len(dropped.encode("utf-8", errors="replace")) + 1
                    self.cut_lines += 1
                    self.cut_bytes += len(dropped.encode("utf-8", errors="replace")) + 1
            if self.shown < self.console:
                self.shown += 1
                self.output(text)
                if self.shown == self.console:
                    self.output(f"mlops: the trial prints a lot; the rest goes to {self.path} "
                                "(its last lines are shown when the trial ends)")
            else:
                self.hidden += 1

    def close(self) -> None:
        """Write the kept end of the output, and show the last lines the console did not show."""
        with self._lock:
            if self.cut_lines:
                self._write(f"[mlops: {self.cut_lines} lines ({self.cut_bytes / 1e6:.1f} MB) of output cut here; "
                            f"the first {self.head / 1e6:.0f} MB and the last {self.tail_budget / 1e6:.0f} MB "
                            "are kept]\n")
            for text in self._tail:
                self._write(text + "\n")
            self._tail.clear()
            try:
                self._fh.close()
            except OSError as e:
                self.error = self.error or OSError(e.errno, e.strerror, str(self.path))
            if self.hidden:
                last = list(self.last)[-min(self.hidden, 20):]
                if self.hidden > len(last):
                    self.output(f"[... {self.hidden - len(last)} lines not shown; see {self.path} ...]")
                for text in last:
                    self.output(text)
                self.hidden = 0

    def tail_text(self) -> str:
        """The last lines, for error reports."""
        return "\n".join(self.last)


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
        """Stop following (the trial has ended), after passing on the epochs that came last (a trial on another
        machine's engine sends its last events with its results)."""
        self._done.set()
        if self.is_alive():
            self.join(timeout=2)
        if not self.is_alive() and self.stopped_at is None:
            self._poll()

    def pruned_result(self, log_tail: str, duration_s: float, where: str) -> TrialResult:
        """The result of a trial this watcher stopped."""
        return TrialResult(status="pruned", error_kind="pruned", where=where, log_tail=log_tail,
                           duration_s=duration_s,
                           error=f"pruned after epoch {(self.stopped_at or 0) + 1}: its validation metric was "
                                 "behind earlier trials at the same epoch")


def supervise(spec: TrialSpec, proc: TrialProcess, output: OutputSink) -> TrialResult:
    """Run ``proc`` to its end and turn how it ended into a ``TrialResult`` (which says where it ran).

    Raises:
        OSError: ``trial.log`` could not be written (a full disk): the run cannot go on there.
    """
    log = TrialLog(spec.run_dir / "trial.log", output)
    result = _supervise(spec, proc, log)
    if log.error is not None:
        raise log.error
    result.host = result.host or proc.host
    return result


def _supervise(spec: TrialSpec, proc: TrialProcess, log: TrialLog) -> TrialResult:
    start = time.time()
    deadline = start + spec.time_limit_s
    watcher = EpochWatcher(spec.run_dir / "events.jsonl", spec.on_epoch, proc.kill) if spec.on_epoch else None
    restarts = 0

    def pump() -> None:
        for line in proc.lines():
            log.line(line)

    def log_tail() -> str:
        return log.tail_text()

    try:
        proc.start()
        if watcher:
            watcher.start()
        while True:
            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            exit_code, stop = _wait_alive(proc, deadline, spec.on_alive)
            if stop is not None:
                proc.kill()
                reader.join(timeout=5)
                return TrialResult(status="stopped", error_kind="stopped", error=stop, where=proc.where,
                                   log_tail=log_tail(), duration_s=time.time() - start, restarts=restarts)
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
            log.output(f"mlops: the trial was killed (exit code {exit_code}); starting it again "
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
        log.close()
        proc.remove()


def _wait_alive(proc: TrialProcess, deadline: float, on_alive: Callable[[], str | None] | None
                ) -> tuple[int | None, str | None]:
    """Wait for the process to end (or the deadline), calling ``on_alive`` every few seconds meanwhile.

    Returns:
        ``(exit code, None)``; ``(None, None)`` at the deadline; ``(None, why)`` when ``on_alive`` asks to stop.
    """
    while True:
        left = deadline - time.time()
        if left <= 0:
            return None, None
        code = proc.wait(min(left, ALIVE_EVERY_S) if on_alive else max(1.0, left))
        if code is not None:
            return code, None
        if on_alive and (stop := on_alive()):
            return None, stop
