"""The unit tier keeps heavy tests out, and every test asserts something."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

INNER = '''
import subprocess, sys
import pytest

def test_starts_python():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

@pytest.mark.slow
def test_starts_python_marked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

def test_starts_git():
    subprocess.run(["git", "--version"], check=True, capture_output=True)

def test_a_thread_starts_a_trial_virtualenv():
    import threading
    def trial():
        try:
            subprocess.run(["/cache/venvs/ml-1234/bin/python", "-c", "pass"])
        except BaseException:
            pass  # swallowed, as a worker thread might
    t = threading.Thread(target=trial)
    t.start()
    t.join()

def test_in_process():
    assert sum([1, 2]) == 3
'''


def test_a_unit_test_that_starts_a_process_fails_in_one_line_naming_the_marker_to_add(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-p", "tests.tiers", "-p", "no:cacheprovider")
    calls = {r.nodeid.split("::")[-1]: r for r in result.reprec.getreports("pytest_runtest_logreport")
             if r.when == "call"}
    assert {name: r.outcome for name, r in calls.items()} == {
        "test_starts_python": "failed", "test_starts_python_marked": "passed", "test_starts_git": "passed",
        "test_a_thread_starts_a_trial_virtualenv": "failed", "test_in_process": "passed"}
    assert calls["test_starts_python"].longreprtext.startswith("a unit test must stay in-process, but it starts ")
    assert calls["test_starts_python"].longreprtext.endswith("-c pass' (a unit test starts no process but git, "
                                                             "mount, tar, umount): mark it @pytest.mark.slow")
    assert calls["test_a_thread_starts_a_trial_virtualenv"].longreprtext == (
        "a unit test must stay in-process, but it runs a trial virtualenv's Python (/cache/venvs/ml-1234/bin/python): "
        "mark it @pytest.mark.slow")


def test_make_check_selects_only_the_unit_tier(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef ml_env():\n    return 'ml'\n")
    pytester.makepyfile(test_inner="import pytest\n\ndef test_plain():\n    pass\n\n"
                                   "def test_with_env(ml_env):\n    pass\n\n"
                                   "@pytest.mark.docker\ndef test_docker():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "tests.tiers", "-p", "no:cacheprovider", "-m", "unit")
    result.assert_outcomes(passed=1, deselected=2)
    assert re.search(r"^check: lint\n\t.*pytest -m unit ", (ROOT / "Makefile").read_text(), re.M)


def _test_sources() -> Iterator[Path]:
    """The suite's own modules (not the corpora of users' scripts it trains)."""
    for path in (ROOT / "tests").rglob("*.py"):
        if not any(part.endswith("_corpus") for part in path.parts):
            yield path


def _asserts_itself(function: ast.AST) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "pytest" \
                and node.func.attr in ("raises", "warns", "fail"):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("assert"):
            return True  # result.assert_outcomes(...), mock.assert_called_once_with(...)
    return False


def _called_names(function: ast.AST) -> set[str]:
    return {node.func.id for node in ast.walk(function)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def test_every_test_asserts_something_itself_or_through_a_helper_that_does() -> None:
    functions: dict[str, list[ast.AST]] = {}
    tests: list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for path in _test_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.setdefault(node.name, []).append(node)
                if node.name.startswith("test"):
                    tests.append((path, node))
    asserting = {name for name, defs in functions.items() if any(_asserts_itself(d) for d in defs)}
    grown = True
    while grown:  # helpers that call an asserting helper assert too
        more = {name for name, defs in functions.items()
                if name not in asserting and any(_called_names(d) & asserting for d in defs)}
        asserting |= more
        grown = bool(more)
    silent = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}" for path, node in tests
              if not _asserts_itself(node) and not _called_names(node) & asserting]
    assert silent == [], "tests without an assertion (assert, pytest.raises, or a helper that asserts)"
