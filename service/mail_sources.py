"""Where mail comes from: files (.eml, mbox), maildir and plain folders, an IMAP mailbox.

Every source yields `RawMessage`s — the bytes of one message and where it came from
("inbox.mbox#3", "Maildir/new/1700000000.M1P2.host", "imaps://support@host/INBOX;UID=7") —
and never parses them: one unreadable message must not stop the others, so parsing is
the intake's job, message by message.

mbox files are split by the rules of mboxrd and mboxcl2 (see `split_mbox`); an IMAP
mailbox is read without changing it (EXAMINE, BODY.PEEK: no \\Seen flags set).
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from errors import BadInput, MailboxError


@dataclass(frozen=True)
class RawMessage:
    """One message's bytes and where they came from."""

    source: str
    data: bytes
    # A message id known before the bytes are fetched (IMAP's header fetch), or None.
    known_id: str | None = None


# -- mbox ----------------------------------------------------------------------------------------
_FROM_TIME = re.compile(rb"\d{1,2}:\d\d")
_FROM_YEAR = re.compile(rb"(?<!\d)\d{4}(?!\d)")
_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.M)
_FROM_LINE = re.compile(rb"(?<=\n)(From [^\n]*)")


def is_from_line(line: bytes) -> bool:
    """Whether a line is an mbox separator: 'From ' then a sender and a date with a time
    and a year ('From jane@x Mon Nov 30 09:15:00 2026'; Netscape's 'From - Mon Jun  3
    12:50:27 1996'), or a bare 'From -'.  A body line such as 'From Russia with love'
    is not one."""
    if not line.startswith(b"From "):
        return False
    rest = line[5:].strip()
    if rest == b"-":
        return True
    return bool(_FROM_TIME.search(rest) and _FROM_YEAR.search(rest))


def looks_like_mbox(data: bytes) -> bool:
    """An mbox starts (after a byte-order mark or blank lines) with a 'From ' line, dated
    or a bare 'From sender'."""
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    return is_from_line(first) or bool(re.fullmatch(rb"From \S+", first))


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox, each without its 'From ' line.

    A message whose headers say Content-Length (mboxcl2) ends exactly that many bytes
    after its header block, provided a separator (or the end) follows there: a 'From '
    line inside its body does not cut it.  Otherwise (mboxrd, mboxo) the message ends at
    the next separator line, and '>From ' lines lose one '>'."""
    data = data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")
    messages: list[bytes] = []
    pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        begin = len(data) if newline < 0 else newline + 1
        end = _content_length_end(data, begin)
        if end is not None:
            messages.append(data[begin:end])
            pos = _next_line_start(data, end)
            continue
        following = _next_separator(data, begin)
        messages.append(_QUOTED_FROM.sub(rb"\1", _trim_separator(data[begin:following])))
        pos = following
    return messages


def _next_separator(data: bytes, begin: int) -> int:
    """Offset of the next separator, or the end of the data: a 'From ' line by
    `is_from_line`, or after a blank line a bare 'From sender' (an envelope without date,
    as in anonymised exports)."""
    for match in _FROM_LINE.finditer(data, begin):
        line = match.group(1).rstrip(b"\r")
        after_blank = data.endswith((b"\n\n", b"\n\r\n"), 0, match.start(1))
        if is_from_line(line) or (after_blank and re.fullmatch(rb"From \S+", line)):
            return match.start(1)
    return len(data)


def _next_line_start(data: bytes, end: int) -> int:
    """After a Content-Length body: the next non-empty line (the separator), or the end."""
    while end < len(data) and data[end:end + 1] in (b"\r", b"\n"):
        end += 1
    return end


def _content_length_end(data: bytes, begin: int) -> int | None:
    """Where a message starting at `begin` ends by its Content-Length header, or None when
    it has none, or when no separator (nor the end of the file) is found there."""
    blank = re.compile(rb"\r?\n\r?\n").search(data, begin)
    if blank is None:
        return None
    length = _CONTENT_LENGTH.search(data, begin, blank.start() + 1)
    if length is None:
        return None
    end = blank.end() + int(length.group(1))
    rest = data[end:end + 2048].lstrip(b"\r\n")
    if end > len(data) or (rest and not is_from_line(rest.split(b"\n", 1)[0].rstrip(b"\r"))):
        return None
    return end


def _trim_separator(message: bytes) -> bytes:
    """A message without the blank line that separates it from the next 'From ' line."""
    if message.endswith(b"\r\n\r\n"):
        return message[:-2]
    if message.endswith(b"\n\n"):
        return message[:-1]
    return message


# -- files and folders ---------------------------------------------------------------------------
def _file_messages(path: Path, label: str) -> Iterator[RawMessage]:
    """An mbox file's messages, or a file as one message."""
    data = path.read_bytes()
    if looks_like_mbox(data):
        parts = split_mbox(data)
        if len(parts) > 1:
            for n, part in enumerate(parts, 1):
                yield RawMessage(f"{label}#{n}", part)
            return
    yield RawMessage(label, data)


