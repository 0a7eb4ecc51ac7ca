"""The run store contract, over the embedded store and (when MLOPS_TEST_MONGODB_URI is set) a real MongoDB."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import AliasMoved, StoreError
from core.records import AliasMove, Event, ModelVersion, Run, RunStatus, Trial, TrialStatus
from core.store import COLLECTIONS, RunStore, get_run_store, redact_uri


@pytest.fixture(params=["embedded", "mongodb"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, Path]:
    """``(uri, home)`` of an empty store of each kind."""
    if request.param == "mongodb":
        uri = os.environ.get("MLOPS_TEST_MONGODB_URI")
        if not uri:
            pytest.skip("no MongoDB here: set MLOPS_TEST_MONGODB_URI to run the contract on a real server")
        s = get_run_store(uri)
        for name in COLLECTIONS:
            s._db[name].delete_many({})
        s.close()
        return uri, tmp_path
    return "", tmp_path


@pytest.fixture
def store(store_spec: tuple[str | None, Path]) -> Iterator[RunStore]:
    uri, home = store_spec
    s = get_run_store(uri or None, home=home) if uri else get_run_store("", home=home)
    yield s
    s.close()


def test_a_run_goes_from_running_to_finished_and_then_never_changes(store: RunStore) -> None:
    run = store.create_run(Run(project="wine", metric="accuracy"))
    assert store.get_run(run.id).status is RunStatus.RUNNING
    store.update_run(run.id, stopped="halfway")
    store.finish_run(run.id, RunStatus.PASSED, value=0.93)
    got = store.get_run(run.id)
    assert (got.status, got.value, got.stopped) == ("passed", 0.93, "halfway") and got.finished
    with pytest.raises(StoreError, match="is finished"):
        store.update_run(run.id, value=0.1)
    with pytest.raises(StoreError, match="is finished"):
        store.finish_run(run.id, RunStatus.FAILED)
    with pytest.raises(StoreError, match="is finished"):
        store.create_trial(run.id, Trial())
    assert store.get_run(run.id).value == 0.93


def test_returned_records_are_copies(store: RunStore) -> None:
    run = store.create_run(Run(project="p", config={"target": 0.8}))
    got = store.get_run(run.id)
    got.config["target"] = 0.2
    assert store.get_run(run.id).config["target"] == 0.8


def test_a_trial_exists_running_with_its_number_before_it_runs_and_keeps_its_result(store: RunStore) -> None:
    run = store.create_run(Run(project="p"))
    other = store.create_run(Run(project="q"))
    first = store.create_trial(run.id, Trial(config={"scale": True}))
    assert (first.number, first.status, first.run_id) == (1, TrialStatus.RUNNING, run.id) and first.heartbeat
    assert store.create_trial(other.id, Trial()).number == 1
    second = store.create_trial(run.id, Trial())
    store.finish_trial(first.model_copy(update={"status": TrialStatus.OK, "value": 0.7}))
    store.finish_trial(second.model_copy(update={"status": TrialStatus.FAILED, "error": "boom"}))
    trials = store.trials(run.id)
    assert [(t.number, t.status, t.value) for t in trials] == [(1, "ok", 0.7), (2, "failed", None)]
    assert trials[0].config == {"scale": True} and trials[1].error == "boom" and trials[1].finished_at


def dead_process() -> str:
    """``host:pid`` of a process of this machine that has ended."""
    return subprocess.run([sys.executable, "-c", "import os, socket; print(f'{socket.gethostname()}:{os.getpid()}')"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_trial_whose_heartbeat_stopped_is_reaped_once(store: RunStore) -> None:
    run = store.create_run(Run(project="p"))
    alive, dead = store.create_trial(run.id, Trial()), store.create_trial(run.id, Trial())
    store.update_trial(run.id, dead.number, heartbeat=time.time() - 600)
    store.heartbeat_trial(run.id, alive.number)
    reaped = store.reap_trials(run.id, grace_s=60)
    assert [t.number for t in reaped] == [dead.number]
    assert store.reap_trials(run.id, grace_s=60) == []
    assert [t.status for t in store.trials(run.id)] == ["running", "reaped"]


@pytest.mark.slow
def test_a_trial_whose_worker_died_on_this_machine_is_reaped_at_once(store: RunStore) -> None:
    run = store.create_run(Run(project="p"))
    dead_worker = dead_process()
    mine = store.create_trial(run.id, Trial(worker=f"{os.uname().nodename}:{os.getpid()}"))
    orphan = store.create_trial(run.id, Trial(worker=dead_worker))
    elsewhere = store.create_trial(run.id, Trial(worker="another-machine:12345"))
    reaped = store.reap_trials(run.id)  # every heartbeat is fresh: only the dead local worker's trial goes
    assert [t.number for t in reaped] == [orphan.number]
    assert {t.number: str(t.status) for t in store.trials(run.id)} == {
        mine.number: "running", orphan.number: "reaped", elsewhere.number: "running"}


@pytest.mark.slow
def test_a_running_run_whose_driver_died_reads_as_interrupted_everywhere_and_is_resumed_once(
        store: RunStore) -> None:
    dead = dead_process()
    run = store.create_run(Run(project="p", path="/p", owner=dead))
    trial = store.create_trial(run.id, Trial(worker=dead))
    alive = store.create_run(Run(project="p", path="/p", owner="another-machine:1"))  # fresh heartbeat
    assert store.find_runs(status=RunStatus.RUNNING) == [alive]
    assert [r.id for r in store.find_runs(status=RunStatus.INTERRUPTED)] == [run.id]
    got = store.get_run(run.id)
    assert got.status is RunStatus.INTERRUPTED and got.interrupted == f"its driver {dead} is gone (killed, or its " \
                                                                      "machine restarted)"
    assert store.trials(run.id)[0].status is TrialStatus.REAPED and trial.number == 1
    with pytest.raises(StoreError, match="was interrupted"):
        store.update_run(run.id, stopped="x")
    assert store.resume_run(run.id) is True and store.resume_run(run.id) is False  # one new driver only
    resumed = store.get_run(run.id)
    assert resumed.status is RunStatus.RUNNING and resumed.owner == f"{os.uname().nodename}:{os.getpid()}"
    assert not resumed.interrupted


def test_a_run_silent_past_the_grace_reads_as_interrupted_and_its_own_heartbeat_revives_it(
        store: RunStore) -> None:
    run = store.create_run(Run(project="p", owner="another-machine:7", created=time.time() - 600))
    assert "sent no heartbeat for 600s" in store.get_run(run.id).interrupted
    store.heartbeat_run(run.id, owner="another-machine:7")  # it was only asleep
    assert store.get_run(run.id).status is RunStatus.RUNNING
    store.finish_run(run.id, RunStatus.ABORTED, error="aborted by SIGTERM")
    assert store.get_run(run.id).status is RunStatus.ABORTED and store.get_run(run.id).finished


LOCKED_COUNTER = """
import sys, time
from pathlib import Path
from core.store import get_run_store
uri, home, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
store = get_run_store(uri or "", home=home)
for _ in range(rounds):
    with store.lock("counter"):
        value = store.get_file("counter")
        n = int(value) if value else 0
        time.sleep(0.01)  # read, think, write: without the lock another process writes in between
        store.put_file("counter", str(n + 1).encode())
