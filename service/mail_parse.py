"""One e-mail message (raw bytes) read as a `Mail`, or refused as `NotMail`.

The message is parsed with the standard library's lenient parser (compat32: it records
defects instead of raising), but every header value is taken raw and decoded here
(service.mail_text), so an 8-bit or malformed header never reaches code that expects
clean text.  Parameters (charset, name, filename) are read by `header_params`, which
knows RFC 2231 continuations and charsets, RFC 2047 words inside quotes and raw 8-bit
names.

What is refused, and why, is said in the NotMail message: empty files, binary files (an
Outlook .msg is an OLE2 file, starting D0 CF 11 E0), files without any mail header, and
messages with neither subject, nor text, nor attachment.
"""

from __future__ import annotations

import email
import hashlib
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from errors import NotMail
from service.mail_text import clean_text, decode_bytes, header_text, html_charset, html_to_text

MAIL_HEADERS = frozenset({"from", "to", "cc", "subject", "date", "message-id", "received",
                          "mime-version", "content-type", "return-path", "reply-to",
                          "sender", "delivered-to", "in-reply-to", "references"})
_BINARY = ((b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Outlook .msg or other OLE2 file "
            "(D0 CF 11 E0), not an RFC 822 message: save it from Outlook as .eml"),
           (b"PK\x03\x04", "a ZIP archive"), (b"%PDF-", "a PDF document"),
           (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"), (b"\xff\xd8\xff", "a JPEG image"),
           (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
           (b"Rar!", "a RAR archive"))
MAX_TEXT = 100_000  # characters of body kept in a case description
MAX_DEPTH = 40  # nesting of MIME parts followed; deeper parts are listed, not read
FUTURE = timedelta(days=1)  # a Date header further ahead than this is not believed


@dataclass
class Attachment:
    """A part that is listed on the case, not inlined: its decoded name and size."""

    name: str
    size: int | None  # None: not known (a part nested too deep to read)


@dataclass
class Mail:
    """What intake takes from one message."""

    key: str
    title: str
    body: str
    contact: str
    received_at: str | None
    attachments: list[Attachment] = field(default_factory=list)

    def description(self) -> str:
        """The body (or, without one, the subject), with the attachments in a footer."""
        text = self.body.strip() or self.title.strip()
        if self.attachments:
            listed = ", ".join(a.name if a.size is None else f"{a.name} ({_size(a.size)})"
                               for a in self.attachments)
            text = f"{text}\n\n--\nAttachments: {listed}".strip()
        return text


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


# -- is it mail at all ---------------------------------------------------------------------------
def check_not_binary(data: bytes) -> None:
    """Raise NotMail for an empty or binary file; return for anything text-like."""
    if not data:
        raise NotMail("empty file (0 bytes)")
    if not data.strip():
        raise NotMail(f"nothing but blank space ({len(data)} bytes)")
    for magic, what in _BINARY:
        if data.startswith(magic):
            raise NotMail(what if what.startswith("an Outlook") else
                          f"{what}, not a mail message")
    if b"\x00" in data[:8192]:
        raise NotMail("binary data (NUL bytes), not a mail message")


_OBSOLETE_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.M)


def _without_envelope(data: bytes) -> bytes:
    """The message without a byte-order mark, leading blank lines or an mbox 'From ' line,
    with RFC 822's obsolete 'Name  :' header form written as 'Name:'."""
    data = data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")
    if data.startswith(b"From ") and not re.match(rb"From\s*:", data):
        data = data.partition(b"\n")[2]
    blank = re.search(rb"\r?\n\r?\n", data)
    end = blank.start() if blank else len(data)
    return _OBSOLETE_COLON.sub(rb"\1:", data[:end]) + data[end:]


def raw_key(data: bytes) -> str:
    """sha256 of the message bytes, the same whether stored with CRLF or LF line ends and
    with or without an mbox 'From ' line."""
    body = _without_envelope(data).replace(b"\r\n", b"\n").rstrip()
    return "sha256:" + hashlib.sha256(body).hexdigest()


# -- headers -----------------------------------------------------------------------------------
def raw_header(msg: Message, name: str) -> str | None:
    """The first `name` header exactly as parsed (8-bit bytes kept as surrogate escapes),
    never the parser's sanitised Header object."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return value if isinstance(value, str) else str(value)
    return None


def _unfold(value: str) -> str:
    """A folded header value on one line."""
    return re.sub(r"\r?\n[ \t]*", " ", value)


def _split_params(value: str) -> list[str]:
    """`value` split at semicolons outside double quotes."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    """A parameter value without its double quotes and backslash escapes."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def header_params(raw: str | None, hint: str | None = None) -> tuple[str, dict[str, str]]:
    """A parameterised header (Content-Type, Content-Disposition) as its lower-case value
    and its parameters, each decoded (RFC 2231 sections and charsets, RFC 2047 words; raw
    8-bit bytes in the `hint` charset where they read in it)."""
    if not raw:
        return "", {}
    head, *rest = _split_params(_unfold(raw))
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    plain: dict[str, str] = {}
    for item in rest:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            continue
        match = re.fullmatch(r"([^*]+)\*(?:(\d+)(\*)?)?", name)
        if match:  # RFC 2231: name* (one encoded section), name*0*, name*1 …
            base, number, star = match.groups()
            encoded = number is None or bool(star)
            sections.setdefault(base, []).append((int(number or 0), encoded, value.strip()))
        else:
            plain.setdefault(name, _unquote(value))
    params = {name: _rfc2231(parts) for name, parts in sections.items()}
    for name, value in plain.items():
        params.setdefault(name, header_text(value, hint))
    return _unquote(header_text(head)).lower(), params


def _rfc2231(parts: list[tuple[int, bool, str]]) -> str:
    """Join RFC 2231 sections; percent-encoded ones in the charset the first one names."""
    charset, data = None, b""
    for n, (_number, encoded, value) in enumerate(sorted(parts)):
        value = _unquote(value)
        if encoded and n == 0 and value.count("'") >= 2:
            charset, _lang, value = value.split("'", 2)
        if encoded:
            data += urllib.parse.unquote_to_bytes(value)
        else:
            data += value.encode("utf-8", errors="surrogateescape")
    return header_text(decode_bytes(data, charset))


def _contact(msg: Message, hint: str | None) -> str:
    """The sender as 'Name <address>' (or whichever of the two there is)."""
    raw = raw_header(msg, "From") or raw_header(msg, "Sender") or ""
    raw = _unfold(raw)
    if re.search("[\udc80-\udcff]", raw):  # raw 8-bit: decode first, then split
        raw = header_text(raw, hint)
    name, addr = parseaddr(raw)
    name = header_text(name, hint)
    if not name and "@" not in addr:  # no address in it: the header as text
        return header_text(raw, hint)
    return f"{name} <{addr}>" if name and addr else (addr or name)


def _received_at(msg: Message, now: datetime | None = None) -> str | None:
    """The Date header as UTC ISO-8601; None when missing, unreadable or in the future."""
    raw = header_text(raw_header(msg, "Date"))
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when > (now or datetime.now(UTC)) + FUTURE:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_id(msg: Message) -> str | None:
    """The Message-ID as written (its <...> part), or None when there is none worth using."""
    raw = re.sub(r"\s+", "", header_text(raw_header(msg, "Message-ID")))
    found = re.search(r"<[^<>]+>", raw)
    value = found.group(0) if found else raw
    return value if len(value.strip("<>")) >= 3 else None


# -- body and attachments -------------------------------------------------------------------------
@dataclass
class _Parts:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def _payload(part: Message) -> bytes:
    """The decoded bytes of a leaf part (base64, quoted-printable, uuencode, 8-bit)."""
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError):
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else b""


