"""E-mail notifications over SMTP: STARTTLS (default), TLS from the start, or plain for a
relay on this machine; login when `smtp_user` is set, the password from the environment
variable named by `smtp_password_env` (never stored).

Each message carries `Message-ID: <hash of the event id@knownfix>` and the header
`X-KnownFix-Event-Id`: both are the same on every attempt, so a mail system (or a person)
can drop a repeat.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from errors import DeliveryFailed
from service.notify.channels import EVENT_ID_HEADER, Delivery
from settings import Settings


def message_id(event_id: str) -> str:
    """A stable Message-ID for an event id (the same on every attempt)."""
    return f"<{hashlib.sha256(event_id.encode()).hexdigest()[:32]}@knownfix>"


def build(delivery: Delivery, sender: str) -> EmailMessage:
    """The e-mail for one delivery: plain text in UTF-8, with the link."""
    m = delivery.message
    mail = EmailMessage()
    mail["Subject"] = m.subject
    mail["From"] = sender
    mail["To"] = delivery.address
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id(delivery.event_id)
    mail[EVENT_ID_HEADER] = delivery.event_id
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    mail["Content-Language"] = "zh-CN" if m.lang == "zh" else "en"
    mail.set_content(m.text() + "\n", charset="utf-8")
    return mail


class SmtpChannel:
    """Sends each notification in its own SMTP session (settings smtp_*)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.s.smtp_cafile or None)

    def _connect(self) -> smtplib.SMTP:
        s = self.s
        if s.smtp_security == "ssl":
            return smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.notify_timeout,
                                    context=self._context())
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout)
        if s.smtp_security == "starttls":
            smtp.starttls(context=self._context())
        return smtp

    def send(self, delivery: Delivery) -> None:
        s = self.s
        if not s.smtp_host:
            raise DeliveryFailed("no mail server: set smtp_host")
        mail = build(delivery, s.smtp_from)
        try:
            with self._connect() as smtp:
                if s.smtp_user:
                    smtp.login(s.smtp_user, os.environ.get(s.smtp_password_env, ""))
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            raise DeliveryFailed(f"mail server refused {delivery.address}: {codes}",
                                 permanent=all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            permanent = exc.smtp_code >= 500 and not isinstance(
                exc, smtplib.SMTPAuthenticationError)  # a password can be fixed
            raise DeliveryFailed(f"mail server said {exc.smtp_code} {text}",
                                 permanent=permanent) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryFailed(f"mail server {s.smtp_host}:{s.smtp_port}: "
                                 f"{exc.__class__.__name__}: {exc}") from exc
