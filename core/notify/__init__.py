"""Telling people: the run report (HTML and text, with plots) and mail over SMTP or to the outbox."""

from __future__ import annotations

from core.notify.mail import compose, deliver, recipients_for, retry_outbox, send_run_report, smtp_settings

__all__ = ["compose", "deliver", "recipients_for", "retry_outbox", "send_run_report", "smtp_settings"]
