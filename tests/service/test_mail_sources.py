"""service/mail_sources.py: mbox by the mboxrd and mboxcl2 rules, IMAP addresses."""

from __future__ import annotations

import pytest

from errors import BadInput
from service.mail_sources import ImapAccount, is_from_line, looks_like_mbox, split_mbox

SEP = b"From jane@acme.example Mon Nov 30 09:15:00 2026\n"


def message(subject: str, body: bytes, extra: bytes = b"") -> bytes:
    return (b"From: jane@acme.example\nSubject: " + subject.encode() + b"\n" + extra
            + b"\n" + body)


def test_content_length_keeps_an_unescaped_from_line_inside_the_body():
    """mboxcl2: the body is as long as Content-Length says, a 'From ' line in it or not."""
    body = b"Line one.\n\nFrom jane@acme.example Mon Nov 30 09:15:00 2026\nstill the body\n"
    first = message("one", body, b"Content-Length: %d\n" % len(body))
    second = message("two", b"second body\n")
    parts = split_mbox(SEP + first + b"\n" + SEP + second)
    assert parts == [first, second]


def test_a_wrong_content_length_falls_back_to_the_separators():
    first = message("one", b"body one\n", b"Content-Length: 3\n")
    second = message("two", b"body two\n")
    assert split_mbox(SEP + first + b"\n" + SEP + second) == [first, second]


def test_mboxrd_quoted_from_lines_lose_one_quote():
    body = b"quoted:\n>From here\n>>From there\n"
    assert split_mbox(SEP + message("q", body)) == [
        message("q", b"quoted:\nFrom here\n>From there\n")]


def test_from_lines_that_are_not_separators():
    """An unescaped body line 'From Russia with love' (MimeKit's unmunged.mbox) does not
    start a message; Netscape's bare 'From -' and an undated 'From sender' after a blank
    line (anonymised exports) do."""
    body = b"My favourite film:\n\nFrom Russia with love\n\nWhat now?\n"
    data = (b"From -\n" + message("a", body) + b"\nFrom 1844347792267117879@xxx\n"
            + message("b", b"two\n"))
    assert split_mbox(data) == [message("a", body), message("b", b"two\n")]


@pytest.mark.parametrize(("line", "separator"), [
    (b"From jane@acme.example Mon Nov 30 09:15:00 2026", True),
    (b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011", True),
    (b"From - Mon Jun  3 12:50:27 1996", True),
    (b"From -", True),
    (b"From Russia with love", False),
    (b"From - the support team", False),
    (b"From: jane@acme.example", False),
])
def test_is_from_line(line, separator):
    assert is_from_line(line) is separator


def test_looks_like_mbox():
    assert looks_like_mbox(b"\xef\xbb\xbfFrom -\nSubject: x\n\nbody")
    assert looks_like_mbox(b"From 1844347792267117879@xxx\nSubject: x\n\nbody")
    assert not looks_like_mbox(b"From: jane@acme.example\nSubject: x\n\nbody")
    assert not looks_like_mbox(b"From Russia with love\n")


@pytest.mark.parametrize(("url", "account"), [
    ("imaps://support@mail.example.com/INBOX", ("mail.example.com", 993, "support", "INBOX",
                                                 True)),
    ("imaps://a%40b.cn@mail.example.com:1993/", ("mail.example.com", 1993, "a@b.cn",
                                                  "INBOX", True)),
    ("imap://support@127.0.0.1:1143/Support/NVR", ("127.0.0.1", 1143, "support",
                                                   "Support/NVR", False)),
])
def test_imap_address(url, account):
    got = ImapAccount.from_url(url)
    assert (got.host, got.port, got.user, got.mailbox, got.tls) == account


@pytest.mark.parametrize(("url", "words"), [
    ("imaps://support:secret@mail.example.com/INBOX", "never in the address"),
    ("imap://support@mail.example.com/INBOX", "plain imap:// only to this machine"),
    ("imaps://mail.example.com/INBOX", "no user"),
    ("https://support@mail.example.com/", "not an IMAP address"),
])
def test_bad_imap_address(url, words):
    with pytest.raises(BadInput, match=words.replace(".", r"\.")):
        ImapAccount.from_url(url)