def _is_maildir(folder: Path) -> bool:
    """A maildir has cur/ and new/ (and tmp/, not needed for reading)."""
    return (folder / "cur").is_dir() and (folder / "new").is_dir()


def _maildir_messages(folder: Path) -> Iterator[RawMessage]:
    """A maildir's messages, new then cur, by file name; tmp/ (being written) is skipped.
    Files are only read: flags and places are left as they are."""
    for sub in ("new", "cur"):
        for path in sorted((folder / sub).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                yield RawMessage(str(path), path.read_bytes())


def _folder_messages(folder: Path) -> Iterator[RawMessage]:
    """Every file under a plain folder, by path; maildirs inside it are read as maildirs."""
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_dir() and _is_maildir(path):
            yield from _maildir_messages(path)
        elif path.is_file() and not _inside_maildir(path, folder):
            yield from _file_messages(path, str(path))


def _inside_maildir(path: Path, top: Path) -> bool:
    """Whether `path` lies in a maildir below `top` (read as a maildir, not as files)."""
    return any(_is_maildir(parent) for parent in path.parents
               if parent == top or top in parent.parents)


def path_messages(paths: Iterable[str | Path]) -> Iterator[RawMessage]:
    """The messages of files (.eml or mbox), maildirs and folders, in the order given.
    A path that does not exist is a BadInput before anything is read."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise BadInput(f"no such mail file or folder: {', '.join(missing)}")
    for path in paths:
        if path.is_dir():
            yield from (_maildir_messages(path) if _is_maildir(path) else
                        _folder_messages(path))
        else:
            yield from _file_messages(path, str(path))


# -- IMAP ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImapAccount:
    """An IMAP mailbox: imaps://user@host[:port]/MAILBOX (TLS) or imap://… (plain; only
    for a server on this machine).  The password is never part of the URL."""

    host: str
    port: int
    user: str
    mailbox: str = "INBOX"
    tls: bool = True
    cafile: str | None = None  # a CA certificate to trust (a server with its own cert)

    @classmethod
    def from_url(cls, url: str, cafile: str | None = None) -> ImapAccount:
        """Parse imaps://user@host:port/MAILBOX; BadInput for anything else."""
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise BadInput(f"not an IMAP address: {url!r} (use imaps://user@host/INBOX)")
        if parts.password is not None:
            raise BadInput("give the IMAP password in KNOWNFIX_IMAP_PASSWORD or at the "
                           "prompt, never in the address")
        if not parts.username:
            raise BadInput(f"no user in {url!r} (use imaps://user@host/INBOX)")
        tls = parts.scheme == "imaps"
        if not tls and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            raise BadInput("plain imap:// only to this machine; use imaps:// for "
                           f"{parts.hostname}")
        try:
            port = parts.port or (993 if tls else 143)
        except ValueError as exc:
            raise BadInput(f"bad port in {url!r}") from exc
        return cls(parts.hostname, port, unquote(parts.username),
                   unquote(parts.path.lstrip("/")) or "INBOX", tls, cafile)

    @property
    def url(self) -> str:
        return f"{'imaps' if self.tls else 'imap'}://{self.user}@{self.host}:{self.port}/" \
               f"{self.mailbox}"


