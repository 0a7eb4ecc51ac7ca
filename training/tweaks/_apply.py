"""Apply a configuration of tweaks to a script: each registered tweak either rewrites it or is skipped with the
reason; the rewritten script must parse before any trial runs it."""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from typing import Any

from training.analysis import analyze
from training.tweaks._base import TWEAKS, SkipTweak, Tweak, find_tweak


@dataclass
class TweakOutcome:
    """A rewritten script and what happened to each requested tweak."""

    source: str
    applied: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def diff(self, original: str, name: str) -> str:
        """Unified diff of the rewritten script against the original."""
        return "".join(difflib.unified_diff(original.splitlines(keepends=True), self.source.splitlines(keepends=True),
                                            fromfile=f"a/{name}", tofile=f"b/{name}"))


def apply_config(source: str, config: dict[str, Any]) -> TweakOutcome:
    """Apply a configuration (tweak name -> value; ``param:<Class>:<name>`` for hyper-parameters).

    Tweaks rewrite in their registered order, each on the script as the previous ones left it. Values that mean
    "unchanged" (``False``, ``0``, ``None``; ``1`` for epochs) and option keys (``kernel``, ``stride``) do nothing
    on their own.

    Raises:
        SyntaxError: The source does not parse.
        ValueError: The rewritten script does not parse (a bug in a tweak; nothing runs).
    """
    outcome = TweakOutcome(source=source)
    options = {key for tweak in TWEAKS for key in tweak.options}
    steps: list[tuple[Tweak, str, Any]] = []
    for key, value in config.items():
        tweak = find_tweak(key)
        if tweak is None:
            if key not in options and value not in (None, False, 0):
                outcome.skipped.append((key, "unknown tweak"))
        elif not tweak.unchanged(value):
            steps.append((tweak, key, value))
    steps.sort(key=lambda step: step[0].order)
    code = source
    for tweak, key, value in steps:
        script = analyze(code)
        reason = tweak.why_not(script)
        if reason is None:
            try:
                module, description = tweak.rewrite(script, key, value, config)
            except SkipTweak as e:
                reason = str(e)
        if reason is not None:
            outcome.skipped.append((key, reason))
            continue
        code = module.code
        outcome.applied.append(description)
    outcome.source = code
    try:
        ast.parse(outcome.source)
    except SyntaxError as e:
        raise ValueError(f"the rewritten script does not parse ({e.msg}, line {e.lineno})") from e
    return outcome