def _part_text(part: Message, data: bytes, html: bool) -> str:
    """A text part's bytes as text: its charset, or an HTML <meta> charset, or detected."""
    _ctype, params = header_params(raw_header(part, "Content-Type"))
    charset = params.get("charset") or (html_charset(data) if html else None)
    return decode_bytes(data, charset)


def body_charset(msg: Message) -> str | None:
    """The charset the first text part declares: raw 8-bit header bytes are most often in
    it (mail clients write headers in the body's charset)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if part.is_multipart() and isinstance(part.get_payload(), list):
            if depth < MAX_DEPTH:
                stack.extend((child, depth + 1) for child in reversed(part.get_payload()))
            continue
        ctype, params = header_params(raw_header(part, "Content-Type"))
        if params.get("charset") and ctype.startswith("text/"):
            return params["charset"]
    return None


def _walk(msg: Message, hint: str | None) -> _Parts:
    """Collect plain and HTML text and attachments, depth-first, without recursion."""
    found = _Parts()
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        ctype, params = header_params(raw_header(part, "Content-Type"), hint)
        ctype = ctype if "/" in ctype else "text/plain"
        disposition, dparams = header_params(raw_header(part, "Content-Disposition"), hint)
        name = clean_text(dparams.get("filename") or params.get("name") or "")
        if _descend(part, ctype, disposition):
            if depth >= MAX_DEPTH:
                found.attachments.append(Attachment("(parts nested too deep to read)", None))
                continue
            stack.extend((child, depth + 1) for child in reversed(part.get_payload()))
            continue
        _leaf(part, ctype, disposition, name, found)
    return found


def _descend(part: Message, ctype: str, disposition: str) -> bool:
    """Whether to read a part's children: multiparts, and forwarded messages shown inline
    (an attached message is listed as an attachment instead)."""
    if not part.is_multipart() or not isinstance(part.get_payload(), list):
        return False
    return ctype != "message/rfc822" or disposition != "attachment"


def _leaf(part: Message, ctype: str, disposition: str, name: str, found: _Parts) -> None:
    """File one leaf part as plain text, HTML text or an attachment."""
    if ctype.startswith("multipart/"):  # a multipart without boundary: read as text
        ctype = "text/plain"
    if disposition == "attachment" or name or ctype not in ("text/plain", "text/html"):
        found.attachments.append(Attachment((name or _unnamed(part, ctype))[:200],
                                            _attachment_size(part, ctype)))
        return
    data = _payload(part)
    if ctype == "text/html":
        found.html.append(html_to_text(_part_text(part, data, html=True)))
    else:
        found.plain.append(_part_text(part, data, html=False))


def _attachment_size(part: Message, ctype: str) -> int | None:
    """Decoded size in bytes; for an attached message, the size of the message."""
    if ctype != "message/rfc822":
        return len(_payload(part))
    try:
        return len(part.as_bytes())
    except (ValueError, TypeError, LookupError, RecursionError):
        return None


def _unnamed(part: Message, ctype: str) -> str:
    """A label for an attachment without a name: a forwarded message by its subject."""
    if ctype == "message/rfc822" and part.is_multipart():
        inner = part.get_payload()[0]
        subject = header_text(raw_header(inner, "Subject"))
        if subject:
            return f"{subject[:150]}.eml"
    return f"(unnamed {ctype})"


def _body(parts: _Parts) -> str:
    """Plain text if the message has any, else its HTML as text; cut at MAX_TEXT."""
    body = "\n\n".join(t.strip() for t in parts.plain if t.strip())
    if not body:
        body = "\n\n".join(t for t in parts.html if t)
    body = re.sub(r"\n{3,}", "\n\n", clean_text(body)).strip()
    if len(body) > MAX_TEXT:
        body = body[:MAX_TEXT] + f"\n[… {len(body) - MAX_TEXT} more characters not kept]"
    return body


# -- the whole message -----------------------------------------------------------------------------
def parse_mail(data: bytes) -> Mail:
    """One message as a Mail; NotMail (with the reason) for anything that is not one."""
    check_not_binary(data)
    msg = email.message_from_bytes(_without_envelope(data))
    names = {key.lower() for key, _value in msg.raw_items()}
    if not names & MAIL_HEADERS:
        raise NotMail("no mail headers (From, To, Subject, Date, Message-ID …): "
                      "not a mail message")
    hint = body_charset(msg)
    parts = _walk(msg, hint)
    title = header_text(raw_header(msg, "Subject"), hint)[:500]
    body = _body(parts)
    if not title and not body and not parts.attachments:
        raise NotMail("nothing to open a case with: no subject, no text, no attachment")
    return Mail(key=message_id(msg) or raw_key(data), title=title, body=body,
                contact=_contact(msg, hint)[:300], received_at=_received_at(msg),
                attachments=parts.attachments)
