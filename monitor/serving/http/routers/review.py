"""``/review``: a small server-rendered page where a person sees recent predictions and sets the correct label.

The form goes through the same path as ``POST /feedback`` (``record_feedback``). Signing in takes the feedback
token once; the page then keeps an HttpOnly, SameSite=Strict cookie holding an HMAC of it (never the token).
Everything shown is escaped; the page runs no script and loads nothing but its own stylesheet.
"""

from __future__ import annotations

import datetime
import html
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from ...capture import CaptureUnavailable
from ..feedback import HOW_TO_SET, FeedbackRefused, record_feedback, session_value, valid_session
from ..schemas import LabelItem
from .feedback import raw_body

router = APIRouter()

COOKIE = "mlops_review"
CSP = ("default-src 'none'; style-src 'self'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
#: Feature values shown per row before "... and N more".
SHOWN_FEATURES = 4

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
code { font-size: 12px; }
.note { padding: .5rem .75rem; background: #e8f4ea; border-left: 4px solid #2e7d32; }
.error { padding: .5rem .75rem; background: #fdecea; border-left: 4px solid #c62828; }
.corrected { color: #c62828; font-weight: 600; }
form.inline { display: flex; gap: .35rem; margin: 0; }
"""


def e(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def _page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    text = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<link rel="stylesheet" href="/review.css"></head><body><h1>{e(title)}</h1>{body}</body></html>')
    return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": CSP,
                                                           "Cache-Control": "no-store", **(headers or {})})


def _sign_in(message: str = "", status: int = 200) -> HTMLResponse:
    error = f'<p class="error">{e(message)}</p>' if message else ""
    return _page("Review predictions", f"""{error}
<form method="post" action="/review/login">
<label>Feedback token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>""", status)


@router.get("/review.css", include_in_schema=False)
def stylesheet() -> Response:
    """The page's only stylesheet."""
    return Response(STYLE, media_type="text/css")


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, limit: int = 50, saved: str = "") -> HTMLResponse:
    """Recent predictions (input summary, predicted label, confidence, label) with a form to set the label."""
    state = request.app.state
    token = state.settings.feedback_token
    if not token:
        return _page("Review predictions", f'<p class="error">Feedback is off on this server: no token is '
                                           f'configured; {e(HOW_TO_SET)}.</p>', 403)
    if not valid_session(token, request.cookies.get(COOKIE)):
        return _sign_in()
    model, store = state.slot.model, state.sink.store
    if model is None:
        return _page("Review predictions", '<p class="error">The model is still loading.</p>', 503)
    if store is None:
        return _page("Review predictions", '<p class="error">Capture is off on this server: there are no '
                                           'predictions to review.</p>', 503)
    try:
        rows = store.recent(model.project, max(1, min(limit, 500)))
    except CaptureUnavailable as error:
        return _page("Review predictions", f'<p class="error">{e(error)}</p>', 503)
    note = f'<p class="note">Label saved for <code>{e(saved)}</code>.</p>' if saved else ""
    return _page(f"Review predictions of {model.project}", note + _table(model, rows))


def _table(model: Any, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No predictions yet.</p>"
    head = ("<table><thead><tr><th>Time (UTC)</th><th>Inference id</th><th>Input</th><th>Predicted</th>"
            "<th>Confidence</th><th>Label</th><th>Correct label</th></tr></thead><tbody>")
    body = "".join(_row(model, doc) for doc in rows)
    return f"{head}{body}</tbody></table>"


def _row(model: Any, doc: dict[str, Any]) -> str:
    when = datetime.datetime.fromtimestamp(doc["time"], datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    values = doc.get("row") or []
    names = model.feature_names or [f"x{i}" for i in range(len(values))]
    shown = ", ".join(f"{name}={value}" for name, value in list(zip(names, values, strict=False))[:SHOWN_FEATURES])
    more = f" ... and {len(values) - SHOWN_FEATURES} more" if len(values) > SHOWN_FEATURES else ""
    probabilities = doc.get("probabilities")
    confidence = f"{max(probabilities):.0%}" if probabilities else "-"
    has_label = "label" in doc
    label = doc.get("label")
    corrected = has_label and label != doc.get("prediction")
    label_cell = (f'<span class="corrected">{e(label)}</span>' if corrected else e(label)) if has_label else "-"
    current = label if has_label else doc.get("prediction")
    if model.classes is not None:
        options = "".join(f'<option value="{e(c)}"{" selected" if c == current else ""}>{e(c)}</option>'
                          for c in model.classes)
        field = f'<select name="label" aria-label="label of {e(doc["_id"])}">{options}</select>'
    else:
        field = f'<input type="number" step="any" name="label" value="{e(current)}" required>'
    form = (f'<form class="inline" method="post" action="/review/label">'
            f'<input type="hidden" name="inference_id" value="{e(doc["_id"])}">{field}'
            f'<button type="submit">Save</button></form>')
    return (f'<tr data-id="{e(doc["_id"])}"><td>{e(when)}</td><td><code>{e(doc["_id"])}</code></td>'
            f"<td>{e(shown)}{e(more)}</td><td>{e(doc.get('prediction'))}</td><td>{e(confidence)}</td>"
            f"<td>{label_cell}</td><td>{form}</td></tr>")


def _form(body: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True).items()}


@router.post("/review/login", include_in_schema=False)
def login(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """Check the token once; the page keeps a cookie made from it."""
    import hmac

    token = request.app.state.settings.feedback_token
    if not token:
        return _page("Review predictions", f'<p class="error">Feedback is off on this server: no token is '
                                           f'configured; {e(HOW_TO_SET)}.</p>', 403)
    given = _form(body).get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _sign_in("The feedback token is not valid.", 403)
    response = RedirectResponse("/review", status_code=303)
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", path="/review",
                        secure=request.url.scheme == "https")
    return response


@router.post("/review/label", include_in_schema=False)
def set_label(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """The form's label, through the same path as ``POST /feedback``."""
    state = request.app.state
    if not valid_session(state.settings.feedback_token, request.cookies.get(COOKIE)):
        return _sign_in("Sign in with the feedback token first.", 401)
    form = _form(body)
    inference_id = form.get("inference_id", "")
    try:
        if not 0 < len(inference_id) <= 128:
            raise FeedbackRefused(422, "the form's inference_id must be 1 to 128 characters")
        record_feedback(state, [LabelItem(inference_id=inference_id, label=form.get("label"))], "review")
    except FeedbackRefused as error:
        return _page("Review predictions", f'<p class="error">Not saved: {e(error.detail)}</p>'
                                           '<p><a href="/review">Back to the predictions</a></p>', error.status)
    return RedirectResponse(f"/review?saved={quote(inference_id, safe='')}", status_code=303)