"""


@pytest.mark.slow
def test_a_lock_lets_one_process_at_a_time_through(store_spec, store: RunStore) -> None:
    uri, home = store_spec
    procs = [subprocess.Popen([sys.executable, "-c", LOCKED_COUNTER, uri or "", str(home), "15"],
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert store.get_file("counter") == b"45"  # no increment lost


@pytest.mark.slow
def test_a_lock_left_by_a_dead_process_is_broken(store_spec, store: RunStore) -> None:
    uri, home = store_spec
    hold = ("import os, sys; from pathlib import Path; from core.store import get_run_store\n"
            "s = get_run_store(sys.argv[1] or '', home=Path(sys.argv[2]))\n"
            "with s.lock('ask', ttl_s=3600):\n    os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", hold, uri or "", str(home)]).returncode == 9
    started = time.time()
    with store.lock("ask", wait_s=10):
        assert time.time() - started < 5  # its holder is gone: no need to wait for the hour it asked for
    with store.lock("ask", wait_s=1):
        pass  # released at the end of the block


def test_a_lock_kept_past_its_time_to_live_is_broken(store: RunStore) -> None:
    with store.lock("slow", ttl_s=0.5):
        with pytest.raises(StoreError, match="stayed taken"):
            with store.lock("slow", wait_s=0.2):
                pass
        time.sleep(0.6)
        with store.lock("slow", wait_s=5):
            pass


def test_files_are_stored_whole_and_replaced(store: RunStore) -> None:
    big = os.urandom(9 * 1024 * 1024 + 7)  # three chunks
    assert store.get_file("model/r/1") is None
    store.put_file("model/r/1", big)
    assert store.get_file("model/r/1") == big
    store.put_file("model/r/1", b"small")
    store.put_file("empty", b"")
    assert store.get_file("model/r/1") == b"small" and store.get_file("empty") == b""
    assert store._db.files.count_documents({"file": "model/r/1"}) == 2  # the head and one chunk: old ones gone


def test_model_versions_count_per_project(store: RunStore) -> None:
    assert store.create_model_version(ModelVersion(project="a", path="/m1")).version == 1
    assert store.create_model_version(ModelVersion(project="a", path="/m2")).version == 2
    assert store.create_model_version(ModelVersion(project="b", path="/m3")).version == 1
    assert [m.path for m in store.model_versions("a")] == ["/m2", "/m1"]


def test_alias_moves_are_kept_in_an_append_only_history(store: RunStore) -> None:
    store.move_alias(AliasMove(project="a", alias="production", version=1, who="ci", why="first"))
    store.move_alias(AliasMove(project="a", alias="production", version=2, previous=1, who="ann", why="better"))
    assert store.aliases("a") == {"production": 2} and store.aliases("b") == {}
    history = store.alias_history("a")
    assert [(m.version, m.who, m.why) for m in history] == [(1, "ci", "first"), (2, "ann", "better")]


def test_an_alias_move_can_be_a_compare_and_swap(store: RunStore) -> None:
    store.move_alias(AliasMove(project="a", alias="production", version=1), expected=None)
    with pytest.raises(AliasMoved, match="production of a points at v1, not at no version any more"):
        store.move_alias(AliasMove(project="a", alias="production", version=2), expected=None)
    store.move_alias(AliasMove(project="a", alias="production", version=3, previous=1), expected=1)
    with pytest.raises(AliasMoved, match="points at v3, not at v1 any more"):
        store.move_alias(AliasMove(project="a", alias="production", version=2, previous=1), expected=1)
    assert store.aliases("a") == {"production": 3}
    assert [m.version for m in store.alias_history("a")] == [1, 3]  # a refused move is not in the history


def test_events_are_filtered_by_type_and_fields(store: RunStore) -> None:
    store.add_event(Event(type="restart", container="c1", reason="exited"))
    store.add_event(Event(type="restart", container="c2"))
    store.add_event(Event(type="mail", run_id="r"))
    assert [e.container for e in store.events("restart")] == ["c1", "c2"]  # type: ignore[attr-defined]
    [only] = store.events("restart", container="c1")
    assert only.reason == "exited"  # type: ignore[attr-defined]


def test_unknown_runs_and_bad_statuses_are_refused(store: RunStore) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        store.update_run("nope", value=1)
    run = store.create_run(Run())
    with pytest.raises(ValueError, match="status must be 'passed', 'failed' or 'aborted', but got status='running'"):
        store.finish_run(run.id, RunStatus.RUNNING)


def test_runs_are_listed_newest_first_and_filtered(store: RunStore) -> None:
    ids = [store.create_run(Run(project="x" if i % 2 else "y", created=1000.0 + i)).id for i in range(4)]
    assert [r.id for r in store.find_runs()] == list(reversed(ids))
    assert {r.project for r in store.find_runs(project="x")} == {"x"}


WRITER = """
import sys
from pathlib import Path
from core.records import ModelVersion, Trial
from core.store import get_run_store
uri, home, run_id, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = get_run_store(uri, home=home)
for _ in range(n):
    print("trial", s.create_trial(run_id, Trial()).number)
    print("version", s.create_model_version(ModelVersion(project="shared")).version)
