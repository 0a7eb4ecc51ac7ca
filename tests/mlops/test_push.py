"""Moving ``production`` is a compare-and-swap: a candidate gated against one version cannot replace another."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.console import Out
from core.errors import PushRefused
from core.records import Decision, ModelVersion, Run, RunStatus
from core.registry import PRODUCTION, Registry
from core.store import RunStore, get_run_store
from mlops.pipeline.push import push_blessed
from tests.conftest import mlops


def gated_run(store: RunStore, folder: Path, against: int | None) -> tuple[Run, Decision]:
    """A finished run with a registered model version, blessed by a gate that compared it with ``against``."""
    run = store.create_run(Run(project="wine", metric="accuracy"))
    model = folder / f"{run.id}.joblib"
    model.write_bytes(b"a model")
    version = Registry(store).register(ModelVersion(project="wine", run_id=run.id, format="joblib"), model)
    store.finish_run(run.id, RunStatus.PASSED, value=0.9, model_version=version.version)
    decision = store.record_decision(Decision(run_id=run.id, project="wine", version=version.version,
                                              baseline_version=against, blessed=True, reason="good"))
    return store.get_run(run.id), decision  # type: ignore[return-value]


@pytest.mark.slow
def test_a_candidate_gated_before_production_moved_is_not_pushed(tmp_path: Path) -> None:
    store = get_run_store()
    out = Out(quiet=True)
    run_a, decision_a = gated_run(store, tmp_path, against=None)  # two runs at once: both gated with no production
    run_b, decision_b = gated_run(store, tmp_path, against=None)
    assert push_blessed(store, run_b, decision_b, "auto", out).version == 2
    with pytest.raises(PushRefused) as refused:
        push_blessed(store, run_a, decision_a, "auto", out)
    assert str(refused.value).startswith("not pushed: production of wine moved to v2 (another run) after the gate "
                                         "compared model v1 with no production version; run the project again")
    assert Registry(store).aliases("wine") == {PRODUCTION: 2}
    proc = mlops("push", run_a.id)  # the Jenkins Push stage: one line, exit 1, production unchanged
    assert proc.returncode == 1 and proc.stderr.startswith("error: not pushed: production of wine moved to v2")
    assert proc.stderr.count("\n") == 1 and Registry(store).aliases("wine") == {PRODUCTION: 2}
    run_c, decision_c = gated_run(store, tmp_path, against=2)  # gated against what production is: pushed
    assert push_blessed(store, run_c, decision_c, "auto", out).version == 3
    assert [m.version for m in Registry(store).history("wine")] == [2, 3]
    assert push_blessed(store, run_c, decision_c, "auto", out).version == 3  # pushed again: nothing moves
    assert [m.version for m in Registry(store).history("wine")] == [2, 3]
