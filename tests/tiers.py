"""Test tiers: the unit tier is every test without a tier marker, and it stays in-process.

Tier markers (declared in ``pyproject.toml``): ``slow`` (starts processes: the ``mlops`` command, trial
virtualenvs, bubblewrap, PostgreSQL...), ``docker`` (a Docker engine), ``browser`` (Chromium). A test that uses a
fixture of ``FIXTURE_TIERS`` gets that fixture's marker; a test with none gets ``unit`` (``make check`` runs
``-m unit``). While a unit test sets up and runs, starting a process other than ``ALLOWED_PROGRAMS`` or connecting
to a Docker engine fails it in one line naming the marker to add, so a heavy test cannot hide in the fast tier.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Generator

import pytest

TIER_MARKERS = ("slow", "docker", "browser")
#: Fixtures that bring their tier with them (tests/conftest.py; ``python``: tests/monitor/conftest.py).
FIXTURE_TIERS = {"ml_env": "slow", "dl_env": "slow", "python": "slow", "postgres_url": "slow",
                 "second_docker_host": "docker", "browser": "browser", "chromium": "browser"}
#: Quick programs a unit test may start.
ALLOWED_PROGRAMS = frozenset({"git", "tar", "mount", "umount"})
_BROWSERS = frozenset({"chromium", "chromium-browser", "chromedriver", "google-chrome"})
_refused: list[str] = []
_active = [False]


def verdict(argv: list[str]) -> tuple[str, str] | None:
    """``(marker, what)`` when a unit test may not start ``argv``, else ``None``."""
    program = argv[0] if argv else ""
    name = os.path.basename(program)
    if name in ALLOWED_PROGRAMS:
        return None
    if "/venvs/" in program:
        return "slow", f"it runs a trial virtualenv's Python ({program})"
    if name in ("docker", "dockerd"):
        return "docker", f"it runs the {name} command"
    if name in _BROWSERS:
        return "browser", f"it starts {name}"
    allowed = ", ".join(sorted(ALLOWED_PROGRAMS))
    return "slow", f"it starts {' '.join(argv[:3])!r} (a unit test starts no process but {allowed})"


def _refuse(marker: str, what: str) -> None:
    message = f"a unit test must stay in-process, but {what}: mark it @pytest.mark.{marker}"
    _refused.append(message)  # a background thread's refusal fails the test too
    pytest.fail(message, pytrace=False)


def _install() -> None:
    """Check every process start and every connection to a Docker engine while a unit test runs."""
    popen_init = subprocess.Popen.__init__
    connect = socket.socket.connect

    def guarded_init(self: subprocess.Popen, args: object, *rest: object, **kwargs: object) -> None:
        if _active[0]:
            argv = args.split() if isinstance(args, str) else [args] if isinstance(args, bytes | os.PathLike) \
                else list(args)  # type: ignore[call-overload]
            found = verdict([os.fsdecode(a) if isinstance(a, bytes | os.PathLike) else str(a) for a in argv])
            if found:
                _refuse(*found)
        popen_init(self, args, *rest, **kwargs)  # type: ignore[arg-type]

    def guarded_connect(self: socket.socket, address: object) -> None:
        connect(self, address)  # type: ignore[arg-type]
        if _active[0] and self.family == socket.AF_UNIX and "docker" in os.fsdecode(address):  # type: ignore[arg-type]
            _refuse("docker", f"it talks to the Docker engine at {os.fsdecode(address)}")  # type: ignore[arg-type]

    subprocess.Popen.__init__ = guarded_init  # type: ignore[method-assign]
    socket.socket.connect = guarded_connect  # type: ignore[method-assign]


_install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use a heavy fixture with its tier, and the rest ``unit``."""
    for item in items:
        for fixture in sorted(set(getattr(item, "fixturenames", ())) & FIXTURE_TIERS.keys()):
            item.add_marker(FIXTURE_TIERS[fixture])
        if not any(item.get_closest_marker(marker) for marker in TIER_MARKERS):
            item.add_marker("unit")


def _guarded(item: pytest.Item) -> Generator[None, object, object]:
    """One phase of a test, under the guard when it is a unit test (setup and call; not teardown, which may stop
    what heavier tests started); a test may run a pytest session of its own (tests/test_tiers.py)."""
    outer = _refused[:], _active[0]
    _refused.clear()
    _active[0] = item.get_closest_marker("unit") is not None
    try:
        result = yield
    except BaseException as error:
        refused = _restore(outer)
        if refused and str(error) != refused[0]:  # the test failed because a thread of it was refused
            raise pytest.fail.Exception(refused[0], pytrace=False) from error
        raise
    refused = _restore(outer)
    if refused:
        pytest.fail(refused[0], pytrace=False)
    return result


def _restore(outer: tuple[list[str], bool]) -> list[str]:
    """Put back the state of the enclosing test; return what this one was refused."""
    refused = _refused[:]
    _refused[:], _active[0] = outer
    return refused


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))