"""


@pytest.mark.slow
def test_many_processes_writing_at_once_get_unique_numbers_and_lose_none(store_spec, store: RunStore) -> None:
    uri, home = store_spec
    run = store.create_run(Run(project="shared"))
    writers, per_writer = 4, 15
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, uri or "", str(home), run.id, str(per_writer)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(writers)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    got = [line.split() for out, _ in outputs for line in out.splitlines()]
    trials = sorted(int(n) for kind, n in got if kind == "trial")
    versions = sorted(int(n) for kind, n in got if kind == "version")
    total = writers * per_writer
    assert trials == list(range(1, total + 1)) and versions == list(range(1, total + 1))
    assert [t.number for t in store.trials(run.id)] == list(range(1, total + 1))
    assert len(store.model_versions("shared")) == total


@pytest.mark.slow
def test_the_embedded_store_persists_across_processes(tmp_path: Path) -> None:
    code = """
import sys
from pathlib import Path
from core.records import Run, Trial
from core.store import get_run_store
s = get_run_store("", home=Path(sys.argv[1]))
if sys.argv[2] == "write":
    run = s.create_run(Run(id="r1", project="p"))
    s.finish_trial(s.create_trial(run.id, Trial()).model_copy(update={"status": "ok", "value": 0.5}))
else:
    print(s.get_run("r1").status, s.trials("r1")[0].value)
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


