"""Mail: compose the report (HTML + plain text + inline plots) and send it, or keep it in the outbox.

SMTP settings come from the environment only (Jenkins credentials):
``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_TLS`` (``ssl``, ``starttls`` or
``none``), ``MLOPS_MAIL_FROM``. Without ``SMTP_HOST`` every message goes to the outbox folder as an
``.eml`` file. A mail failure never changes a run's result.
"""

from __future__ import annotations

import os
import re
import smtplib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from core import paths
from core.config import ENV_OVERRIDES
from core.console import Out
from core.errors import ConfigError
from core.records import Event, Run
from core.settings import MAIL_FROM, SMTP_HOST, SMTP_PASSWORD, SMTP_PORT, SMTP_TLS, SMTP_USER, environment
from core.store import RunStore

DEFAULT_FROM = "mlops@localhost"
#: ``mail.to`` of mlops.yaml, as its variable overrides it.
MAIL_TO = ENV_OVERRIDES["mail.to"]
# Headers are not folded (RFC 5322 allows 998 characters): a subject folded before its first
# word comes back from some parsers with a leading space.
_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``repr`` never shows the password."""

    host: str
    port: int
    user: str
    password: str
    tls: str  # "ssl" | "starttls" | "none"
    sender: str

    def __repr__(self) -> str:
        return f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, tls={self.tls!r})"

    @property
    def where(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"


def smtp_settings(environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
    """SMTP settings from the environment, or ``None`` when ``SMTP_HOST`` is not set.

    Raises:
        ConfigError: ``SMTP_PORT`` or ``SMTP_TLS`` has a bad value.
    """
    host = (SMTP_HOST.get(environ) or "").strip()
    if not host:
        return None
    tls = SMTP_TLS.get(environ).strip().lower()
    if tls not in ("ssl", "starttls", "none"):
        raise ConfigError(SMTP_TLS.env, "", f"must be ssl, starttls or none (got {tls!r})")
    default_port = {"ssl": 465, "starttls": 587, "none": 25}[tls]
    try:
        port = int(SMTP_PORT.get(environ) or default_port)
    except ValueError as e:
        raise ConfigError(SMTP_PORT.env, "",
                          f"must be a port number (got {SMTP_PORT.text(environ)!r})") from e
    user = SMTP_USER.get(environ) or ""
    return SmtpSettings(host, port, user, SMTP_PASSWORD.get(environ) or "", tls,
                        MAIL_FROM.get(environ) or user or DEFAULT_FROM)


def sender_address() -> str:
    """Who mail comes from: the SMTP settings' sender, else ``MLOPS_MAIL_FROM``, else ``mlops@localhost``."""
    smtp = smtp_settings()
    return smtp.sender if smtp else MAIL_FROM.get() or DEFAULT_FROM


def recipients_for(run: Run | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """``MLOPS_MAIL_TO`` (comma-separated) if set, else ``mail.to`` of the run's mlops.yaml."""
    to = (environment() if environ is None else environ).get(MAIL_TO)
    if to:
        return [a.strip() for a in to.split(",") if a.strip()]
    if run is None:
        return []
    return list((run.config.get("mail") or {}).get("to") or [])


def compose(subject: str, text: str, html: str, sender: str, to: list[str],
            images: dict[str, Path] | None = None) -> EmailMessage:
    """A multipart message: plain text, and HTML whose ``cid:NAME`` images are attached inline."""
    msg = EmailMessage(policy=_POLICY)
    msg["Subject"] = subject
    msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="mlops.local")
    msg.set_content(text)
    cids = {name: make_msgid(domain="mlops.local") for name in (images or {})}
    for name, cid in cids.items():
        html = html.replace(f'src="cid:{name}"', f'src="cid:{cid[1:-1]}"')
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]
    for name, path in (images or {}).items():
        html_part.add_related(path.read_bytes(), "image", "png", cid=cids[name], filename=path.name)
    return msg


def _connect(s: SmtpSettings) -> Any:
    """An SMTP connection: yagmail opens it (SSL or STARTTLS); we log in with the user exactly as given,
    because yagmail would turn a user name without ``@`` into ``name@gmail.com``."""
    import yagmail

    yag = yagmail.SMTP(user=s.sender, host=s.host, port=s.port, smtp_ssl=s.tls == "ssl",
                       smtp_starttls=s.tls == "starttls", smtp_skip_login=True, soft_email_validation=False,
                       timeout=20)
    yag.login()
    if s.user:
        yag.smtp.login(s.user, s.password)
    return yag


