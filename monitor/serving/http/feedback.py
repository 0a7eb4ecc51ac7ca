"""Ground truth: who may give labels, which labels fit the model, and recording them against predictions.

``POST /feedback``, the ``/review`` page and ``mlops feedback`` all end in ``record_feedback``. Labels change what
the next model learns, so they need the token in ``MLOPS_FEEDBACK_TOKEN``; a server without one refuses them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from typing import Any

from ..capture import CaptureUnavailable, LabelResult
from ..capture.sink import FLUSH_S
from .schemas import MAX_LABELS, LabelItem

HOW_TO_SET = ("set MLOPS_FEEDBACK_TOKEN (a Jenkins credential in production) where the model is deployed, "
              "and deploy again")


class FeedbackRefused(Exception):
    """Labels that are not recorded: the HTTP status and one line saying why."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def check_token(expected: str | None, authorization: str | None) -> None:
    """Let through a request whose ``Authorization: Bearer`` header carries the feedback token.

    Raises:
        FeedbackRefused: 403 when no token is configured (feedback is never open) or the token is wrong, 401 when
            none is sent.
    """
    if not expected:
        raise FeedbackRefused(403, f"feedback is off on this server: no token is configured; {HOW_TO_SET}")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise FeedbackRefused(401, "send the feedback token as 'Authorization: Bearer <token>'",
                              {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise FeedbackRefused(403, "the feedback token is not valid")


def session_value(token: str) -> str:
    """The ``/review`` cookie for a token: an HMAC of it, so the cookie never holds the token itself."""
    return hmac.new(token.encode(), b"mlops-review-session", hashlib.sha256).hexdigest()


def valid_session(expected: str | None, cookie: str | None) -> bool:
    """Whether a ``/review`` cookie was made from the configured token."""
    return bool(expected and cookie) and hmac.compare_digest(session_value(expected or ""), cookie or "")


def normalize_label(label: Any, classes: list[Any] | None, where: str) -> Any:
    """The label as the model's own value: one of ``classes`` (matched by value, or by text as a form or CSV
    sends it), or a finite number for a regressor.

    Raises:
        FeedbackRefused: 422 naming ``where`` and what a label must be.
    """
    shown = repr(label) if len(repr(label)) <= 40 else repr(label)[:37] + "..."
    if label is None or isinstance(label, bool | list | dict):
        pass
    elif classes is None:
        try:
            value = float(label)
        except (TypeError, ValueError):
            value = math.nan
        if math.isfinite(value):
            return value
        raise FeedbackRefused(422, f"{where}: label must be a number for this regressor (got {shown})")
    else:
        for known in classes:
            if type(label) is not str and type(known) is not str and label == known:
                return known
        by_text = {str(known): known for known in classes}
        if str(label).strip() in by_text:
            return by_text[str(label).strip()]
    if classes is None:
        raise FeedbackRefused(422, f"{where}: label must be a number for this regressor (got {shown})")
    listed = ", ".join(repr(c) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
    raise FeedbackRefused(422, f"{where}: label must be one of the model's classes [{listed}] (got {shown})")


def record_feedback(state: Any, items: list[LabelItem], source: str) -> LabelResult:
    """Validate labels against the model and the captured predictions, then record them all (or none).

    Args:
        state: The app's state (``slot``, ``sink``, ``settings``).
        items: The labels.
        source: Who sends them (``api``, ``review``, ``cli``...).

    Raises:
        FeedbackRefused: 422 (no label, wrong type), 413 (too many), 404 (unknown ids), 503 (model loading,
            capture off or the store unreachable).
    """
    model = state.slot.model
    store = state.sink.store
    if model is None:
        raise FeedbackRefused(503, "the model is still loading")
    if store is None:
        raise FeedbackRefused(503, "capture is off on this server (no MONGODB_URI or MLOPS_CAPTURE_DIR, or "
                                   "MLOPS_CAPTURE=off), so there is no prediction to label")
    if not items:
        raise FeedbackRefused(422, 'send {"inference_id": ..., "label": ...} or {"labels": [{...}, ...]}')
    if len(items) > MAX_LABELS:
        raise FeedbackRefused(413, f"at most {MAX_LABELS} labels per request (got {len(items)}); send them in "
                                   "batches")
    single = len(items) == 1
    pairs = [(item.inference_id, normalize_label(item.label, model.classes, "label" if single else f"labels[{i}]"))
             for i, item in enumerate(items)]
    try:
        missing = _unknown(state, model.project, [i for i, _ in pairs])
        if missing:
            shown = ", ".join(repr(i) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
            what = f"no prediction with inference_id {shown}" if single else \
                f"{len(missing)} of {len(pairs)} inference_ids have no prediction: {shown}"
            raise FeedbackRefused(404, f"{what} (unknown, older than the retention limit, or beyond the first "
                                       f"{state.settings.capture_rows} rows of its request, the ones captured); "
                                       "nothing was recorded")
        return store.add_labels(model.project, pairs, source)
    except CaptureUnavailable as e:
        raise FeedbackRefused(503, f"cannot record labels now: {e}") from e


def _unknown(state: Any, project: str, ids: list[str]) -> list[str]:
    """Ids with no stored prediction. A prediction answered a moment ago may still wait in a writer's queue: this
    worker's queue is written first, then another worker's batch is given time to land."""
    store = state.sink.store
    missing = [i for i in dict.fromkeys(ids) if i not in store.predictions(project, ids)]
    if missing:
        flushed = state.sink.flush(timeout=2.0)
        deadline = time.monotonic() + (4 * FLUSH_S if state.settings.workers > 1 else 0)
        while True:
            found = store.predictions(project, missing)
            missing = [i for i in missing if i not in found]
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(FLUSH_S / 2)
        if missing and not flushed:  # they may be among the predictions waiting for the store
            why = getattr(state.sink, "failing", None) or "the store did not take the waiting predictions in time"
            raise CaptureUnavailable(f"capture is paused ({why})")
    return missing
