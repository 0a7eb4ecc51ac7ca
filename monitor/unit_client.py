"""Talking to a serving unit as its clients do: a JSON body posted, its JSON answer, its refusal's reason."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from core.errors import MlopsError


class Refused(Exception):
    """The unit answered with an HTTP error: its status and the reason it gave (``detail``)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


def post(url: str, path: str, body: dict[str, Any], token: str | None = None, timeout: float = 60) -> Any:
    """POST ``body`` to ``url + path``; the decoded answer.

    Raises:
        Refused: The unit refused it (its status and reason).
        MlopsError: The unit cannot be reached.
    """
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"{url.rstrip('/')}{path}", data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read()).get("detail", "")
        except ValueError:
            detail = ""
        raise Refused(e.code, str(detail)) from None
    except OSError as e:
        raise MlopsError(f"cannot reach the serving unit at {url}: {e}") from e
