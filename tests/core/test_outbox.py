"""The outbox: mails kept when there is no SMTP server or no recipient, and sent later."""

from __future__ import annotations

import json
import socket
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from core.console import Out
from core.notify.mail import compose, deliver
from tests.conftest import mlops


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_mail_has_date_and_message_id_headers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_OUTBOX", str(tmp_path))
    deliver(compose("[mlops] hello", "text", "<p>html</p>", "mlops@ci.local", ["a@x.org"]), Out())
    [eml] = tmp_path.glob("*.eml")
    msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert msg["Date"] and msg["Message-ID"].endswith("@mlops.local>")


@pytest.mark.slow
def test_a_mail_kept_without_recipients_is_sent_once_mlops_mail_to_is_set(tmp_path: Path, monkeypatch) -> None:
    box = tmp_path / "box"
    monkeypatch.setenv("MLOPS_OUTBOX", str(box))
    port = free_port()
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none", "MLOPS_OUTBOX": str(box)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    deliver(compose("[mlops] PASSED x", "text", "<p>html</p>", "mlops@ci.local", []), Out())
    assert len(list(box.glob("*.eml"))) == 1
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        without = mlops("notify", "--retry-outbox", "--json", env=env)
        assert without.returncode == 1 and json.loads(without.stdout) == {"sent": 0, "left": 1}
        assert "has no recipients (set MLOPS_MAIL_TO)" in without.stderr
        sent = mlops("notify", "--retry-outbox", "--json", env={**env, "MLOPS_MAIL_TO": "ops@example.com"})
    finally:
        controller.stop()
    assert sent.returncode == 0 and json.loads(sent.stdout) == {"sent": 1, "left": 0}
    [(rcpts, content)] = inbox.received
    assert rcpts == ["ops@example.com"] and b"To: ops@example.com" in content
