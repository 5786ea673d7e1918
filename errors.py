"""Specific exceptions raised inside KnownFix.

Library code raises these; only the edges (CLI, app) turn them into a one-line message.
"""

from __future__ import annotations


class KnownFixError(Exception):
    """Base class: a problem the user can understand and act on.

    The message is English.  Errors a user of the app meets often also carry a `key` and
    its `params`, so the app can say them in the user's language (ui/i18n.py, err.KEY)."""

    def __init__(self, message: str, key: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.key, self.params = key, params


class BadInput(KnownFixError):
    """A file, column, text or option given by the user cannot be used."""


class SettingsError(BadInput, ValueError):
    """A setting has a value that cannot be used (settings.json, the environment or a
    value given to load_settings).  Still a ValueError, as it was before it joined this
    hierarchy."""


class MissingColumn(BadInput):
    """A mapped column is not in the file."""


class UnknownLabel(BadInput):
    """A label field or severity level that the knowledge base does not know."""


class NotMail(BadInput):
    """Bytes offered as one e-mail message that are not one: empty, binary (an Outlook
    .msg, an archive) or without mail headers and text."""


class MailboxError(KnownFixError):
    """A mailbox (mbox file, maildir folder or IMAP server) cannot be read as a whole."""


class NotFound(KnownFixError):
    """A case, article or user id that does not exist."""


class StaleRecord(KnownFixError):
    """A record changed since the version the caller last read (the HTTP API's
    If-Match no longer matches): nothing was written."""


class BadToken(KnownFixError):
    """An API token that is missing, malformed, unknown or revoked, or whose user is
    disabled or removed: the request is not signed in (HTTP 401)."""


class RequestInProgress(KnownFixError):
    """The first request with this Idempotency-Key is still being served; retry later."""


class KeyReused(BadInput):
    """An Idempotency-Key sent again with a different request than the first."""


class ModelMismatch(KnownFixError):
    """The index was built by another embedding model than the one configured."""


class IndexCorrupt(KnownFixError):
    """The index folder cannot be read or disagrees with the database."""


class LinkGone(KnownFixError):
    """A customer's answer link (service/customer_links.py) that has expired, has been
    answered, or whose case no longer waits for that answer (HTTP 410)."""


class PermissionDenied(KnownFixError):
    """The actor's role does not allow this action."""


class InvalidTransition(KnownFixError):
    """A case or article cannot move from its state to the one asked for."""


class DeliveryFailed(KnownFixError):
    """A notification could not be delivered (mail server or webhook refused it, or could
    not be reached).  `permanent` says whether trying again can help (a 4xx answer, a
    refused recipient) or not; the sender retries the others with back-off."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message, "delivery_failed")
        self.permanent = permanent


class NewerSchema(KnownFixError):
    """The database was last upgraded by a newer KnownFix than this one: this version
    does not know its schema and must not write to it."""


class CopyFailed(KnownFixError):
    """A knowledge base could not be copied whole into another store (kb/copy.py): the
    target lacks a table or column of the source, or refused a row; nothing was
    written to it."""
