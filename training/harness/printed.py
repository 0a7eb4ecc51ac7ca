"""Metrics a script prints or writes to a file, read only under the name the script gave them (stdlib only).

``print("Test accuracy:", 93.5)`` is accuracy 0.935; ``print(f"f1 {f1:.3f}")`` is f1. A number is only taken
for a metric when the line names that metric; a line with no metric name counts only when the run's metric is
the task's default one and the script printed exactly one number in all. A value read as a percentage carries a
note that says so ("read 93.5 as 93.5% = 0.935"); ``nan`` and ``inf`` are read too, so that a non-finite value
can be named as such (the capture never takes it as the metric).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

#: Metric -> the words that name it in printed text, longest first (so "rmse" is not read as "mse").
METRIC_WORDS: dict[str, tuple[str, ...]] = {
    "rmse": ("root mean squared error", "root mean square error", "rmse"),
    "mse": ("mean squared error", "mean square error", "mse"),
    "mae": ("mean absolute error", "mae"),
    "r2": ("coefficient of determination", "r-squared", "r squared", "r2 score", "r2_score", "r^2", "r²", "r2"),
    "roc_auc": ("roc_auc", "roc auc", "auroc", "auc"),
    "f1": ("f1-score", "f1_score", "f1 score", "f-score", "fscore", "f1"),
    "precision": ("precision",),
    "recall": ("recall", "sensitivity"),
    "accuracy": ("accuracy", "acc"),
    "cost": ("total cost", "cost"),
}
#: Metrics that live in [0, 1]: a printed value above 1 (up to 100) or followed by % is a percentage.
BOUNDED = frozenset({"accuracy", "f1", "precision", "recall", "roc_auc"})
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf(?:inity)?)(?!\w))(%?)")
_WORDS = sorted(((w, m) for m, words in METRIC_WORDS.items() for w in words), key=lambda wm: -len(wm[0]))
_NAMES = re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(w) for w, _ in _WORDS) + r")(?![a-z0-9])", re.I)
_BY_WORD = {w: m for w, m in _WORDS}


@dataclass(frozen=True)
class Reading:
    """A metric value read from text, with the line it came from and, when it was read as a percentage, a note
    saying so (``read 93.5 as 93.5% = 0.935``)."""

    metric: str
    value: float
    line: str
    note: str = ""


def _value(metric: str | None, match: re.Match[str]) -> tuple[float, str]:
    """The value of a printed number for ``metric`` and the note of a percentage reading (else ``""``)."""
    shown = match.group(0).rstrip("%")
    value = float(shown)
    if math.isfinite(value) and (match.group(1) == "%" or (metric in BOUNDED and 1 < value <= 100)):
        share = f"{value / 100:.6g}"
        return value / 100, f"read {shown}% as {share}" if match.group(1) else f"read {shown} as {shown}% = {share}"
    return value, ""


def _reading(metric: str, match: re.Match[str], line: str) -> Reading:
    value, note = _value(metric, match)
    return Reading(metric, value, line, note)


def named_readings(lines: list[str]) -> list[Reading]:
    """Every ``<metric name> ... <number>`` in the lines, in order: the first number after each name."""
    found = []
    for line in lines:
        names = list(_NAMES.finditer(line))
        for i, name in enumerate(names):
            end = names[i + 1].start() if i + 1 < len(names) else len(line)
            number = _NUMBER.search(line, name.end(), end)
            if number:
                found.append(_reading(_BY_WORD[name.group(1).lower()], number, line.strip()))
    return found


def numbers(lines: list[str]) -> list[tuple[re.Match[str], str]]:
    """Every number in the lines, with its line."""
    return [(m, line) for line in lines for m in _NUMBER.finditer(line)]


def printed_metric(lines: list[str], metric: str, is_default: bool) -> Reading | None:
    """The value of ``metric`` the script printed: the last line that names it; else, when ``metric`` is the
    task's default and exactly one number was printed in all, that number."""
    named = [r for r in named_readings(lines) if r.metric == metric]
    if named:
        return named[-1]
    every = numbers(lines)
    if is_default and len(every) == 1:
        match, line = every[0]
        return _reading(metric, match, line.strip())
    return None


def file_readings(folder: Path, since: float) -> list[Reading]:
    """Metrics written to ``<metric name>.txt`` files (``accuracy.txt``) in ``folder`` since ``since``."""
    found = []
    for path in sorted(folder.glob("*.txt")):
        metric = _BY_WORD.get(path.stem.lower().replace("_", " ")) or _BY_WORD.get(path.stem.lower())
        if metric is None or path.is_symlink():
            continue
        try:
            if path.stat().st_mtime < since:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")[:1000]
        except OSError:
            continue
        number = _NUMBER.search(text)
        if number:
            found.append(_reading(metric, number, f"{path.name}: {text.strip()[:80]}"))
    return found
