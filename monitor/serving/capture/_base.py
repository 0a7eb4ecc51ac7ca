"""The capture store contract: what every store of predictions and labels does, and what it raises."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .documents import CapturedPrediction, Label, LabelRecord, LiveStatus, NewPrediction, ServedModelInfo

#: Default number of predictions kept per project (older unlabelled ones are pruned; labelled ones are kept).
DEFAULT_RETENTION = 100_000

#: What a store makes of one ``NewPrediction`` in ``prepare``: only that store reads it.
PreparedT = TypeVar("PreparedT")


class CaptureUnavailable(RuntimeError):
    """The capture store cannot be reached or refused the operation; the message says which and why."""


@dataclass(frozen=True)
class LabelResult:
    """What a batch of labels did: how many were recorded and how many replaced an earlier label."""

    recorded: int
    replaced: int


class CaptureStore(abc.ABC, Generic[PreparedT]):
    """Predictions, labels, served models and the monitor's latest status of one or more projects.

    The contract every implementation keeps (``tests/monitor/test_capture_store.py`` runs it over each):

    - Every method raises ``CaptureUnavailable`` (and nothing else) when the store cannot be used: unreachable,
      locked by another writer beyond its time-out, refused.
    - Reads name their project and never return another project's predictions or labels.
    - Returned documents are copies: changing one changes nothing stored.
    - An ``_id`` is one prediction: a reused id replaces the earlier prediction, in one batch or across batches.
    - ``row`` comes back as a list of floats (and text, for a category) with ``None`` where a value was missing,
      whatever the writer gave.
    - A prediction's ``label`` is the latest one given; every label stays in the history, oldest first.
    - ``prune`` deletes the oldest unlabelled predictions only: a labelled prediction is never pruned.
    - One store may be used from several threads, and several processes (the server's workers, ``mlops monitor``,
      ``mlops feedback``) may use the same data at once.

    Attributes:
        description: Where it is, safe to print (no password).
    """

    description: str

    def add_predictions(self, docs: Sequence[NewPrediction]) -> None:
        """Store predictions; a reused ``_id`` replaces the earlier prediction."""
        self.add_prepared(self.prepare(docs))

    @abc.abstractmethod
    def prepare(self, docs: Sequence[NewPrediction]) -> list[PreparedT]:
        """Predictions as ``add_prepared`` writes them. ``CaptureSink`` calls this on the event loop once an answer
        is sent, so that its writer thread runs little Python: the loop waits for the GIL while it does."""

    @abc.abstractmethod
    def add_prepared(self, prepared: list[PreparedT]) -> None:
        """Store what ``prepare`` made of predictions."""

    @abc.abstractmethod
    def predictions(self, project: str, ids: Sequence[str]) -> dict[str, CapturedPrediction]:
        """The project's predictions with these ids, by id (unknown ids are left out)."""

    @abc.abstractmethod
    def add_labels(self, project: str, labels: Sequence[tuple[str, Label]], source: str) -> LabelResult:
        """Record ``(inference_id, label)`` pairs (ids known to exist) and make each the prediction's label."""

    @abc.abstractmethod
    def recent(self, project: str, limit: int = 50) -> list[CapturedPrediction]:
        """The project's latest predictions, newest first."""

    @abc.abstractmethod
    def labelled(self, project: str, version: int | None = None, limit: int | None = None,
                 since: float | None = None) -> list[CapturedPrediction]:
        """The project's labelled predictions (of one model version; labelled at ``since`` or later), most recently
        labelled first."""

    @abc.abstractmethod
    def served(self, project: str, version: int | None = None, limit: int = 1000) -> list[CapturedPrediction]:
        """The project's latest predictions (of one model version) with their rows, newest first."""

    @abc.abstractmethod
    def label_history(self, project: str, inference_id: str | None = None) -> list[LabelRecord]:
        """Every label given (for one prediction), oldest first."""

    @abc.abstractmethod
    def prune(self, project: str, keep: int) -> int:
        """Delete the oldest unlabelled predictions beyond ``keep`` in all; return how many went."""

    @abc.abstractmethod
    def put_model(self, project: str, version: int | None, features: list[str], classes: list[Label] | None,
                  task: str) -> None:
        """Say what a served model's rows and labels look like (replacing what was said of that version)."""

    @abc.abstractmethod
    def model(self, project: str, version: int | None) -> ServedModelInfo | None:
        """What ``put_model`` said about a version, or ``None``."""

    @abc.abstractmethod
    def put_status(self, project: str, status: LiveStatus) -> None:
        """Keep the monitor's latest verdict of a project (replacing the one before)."""

    @abc.abstractmethod
    def status(self, project: str) -> LiveStatus | None:
        """The monitor's latest verdict of a project, or ``None``."""

    def close(self) -> None:
        """Release connections."""
