"""Mail intake (邮件受理): e-mails, one .eml or an mbox file, become cases.

Each message is opened as a case through `Cases.open` (channel "email"): the subject is
the title, the plain-text body (or the HTML body stripped of tags) the description, the
sender the contact and the Date header the time received. Attachments are listed, with
their sizes, in a footer of the description. Messages already taken are remembered in
the `mail_seen` table (Message-ID, or a hash of sender, date and subject when a message
has none), so importing the same mailbox again creates nothing twice.

Headers encoded per RFC 2047 / RFC 2231 and bodies in any charset Python knows are
decoded; GB2312 and GBK are read as GB18030 (their superset), and undeclared 8-bit text
is tried as UTF-8, then GB18030.
"""

from __future__ import annotations

import email
import hashlib
import mailbox
import re
from dataclasses import dataclass, field
from datetime import UTC
from email.header import decode_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from errors import BadInput, KnownFixError
from kb.store import now_utc
from service.auth import User, require
from service.cases import Cases, iso

# Declared charsets read with a wider codec: mail clients label GBK text as GB2312.
_WIDER = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
          "euc-cn": "gb18030", "x-euc-cn": "gb18030", "ascii": "utf-8", "us-ascii": "utf-8"}
_UNDECLARED = ("utf-8", "gb18030")
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                         "table", "blockquote", "pre", "hr"})


@dataclass
class Mail:
    """What intake needs from one message."""

    key: str
    title: str
    body: str
    contact: str
    received_at: str | None
    attachments: list[tuple[str, int]] = field(default_factory=list)

    def description(self) -> str:
        """The body, with the attachments listed in a footer."""
        text = self.body.strip() or self.title.strip()
        if self.attachments:
            listed = ", ".join(f"{name} ({_size(n)})" for name, n in self.attachments)
            text = f"{text}\n\n--\nAttachments: {listed}"
        return text


@dataclass
class MailReport:
    """Outcome of one intake run: (message key, case id) taken, keys skipped, failures."""

    taken: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


# -- decoding -------------------------------------------------------------------------------
def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text from bytes in the declared charset, else UTF-8, else GB18030; never raises."""
    declared = (charset or "").strip().lower()
    tried = [_WIDER.get(declared, declared)] if declared and declared != "unknown-8bit" else []
    for codec in [*tried, *_UNDECLARED]:
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_value(value) -> str:
    """A header (str, with RFC 2047 encoded words, or raw 8-bit) as plain text."""
    if value is None:
        return ""
    out = []
    for chunk, charset in decode_header(value):
        out.append(chunk if isinstance(chunk, str) else decode_bytes(chunk, charset))
    return re.sub(r"\s+", " ", "".join(out)).strip()


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: tags, scripts and styles removed."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    text = unescape("".join(parser.parts)).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    return decode_bytes(payload, part.get_content_charset())


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or bool(part.get_filename())


def _body_and_attachments(msg: Message) -> tuple[str, list[tuple[str, int]]]:
    plain, html, attachments = [], [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if _is_attachment(part):
            name = decode_header_value(part.get_filename() or "") or "(unnamed)"
            attachments.append((name, len(part.get_payload(decode=True) or b"")))
        elif part.get_content_type() == "text/plain":
            plain.append(_part_text(part))
        elif part.get_content_type() == "text/html":
            html.append(html_to_text(_part_text(part)))
    body = "\n\n".join(t.strip() for t in plain if t.strip())
    if not body:
        body = "\n\n".join(t for t in html if t)
    return body, attachments


def _contact(msg: Message) -> str:
    raw = msg.get("From")
    if raw is None:
        return ""
    if isinstance(raw, str):
        name, addr = parseaddr(raw)
        name = decode_header_value(name)
    else:  # raw 8-bit header: decode first, then split name and address
        name, addr = parseaddr(decode_header_value(raw))
    return f"{name} <{addr}>" if name and addr else (addr or name)


def _received_at(msg: Message) -> str | None:
    raw = decode_header_value(msg.get("Date"))
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return iso(when if when.tzinfo else when.replace(tzinfo=UTC))


def message_key(msg: Message, contact: str, date: str, subject: str) -> str:
    """The Message-ID, or a hash of sender, date and subject when there is none."""
    mid = re.sub(r"\s+", "", decode_header_value(msg.get("Message-ID")))
    if mid:
        return mid
    digest = hashlib.sha256(f"{contact}\n{date}\n{subject}".encode()).hexdigest()
    return f"sha256:{digest}"


def parse_mail(data: bytes) -> Mail:
    """One message (raw bytes) as a Mail."""
    msg = email.message_from_bytes(data)
    title = decode_header_value(msg.get("Subject"))
    contact = _contact(msg)
    body, attachments = _body_and_attachments(msg)
    date = decode_header_value(msg.get("Date"))
    return Mail(key=message_key(msg, contact, date, title), title=title, body=body,
                contact=contact, received_at=_received_at(msg), attachments=attachments)


def read_messages(path: str | Path) -> list[bytes]:
    """The raw messages of an mbox file (starts with a 'From ' line) or of one .eml."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"no such mail file: {path}")
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\r\n")
    if not head.startswith(b"From "):
        return [path.read_bytes()]
    box = mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


class MailIntake:
    """Turns e-mails into cases once each, remembering what was taken in `mail_seen`."""

    def __init__(self, cases: Cases) -> None:
        self.cases = cases
        self.kb = cases.kb
        if not self.kb.db["mail_seen"].exists():
            with self.kb.transaction():  # a write lock first: processes may start together
                if not self.kb.db["mail_seen"].exists():
                    self.kb.db["mail_seen"].create(
                        {"message_id": str, "case_id": str, "at": str}, pk="message_id")

    def seen(self, key: str) -> str | None:
        """The case a message became, or None if it was never taken."""
        row = self.kb.db.execute("SELECT case_id FROM mail_seen WHERE message_id = ?",
                                 [key]).fetchone()
        return row[0] if row else None

    def take(self, actor: User, mail: Mail, project: str | None = None) -> str:
        """Open the case for one message and remember it; returns the case id."""
        case = self.cases.open(actor, mail.description(), title=mail.title, project=project,
                               channel="email", contact=mail.contact,
                               received_at=mail.received_at or "")
        with self.kb.transaction():
            self.kb.db["mail_seen"].insert({"message_id": mail.key, "case_id": case.id,
                                            "at": now_utc()}, replace=True)
            self.kb.log(actor.username, "mail:taken", case.key, {"message_id": mail.key})
        return case.id

    def import_file(self, actor: User, path: str | Path,
                    project: str | None = None) -> MailReport:
        """Take every new message of an .eml or mbox file; one failure never stops the rest."""
        require(actor, "case.open")
        report = MailReport()
        for n, data in enumerate(read_messages(path), 1):
            where = f"message {n}"
            try:
                mail = parse_mail(data)
                where = f"message {n} ({mail.key})"
                if self.seen(mail.key):
                    report.skipped.append(mail.key)
                    continue
                report.taken.append((mail.key, self.take(actor, mail, project)))
            except (KnownFixError, ValueError, LookupError) as exc:
                report.failed.append((where, str(exc) or type(exc).__name__))
        return report
