"""The run store contract, over the embedded store and (when MONGODB_URI is set) a real MongoDB."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.errors import StoreError
from mlops.store import RunStore, get_run_store, redact_uri


@pytest.fixture(params=["embedded", "mongodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "mongodb":
        uri = os.environ.get("MLOPS_TEST_MONGODB_URI")
        if not uri:
            pytest.skip("no MongoDB here: set MLOPS_TEST_MONGODB_URI to run the contract on a real server")
        s = get_run_store(uri)
        for name in ("runs", "trials", "models", "events"):
            s._db[name].delete_many({})
    else:
        s = get_run_store(None, home=tmp_path)
    yield s
    s.close()


def test_a_run_goes_from_running_to_finished_and_then_never_changes(store: RunStore) -> None:
    run_id = store.create_run({"project": "wine", "metric": "accuracy"})
    assert store.get_run(run_id)["status"] == "running"
    store.update_run(run_id, {"note": "halfway"})
    store.finish_run(run_id, "passed", {"value": 0.93})
    run = store.get_run(run_id)
    assert (run["status"], run["value"], run["note"]) == ("passed", 0.93, "halfway")
    with pytest.raises(StoreError, match="is finished"):
        store.update_run(run_id, {"value": 0.1})
    with pytest.raises(StoreError, match="is finished"):
        store.finish_run(run_id, "failed")
    with pytest.raises(StoreError, match="is finished"):
        store.add_trial(run_id, {"status": "ok"})
    assert store.get_run(run_id)["value"] == 0.93


def test_returned_records_are_copies(store: RunStore) -> None:
    doc = {"project": "p", "config": {"target": 0.8}}
    run_id = store.create_run(doc)
    doc["config"]["target"] = 0.1
    got = store.get_run(run_id)
    got["config"]["target"] = 0.2
    assert store.get_run(run_id)["config"]["target"] == 0.8


def test_trials_are_numbered_in_order_and_failed_ones_are_kept(store: RunStore) -> None:
    run_id = store.create_run({"project": "p"})
    other = store.create_run({"project": "q"})
    assert store.add_trial(run_id, {"status": "ok", "value": 0.7}) == 1
    assert store.add_trial(other, {"status": "ok"}) == 1
    assert store.add_trial(run_id, {"status": "failed", "error": "boom"}) == 2
    trials = store.trials(run_id)
    assert [(t["number"], t["status"]) for t in trials] == [(1, "ok"), (2, "failed")]
    assert trials[1]["error"] == "boom"


def test_model_versions_count_per_project(store: RunStore) -> None:
    assert store.register_model({"project": "a", "path": "/m1"}) == 1
    assert store.register_model({"project": "a", "path": "/m2"}) == 2
    assert store.register_model({"project": "b", "path": "/m3"}) == 1
    assert [m["path"] for m in store.models("a")] == ["/m2", "/m1"]


def test_unknown_runs_and_bad_statuses_are_refused(store: RunStore) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        store.update_run("nope", {})
    run_id = store.create_run({})
    with pytest.raises(ValueError, match="status must be 'passed' or 'failed', but got status='done'"):
        store.finish_run(run_id, "done")


def test_runs_are_listed_newest_first_and_filtered(store: RunStore) -> None:
    ids = [store.create_run({"project": "x" if i % 2 else "y"}) for i in range(4)]
    assert [r["_id"] for r in store.find_runs()] == list(reversed(ids))
    assert {r["project"] for r in store.find_runs({"project": "x"})} == {"x"}


def test_the_embedded_store_persists_across_processes(tmp_path: Path) -> None:
    code = """
import sys
from pathlib import Path
from mlops.store import get_run_store
s = get_run_store(None, home=Path(sys.argv[1]))
if sys.argv[2] == "write":
    rid = s.create_run({"_id": "r1", "project": "p"})
    s.add_trial(rid, {"status": "ok", "value": 0.5})
else:
    print(s.get_run("r1")["status"], s.trials("r1")[0]["value"])
"""
    for step in ("write", "read"):
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), step], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["running", "0.5"]


def test_an_unreachable_mongodb_is_one_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError, match=r"cannot reach MongoDB at mongodb://ci:\*\*\*@127.0.0.1:9/") as info:
        get_run_store("mongodb://ci:s3cret@127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300")
    assert "s3cret" not in str(info.value)


def test_redact_uri_hides_only_the_password() -> None:
    assert redact_uri("mongodb://u:p@h:27017/db") == "mongodb://u:***@h:27017/db"
    assert redact_uri("mongodb://h/db") == "mongodb://h/db"
