"""Names that become paths, collection keys, mail headers and console lines: projects and aliases.

A name is a *slug*: letters, digits, ``-``, ``_`` and ``.``, at most ``MAX_LENGTH`` characters, starting with a
letter or digit, never ``..`` anywhere. Whatever enters as a name (``name:`` in mlops.yaml, a folder or repository
name, a command-line argument) is checked here before anything is built from it.
"""

from __future__ import annotations

import re

from core.errors import UsageError

#: The longest name (a folder name, a line in a mail subject).
MAX_LENGTH = 64
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NOT_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def name_problem(value: object) -> str:
    """Why ``value`` is not a valid name, or ``""`` when it is one."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty name"
    shown = value.encode("unicode_escape").decode("ascii")[:80]
    if len(value) > MAX_LENGTH:
        return f"'{shown[:MAX_LENGTH]}...' is longer than {MAX_LENGTH} characters"
    if not _SLUG.fullmatch(value) or ".." in value:
        return (f"'{shown}' is not a valid name: use letters, digits, '-', '_' and '.', starting with a letter or "
                "digit, without '..'")
    return ""


def check_name(value: str, what: str = "project name") -> str:
    """``value`` when it is a valid name.

    Args:
        value: The name.
        what: What it names, for the message (``project name``, ``alias``, ``--to``).

    Raises:
        UsageError: It is not a slug; the message says what is allowed.
    """
    problem = name_problem(value)
    if problem:
        raise UsageError(f"{what}: {problem}")
    return value


def slug_of(text: str) -> str:
    """A valid name made from a folder or repository name (``my repo`` -> ``my-repo``), or ``""`` when nothing
    of it is usable."""
    slug = _NOT_SLUG.sub("-", text).strip("-._")
    while ".." in slug:
        slug = slug.replace("..", ".")
    return slug[:MAX_LENGTH].rstrip("-._")


def default_name(folder: str) -> str:
    """The project name taken from a folder or repository name when ``mlops.yaml`` gives none: the folder's name
    made a slug (``my repo`` -> ``my-repo``).

    Raises:
        UsageError: Nothing of it makes a name.
    """
    slug = slug_of(folder)
    if not slug:
        shown = folder.encode("unicode_escape").decode("ascii")[:80]
        raise UsageError(f"the folder name '{shown}' makes no valid project name; give one with 'name:' in "
                         "mlops.yaml (letters, digits, '-', '_' and '.')")
    return slug
