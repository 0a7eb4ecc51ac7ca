"""What a tweak is, and the registry of tweaks: adding a tweak means writing one class with ``@register``."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import libcst as cst

from training.analysis import ScriptAnalysis


class SkipTweak(Exception):
    """The tweak does not apply to this script; the message says why."""


class Tweak(abc.ABC):
    """One rewrite of a training script that the tuning loop can try.

    A tweak names its configuration key, says from the shared script analysis whether it applies (and why not),
    lists the values worth trying (the first means "unchanged") and rewrites the script for one value.
    """

    #: The configuration key (``scale``, ``dense``, ...).
    name: ClassVar[str]
    #: When it rewrites, relative to the other tweaks of one configuration (lower first).
    order: ClassVar[int]
    #: Keys this tweak reads from the configuration that do nothing on their own (``kernel`` for ``conv``).
    options: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def why_not(self, script: ScriptAnalysis) -> str | None:
        """Why the tweak cannot apply to this script; ``None`` when it can."""

    @abc.abstractmethod
    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        """Configuration key -> values to try, the first meaning "unchanged" (usually ``{name: [...]}``)."""

    @abc.abstractmethod
    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        """Rewrite ``script.module`` for ``config[key] == value``; return it and a description of the change.

        Raises:
            SkipTweak: The script has nothing this tweak can change.
        """

    def owns(self, key: str) -> bool:
        """Whether a configuration key belongs to this tweak."""
        return key == self.name

    def unchanged(self, value: Any) -> bool:
        """Whether a value means "leave the script as it is"."""
        return value in (None, False, 0)


#: Every tweak, in the order their keys appear in a tweak space.
TWEAKS: list[Tweak] = []


def register(cls: type[Tweak]) -> type[Tweak]:
    """Class decorator: make a tweak known to ``apply_config`` and to the tweak space.

    Raises:
        ValueError: Another tweak already has this name.
    """
    if any(t.name == cls.name for t in TWEAKS):
        raise ValueError(f"a tweak named {cls.name!r} is already registered")
    TWEAKS.append(cls())
    return cls


def find_tweak(key: str) -> Tweak | None:
    """The tweak a configuration key belongs to."""
    return next((t for t in TWEAKS if t.owns(key)), None)


def tweak_choices(script: ScriptAnalysis) -> dict[str, list[Any]]:
    """Every applicable tweak's choices for this script: configuration key -> values (first: unchanged)."""
    choices: dict[str, list[Any]] = {}
    for tweak in TWEAKS:
        if tweak.why_not(script) is None:
            choices.update(tweak.choices(script))
    return choices
