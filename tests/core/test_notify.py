"""The report mail over a real SMTP server (aiosmtpd on 127.0.0.1), the outbox, and retries."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from core.store import get_run_store
from tests.conftest import EXAMPLES, mlops

PASSWORD = "pa55-w0rd-never-logged"
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"ci" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # let aiosmtpd answer 535 on failure, as servers do


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none", "SMTP_USER": "ci",
                       "SMTP_PASSWORD": PASSWORD, "MLOPS_MAIL_FROM": "mlops@ci.local"}.items():
        monkeypatch.setenv(key, value)
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, ml_env: str) -> tuple[Path, str]:
    """One real run of the scikit-learn example, recorded in its own MLOPS_HOME (no mail sent)."""
    home = tmp_path_factory.mktemp("home")
    proc = mlops("run", str(EXAMPLES / "wine-sklearn"), "--json", "--no-notify",
                 env={**NO_DOCKER, "MLOPS_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    return home, json.loads(proc.stdout)["run_id"]


def notify(home: Path, *args: str, **env: str):
    return mlops("notify", *args, env={"MLOPS_HOME": str(home), **env})


def test_the_report_arrives_with_html_text_and_inline_plots(smtp, finished_run, monkeypatch) -> None:
    inbox, _ = smtp
    home, run_id = finished_run
    proc = notify(home, run_id, BUILD_URL="https://jenkins.example/job/wine/7/")
    assert proc.returncode == 0, proc.stderr
    assert len(inbox.messages) == 1, proc.stdout
    rcpts, msg = inbox.messages[0]
    assert rcpts == ["data-team@example.com"] and msg["To"] == "data-team@example.com"
    assert msg["From"] == "mlops@ci.local"
    assert msg["Subject"].startswith("[mlops] PASSED wine-sklearn: accuracy 1.0000 >= 0.9")
    text = msg.get_body(("plain",)).get_content()
    html_part = msg.get_body(("html",))
    html = html_part.get_content()
    assert "PASSED AND BLESSED - wine-sklearn" in text and "Trials:" in text
    assert "<" not in text.split("Trials:")[1][:200]
    assert "<table" in html and "baseline (as pushed)" in html
    assert 'href="https://jenkins.example/job/wine/7/"' in html
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert images and all(f'cid:{p["Content-ID"].strip("<>")}' in html for p in images)
    assert images[0].get_content()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recipients_from_the_environment_override_mlops_yaml(smtp, finished_run) -> None:
    inbox, _ = smtp
    home, run_id = finished_run
    assert notify(home, run_id, MLOPS_MAIL_TO="a@x.org, b@y.org").returncode == 0
    assert inbox.messages[0][0] == ["a@x.org", "b@y.org"]


def test_smtp_down_keeps_the_mail_in_the_outbox_and_retry_sends_it(finished_run, monkeypatch, tmp_path) -> None:
    home, run_id = finished_run
    port = free_port()  # nothing listens here yet
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none", "MLOPS_OUTBOX": str(tmp_path / "box")}
    proc = notify(home, run_id, **env)
    assert proc.returncode == 0  # a mail failure is not the run's failure
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in proc.stdout
    emls = list((tmp_path / "box").glob("*.eml"))
    assert len(emls) == 1
    parsed = BytesParser(policy=policy.default).parsebytes(emls[0].read_bytes())
    assert parsed["Subject"].startswith("[mlops] PASSED") and parsed.get_body(("html",)) is not None

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        retry = notify(home, "--retry-outbox", "--json", **env)
    finally:
        controller.stop()
    assert retry.returncode == 0 and json.loads(retry.stdout) == {"sent": 1, "left": 0}
    assert len(inbox.messages) == 1 and inbox.messages[0][1]["Subject"] == parsed["Subject"]
    assert "X-Mlops-Outbox-Reason" not in inbox.messages[0][1]
    assert not list((tmp_path / "box").glob("*.eml")) and len(list((tmp_path / "box" / "sent").glob("*.eml"))) == 1


def test_wrong_credentials_are_one_clear_line_and_the_password_is_never_written(smtp, finished_run) -> None:
    inbox, port = smtp
    home, run_id = finished_run
    proc = notify(home, run_id, SMTP_PASSWORD="wrong-" + PASSWORD)
    assert proc.returncode == 0 and not inbox.messages
    assert f"SMTP server 127.0.0.1:{port} refused the login of 'ci'" in proc.stdout
    everything = proc.stdout + proc.stderr
    for path in home.rglob("*"):
        if path.is_file() and path.suffix in (".eml", ".json", ".html", ".log", ".txt"):
            everything += path.read_text(errors="replace")
    store = get_run_store(None, home=home)
    everything += json.dumps([store.get_run(run_id).to_doc(), [e.to_doc() for e in store.events()]])
    assert PASSWORD not in everything
    assert store.events("mail")[-1].error.startswith("SMTP server 127.0.0.1")


def test_without_smtp_the_mail_is_written_to_the_outbox(finished_run, monkeypatch, tmp_path) -> None:
    home, run_id = finished_run
    proc = notify(home, run_id, MLOPS_OUTBOX=str(tmp_path / "out"))
    assert proc.returncode == 0
    [eml] = list((tmp_path / "out").glob("*.eml"))
    assert f"no SMTP configured (SMTP_HOST); written to {eml}" in proc.stdout


@pytest.mark.usefixtures("ml_env")
def test_a_failed_run_mails_its_error_and_log_tail(smtp, project_factory) -> None:
    inbox, _ = smtp
    p = project_factory({"train.py": "import sklearn\nprint('loading data')\nraise RuntimeError('disk is full')\n",
                         "mlops.yaml": "mail: {to: [ops@example.com]}\n"}, name="broken")
    proc = mlops("run", str(p), "--backend", "local", env=NO_DOCKER)
    assert proc.returncode == 1
    [(_, msg)] = inbox.messages
    assert msg["Subject"].startswith("[mlops] FAILED broken: no accuracy")
    text = msg.get_body(("plain",)).get_content()
    assert "train.py:3 raised RuntimeError: disk is full" in text and "loading data" in text


def test_the_mail_html_carries_its_styles_inline_and_links_no_stylesheet(smtp, finished_run) -> None:
    inbox, _ = smtp
    home, run_id = finished_run
    assert notify(home, run_id).returncode == 0
    html = inbox.messages[0][1].get_body(("html",)).get_content()
    verdict = re.search(r'<div class="verdict passed" style="([^"]*)"', html)
    assert verdict and "background:#2e7d32" in verdict.group(1).replace(" ", "")  # green, as in report.css
    assert "<link" not in html and "report.css" not in html and "<script" not in html


@pytest.mark.usefixtures("ml_env")
def test_markup_a_failing_script_printed_reaches_the_mail_as_text(smtp, project_factory) -> None:
    inbox, _ = smtp
    p = project_factory({"train.py": "import sklearn\nprint('<script>alert(1)</script>')\nraise RuntimeError('<b>x')\n",
                         "mlops.yaml": "mail: {to: [ops@example.com]}\n"}, name="printing")
    assert mlops("run", str(p), "--backend", "local", env=NO_DOCKER).returncode == 1
    [(_, msg)] = inbox.messages
    html = msg.get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert "RuntimeError: &lt;b&gt;x" in html and "<b>" not in html
    text = msg.get_body(("plain",)).get_content()
    assert "<script>alert(1)</script>" in text and "RuntimeError: <b>x" in text
