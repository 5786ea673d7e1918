"""Notifications (issue 11): who is told what, over which channel, and the delivery.

    rules.py     an event -> the notices it causes (kind, who is concerned, context)
    messages.py  a notice -> a Message in the recipient's language (zh/en), with a link
    prefs.py     each user's addresses and event kinds (table notify_prefs)
    outbox.py    the outbox table: rows written in the event's transaction, claimed
                 under a lease, sent / retried with back-off / dead
    channels.py  the Channel interface and the factory (e-mail or a webhook format)
    mail.py      e-mail over SMTP (STARTTLS or TLS, login)
    webhooks.py  generic signed JSON, 企业微信, 钉钉, 飞书, Slack, Microsoft Teams
    scans.py     deadlines at risk / overdue and follow-ups due, written as events
    sender.py    the delivery loop (`knownfix notify run`, or a thread in `serve`)
    service.py   Notifications: the event hook, preferences with role checks, the outbox
"""

from service.notify.service import Notifications

__all__ = ["Notifications"]
