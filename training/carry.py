"""What a trial leaves that another machine may need, carried through the run store: its model (for the
machine that finishes the run) and its last epoch checkpoint (for the worker that runs it again when its own
worker died).

Workers of one machine share the run folder, so a rerun there takes the checkpoint from the reaped trial's
folder; a worker on another machine takes the one its worker put in the store (a run is ``shared`` when
workers of other machines may join it, and only then are these copies made).
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

from core.records import Trial
from core.store import RunStore

#: A checkpoint bigger than this is not copied to the store (a rerun elsewhere starts from epoch 1).
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024


def model_key(run_id: str, number: int) -> str:
    """The store's name of a trial's model file."""
    return f"trial-model/{run_id}/{number}"


def checkpoint_key(run_id: str, number: int) -> str:
    """The store's name of a trial's last checkpoint (a tar of its ``checkpoint/`` folder)."""
    return f"trial-checkpoint/{run_id}/{number}"


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def put_checkpoint(store: RunStore, run_id: str, number: int, trial_dir: Path) -> bool:
    """Copy the trial's ``checkpoint/`` folder to the store (replacing the previous epoch's).

    Returns:
        Whether a checkpoint was copied.
    """
    folder = trial_dir / "checkpoint"
    if not folder.is_dir() or folder_size(folder) > MAX_CHECKPOINT_BYTES:
        return False
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("tmp-") and not path.name.endswith(".tmp"):
                tar.add(path, arcname=str(path.relative_to(folder)))
    store.put_file(checkpoint_key(run_id, number), buffer.getvalue())
    return True


def carry_checkpoint(store: RunStore, run_dir: Path, run_id: str, reaped: Trial, trial_dir: Path) -> str | None:
    """Give a rerun the last checkpoint of the reaped trial it runs again, from the run folder when the trial
    ran on this machine, else from the store.

    Returns:
        Where the checkpoint came from, or ``None`` when none reached either.
    """
    local = run_dir / f"trial-{reaped.number:03d}" / "checkpoint"
    target = trial_dir / "checkpoint"
    if local.is_dir() and any(local.rglob("state.json")):
        shutil.copytree(local, target, dirs_exist_ok=True)
        return str(local)
    data = store.get_file(checkpoint_key(run_id, reaped.number))
    if not data:
        return None
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(target, filter="data")
    return f"the store ({store.description})"


def put_model(store: RunStore, trial: Trial) -> bool:
    """Copy a trial's model file to the store, for the machine that finishes the run."""
    if trial.model is None or not trial.run_dir:
        return False
    path = Path(trial.run_dir) / trial.model.path
    if not path.is_file():
        return False
    store.put_file(model_key(trial.run_id, trial.number), path.read_bytes())
    return True


def model_file(store: RunStore, trial: Trial, run_dir: Path) -> Path | None:
    """The trial's model file on this machine: where its worker saved it, or fetched from the store into this
    machine's run folder.
    """
    if trial.model is None:
        return None
    saved = Path(trial.run_dir) / trial.model.path if trial.run_dir else None
    if saved is not None and saved.is_file():
        return saved
    data = store.get_file(model_key(trial.run_id, trial.number))
    if data is None:
        return None
    local = run_dir / f"trial-{trial.number:03d}" / trial.model.path
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    return local