def imap_messages(account: ImapAccount, password: str, timeout: float = 30.0,
                  is_known: Callable[[str], bool] | None = None) -> Iterator[RawMessage]:
    """The messages of an IMAP mailbox, oldest first, read without changing it.

    `is_known(message_id) -> bool` lets a caller skip downloading messages it has
    already taken: their Message-IDs are fetched first (one command for the mailbox);
    a known message is yielded with `known_id` set and no bytes."""
    conn = _imap_login(account, password, timeout)
    try:
        uids = _imap_uids(conn, account)
        ids = _imap_message_ids(conn, uids) if is_known else {}
        for uid in uids:
            source = f"{account.url};UID={uid.decode()}"
            known = ids.get(uid)
            if known and is_known(known):
                yield RawMessage(source, b"", known_id=known)
                continue
            yield RawMessage(source, _imap_fetch(conn, uid))
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"IMAP {account.url}: {exc}") from exc
    finally:
        _imap_logout(conn)


def _imap_login(account: ImapAccount, password: str, timeout: float) -> imaplib.IMAP4:
    """A logged-in connection; MailboxError with a plain reason when that fails."""
    try:
        if account.tls:
            context = ssl.create_default_context(cafile=account.cafile)
            conn = imaplib.IMAP4_SSL(account.host, account.port, ssl_context=context,
                                     timeout=timeout)
        else:
            conn = imaplib.IMAP4(account.host, account.port, timeout=timeout)
    except ssl.SSLError as exc:
        raise MailboxError(f"IMAP {account.url}: TLS failed ({exc.reason or exc}); "
                           "for a server with its own certificate give --imap-cafile") from exc
    except OSError as exc:  # refused, unreachable, timed out
        raise MailboxError(f"IMAP {account.url}: cannot connect ({exc})") from exc
    try:
        conn.login(account.user, password)
    except imaplib.IMAP4.error as exc:
        _imap_logout(conn)
        raise MailboxError(f"IMAP {account.url}: login refused for {account.user}") from exc
    return conn


def _imap_uids(conn: imaplib.IMAP4, account: ImapAccount) -> list[bytes]:
    """The UIDs of the mailbox's messages, oldest first; the mailbox opened read-only."""
    status, _data = conn.select(_quote(account.mailbox), readonly=True)
    if status != "OK":
        raise MailboxError(f"IMAP {account.url}: no mailbox {account.mailbox!r}")
    status, data = conn.uid("SEARCH", None, "ALL")
    if status != "OK":
        raise MailboxError(f"IMAP {account.url}: search failed")
    return (data[0] or b"").split()


def _imap_message_ids(conn: imaplib.IMAP4, uids: list[bytes]) -> dict[bytes, str]:
    """UID -> Message-ID for the whole mailbox, in one FETCH of that one header."""
    if not uids:
        return {}
    status, data = conn.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    if status != "OK":
        return {}
    out: dict[bytes, str] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        uid = re.search(rb"UID (\d+)", item[0])
        mid = re.search(rb"<[^<>\s]+>", item[1] or b"")
        if uid and mid:
            out[uid.group(1)] = mid.group(0).decode("ascii", errors="replace")
    return out


def _imap_fetch(conn: imaplib.IMAP4, uid: bytes) -> bytes:
    """One whole message by UID, without setting its \\Seen flag."""
    status, data = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
    if status != "OK":
        raise MailboxError(f"IMAP: cannot fetch message UID {uid.decode()}")
    for item in data:
        if isinstance(item, tuple):
            return item[1]
    return b""


def _imap_logout(conn: imaplib.IMAP4) -> None:
    """Log out, ignoring a connection that is already gone."""
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        conn.logout()


def _quote(mailbox: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