def _error_line(s: SmtpSettings, e: BaseException) -> str:
    """One line naming the server and what went wrong; never the password."""
    if isinstance(e, smtplib.SMTPAuthenticationError):
        line = f"SMTP server {s.where} refused the login of {s.user!r} (check SMTP_USER / SMTP_PASSWORD)"
    elif isinstance(e, smtplib.SMTPException):  # before OSError: SMTPException is one
        line = f"SMTP server {s.where} refused the mail: {type(e).__name__}: {e}"
    else:
        line = f"cannot connect to SMTP server {s.where}: {getattr(e, 'strerror', None) or e}"
    return line.replace(s.password, "***") if s.password else line


def send_message(msg: EmailMessage, settings: SmtpSettings) -> None:
    """Send one message now.

    Raises:
        smtplib.SMTPException, OSError: Delivery failed.
    """
    to = [addr for _, addr in getaddresses(msg.get_all("To", []))]
    yag = _connect(settings)
    try:
        yag.smtp.send_message(msg, from_addr=settings.sender, to_addrs=to)
    finally:
        yag.close()


def to_outbox(msg: EmailMessage, reason: str) -> Path:
    """Write the message as an ``.eml`` file in the outbox folder and return its path."""
    box = paths.outbox_dir()
    box.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(msg["Subject"]))[:60].strip("-")
    path = box / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{os.getpid()}.eml"
    msg["X-Mlops-Outbox-Reason"] = reason
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msg.as_bytes(policy=_POLICY))
    os.replace(tmp, path)
    return path


def deliver(msg: EmailMessage, out: Out, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Send over SMTP when configured, else (or when that fails) keep the message in the outbox.

    Returns:
        ``{"sent": bool, "outbox": path | None, "error": str | None}``; never raises for SMTP trouble.
    """
    settings = smtp_settings(environ)
    if settings is None:
        path = to_outbox(msg, "no SMTP_HOST set")
        out.info(f"mail: no SMTP configured (SMTP_HOST); written to {path}")
        return {"sent": False, "outbox": str(path), "error": None}
    if not msg.get_all("To"):
        path = to_outbox(msg, "no recipients")
        out.info(f"mail: no recipients (mail.to in mlops.yaml or MLOPS_MAIL_TO); written to {path}")
        return {"sent": False, "outbox": str(path), "error": "no recipients"}
    try:
        send_message(msg, settings)
    except (smtplib.SMTPException, OSError) as e:
        line = _error_line(settings, e)
        path = to_outbox(msg, line)
        out.fail(f"mail: {line}; kept in {path} (send later: mlops notify --retry-outbox)")
        return {"sent": False, "outbox": str(path), "error": line}
    out.info(f"mail: sent to {msg['To']} via {settings.where}")
    return {"sent": True, "outbox": None, "error": None}


def retry_outbox(out: Out, environ: dict[str, str] | None = None) -> dict[str, int]:
    """Send every message waiting in the outbox; sent ones are moved to ``outbox/sent/``.

    Returns:
        Counts of ``sent`` and ``left`` messages.

    Raises:
        ConfigError: No SMTP is configured.
    """
    settings = smtp_settings(environ)
    if settings is None:
        raise ConfigError("SMTP_HOST", "", "is not set; nothing can be sent from the outbox")
    box = paths.outbox_dir()
    sent = left = 0
    for path in sorted(box.glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if not msg.get_all("To"):
            now = recipients_for(None, environ)
            if not now:
                out.info(f"mail: {path.name} has no recipients (set MLOPS_MAIL_TO); left in the outbox")
                left += 1
                continue
            msg["To"] = ", ".join(now)
        del msg["X-Mlops-Outbox-Reason"]
        try:
            send_message(msg, settings)
        except (smtplib.SMTPException, OSError) as e:
            out.fail(f"mail: {path.name}: {_error_line(settings, e)}")
            left += 1
            continue
        (box / "sent").mkdir(exist_ok=True)
        os.replace(path, box / "sent" / path.name)
        out.info(f"mail: sent {path.name} to {msg['To']}")
        sent += 1
    return {"sent": sent, "left": left}


def send_run_report(store: RunStore, run_id: str, out: Out) -> dict[str, Any]:
    """Compose the run's report mail and deliver it; the outcome is recorded in the store's events."""
    from core.notify.plots import report_plots
    from core.notify.report import render_html, render_text, subject

    run = store.get_run(run_id)
    if run is None:
        raise ConfigError("RUN_ID", "", f"no run {run_id} in {store.description}")
    trials = store.trials(run_id)
    run_dir = paths.runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    plots = report_plots(run, trials, run_dir)  # finish() has just drawn them for report.html
    decision, history = store.decision(run_id), store.find_runs(project=run.project, limit=20)
    html = render_html(run, trials, {name: f"cid:{name}" for name in plots}, for_mail=True, decision=decision,
                       history=history)
    msg = compose(subject(run, decision), render_text(run, trials, decision=decision, history=history), html,
                  sender_address(), recipients_for(run), plots)
    result = deliver(msg, out)
    store.add_event(Event(type="mail", run_id=run_id, project=run.project, subject=msg["Subject"], **result))
    return result