def test_a_run_gets_one_gate_decision_and_the_first_one_stays(store: RunStore) -> None:
    from core.records import Decision

    assert store.decision("r1") is None
    first = store.record_decision(Decision(run_id="r1", project="aps", version=1, blessed=False, reason="worse"))
    again = store.record_decision(Decision(run_id="r1", project="aps", version=1, blessed=True, reason="better"))
    assert (first.blessed, again.blessed, again.reason) == (False, False, "worse")
    assert store.decision("r1").reason == "worse" and store.decision("r1").id == "r1"


def test_data_goes_into_collections_of_its_own_never_the_stores(store: RunStore) -> None:
    from core.errors import StoreError

    rows = store.data_collection("aps")
    rows.insert_one({"_id": "a", "class": "neg"})
    assert store.data_collection("aps").find_one({"_id": "a"})["class"] == "neg"
    for name in ("runs", "trials.files", "decisions", "", "system.x"):
        with pytest.raises(StoreError, match="cannot hold data"):
            store.data_collection(name)


def test_threads_of_one_process_share_the_store(store: RunStore) -> None:
    """A run's heartbeat thread and its trials' supervision write while the main thread does (the embedded
    engine's SQLite connections must not cross threads)."""
    import threading

    run_id = store.create_run(Run(project="p", entry="train.py")).id
    errors: list[BaseException] = []

    def busy(kind: str) -> None:
        try:
            for i in range(40):
                store.add_event(Event(type=kind, project="p", message=str(i)))
                store.heartbeat_run(run_id)
                store.events(kind)
                store.trials(run_id)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=busy, args=(f"kind{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(store.events(f"kind{n}")) == 40 for n in range(4))
