"""The channel interface and the factory that picks an implementation.

A channel delivers one `Delivery` (event id, address, message, signing secret) or raises
`errors.DeliveryFailed` (with `permanent` when trying again cannot help).  Two kinds:
`email` (service.notify.mail.SmtpChannel) and `webhook` in one of the formats of
service.notify.webhooks (generic signed JSON, wecom, dingtalk, feishu, slack, teams).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from errors import BadInput
from service.notify.messages import Message
from settings import WEBHOOK_FORMATS, Settings

CHANNELS = ("email", "webhook")
EVENT_ID_HEADER = "X-KnownFix-Event-Id"


@dataclass(frozen=True)
class Delivery:
    """What a channel sends: `event_id` is the same on every attempt, so the receiver
    can drop a repeat."""

    event_id: str
    address: str
    message: Message
    secret: str = ""


class Channel(Protocol):
    """Delivers one notification, or raises DeliveryFailed."""

    def send(self, delivery: Delivery) -> None: ...


def make_channel(channel: str, fmt: str, settings: Settings) -> Channel:
    """The channel for an outbox row's `channel` and `format`."""
    if channel == "email":
        from service.notify.mail import SmtpChannel

        return SmtpChannel(settings)
    if channel == "webhook":
        if fmt not in WEBHOOK_FORMATS:
            raise BadInput(f"unknown webhook format {fmt!r} (use {', '.join(WEBHOOK_FORMATS)})")
        from service.notify.webhooks import WebhookChannel

        return WebhookChannel(fmt, settings.notify_timeout)
    raise BadInput(f"unknown channel {channel!r} (use {', '.join(CHANNELS)})")
