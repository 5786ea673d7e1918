"""Notifications (issue 11) by e-mail, to a real SMTP server on loopback (aiosmtpd):
STARTTLS with a certificate from a test CA and AUTH, or plain with AUTH; what arrives —
subject and body in the recipient's language, the link, the event id in
`X-KnownFix-Event-Id` and a Message-ID made from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.auth import SYSTEM
from service.desk import Desk
from service.notify.mail import message_id
from tests.service.notify_servers import SmtpServer
from tests.service.test_notify_rules import BASE, make_desk, open_case, rows, user

PASSWORD = "smtp-s3cret"


def mail_desk(data_dir: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
              security: str, password: str = PASSWORD) -> Desk:
    monkeypatch.setenv("KNOWNFIX_SMTP_PASSWORD", password)
    desk = make_desk(data_dir, smtp_host="127.0.0.1", smtp_port=server.port,
                     smtp_security=security, smtp_user="knownfix",
                     smtp_from="KnownFix <knownfix@example.com>",
                     smtp_cafile=str(server.cafile or ""), notify_timeout=5.0)
    desk.notify.set_prefs(SYSTEM, "li", email="li@example.com")
    desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com")
    return desk


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tls_dir=tmp_path, users={"knownfix": PASSWORD})
    yield server
    server.close()


def test_mail_over_starttls_with_login_in_each_recipient_s_language(data_dir, tls_server,
                                                                    monkeypatch):
    desk = mail_desk(data_dir, tls_server, monkeypatch, "starttls")
    try:
        case_id = open_case(desk)
        desk.cases.escalate(user(desk, "bob"), case_id, "li", "硬盘阵列需要更换")
        desk.cases.escalate(user(desk, "li"), case_id, "bob", "please check on site")
        report = desk.notify.sender(scans=False).run_once()
        assert (report.sent, report.retrying, report.dead) == (2, 0, 0)
        sent = {r.address: r for r in rows(desk)}
    finally:
        desk.close()
    by_to = {m.rcpt_tos[0]: m for m in tls_server.mails}
    assert set(by_to) == {"li@example.com", "bob@example.com"}
    for address, mail in by_to.items():
        assert mail.tls and mail.login == "knownfix"  # STARTTLS, then AUTH
        assert mail.mail_from == "knownfix@example.com"
        msg = mail.message
        assert msg["X-KnownFix-Event-Id"] == sent[address].event_id
        assert msg["Message-ID"] == message_id(sent[address].event_id)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert f"{BASE}/case?id={case_id}" in msg.get_content()
    zh, en = by_to["li@example.com"].message, by_to["bob@example.com"].message
    assert zh["Subject"].startswith(f"工单 {case_id} 已升级给你")
    assert "硬盘阵列需要更换" in zh.get_content() and "打开工单" in zh.get_content()
    assert en["Subject"].startswith(f"Case {case_id} was escalated to you")
    assert "please check on site" in en.get_content() and "Open the case" in en.get_content()


def test_the_message_id_is_the_same_on_every_attempt():
    assert message_id("e42/li/email") == message_id("e42/li/email")
    assert message_id("e42/li/email") != message_id("e43/li/email")
    assert message_id("e42/li/email").endswith("@knownfix>")


def test_a_wrong_password_is_retried_not_dropped(data_dir, tls_server, monkeypatch):
    desk = mail_desk(data_dir, tls_server, monkeypatch, "starttls", password="wrong")
    try:
        case_id = open_case(desk)
        desk.cases.escalate(user(desk, "li"), case_id, "bob", "x")
        assert desk.notify.sender(scans=False).run_once().retrying == 1
        (row,) = rows(desk)
        assert row.state == "pending" and "535" in row.last_error  # fix it and it goes
    finally:
        desk.close()
    assert tls_server.mails == []


def test_an_untrusted_certificate_is_refused(data_dir, tls_server, monkeypatch):
    tls_server.cafile = None  # the client does not trust the test CA
    desk = mail_desk(data_dir, tls_server, monkeypatch, "starttls")
    try:
        case_id = open_case(desk)
        desk.cases.escalate(user(desk, "li"), case_id, "bob", "x")
        desk.notify.sender(scans=False).run_once()
        (row,) = rows(desk)
        assert row.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in row.last_error
    finally:
        desk.close()
    assert tls_server.mails == []


def test_plain_smtp_with_login_for_a_relay_on_this_machine(data_dir, monkeypatch):
    server = SmtpServer(users={"knownfix": PASSWORD})
    desk = mail_desk(data_dir, server, monkeypatch, "none")
    try:
        case_id = open_case(desk)
        desk.cases.escalate(user(desk, "li"), case_id, "bob", "x")
        assert desk.notify.sender(scans=False).run_once().sent == 1
    finally:
        desk.close()
        server.close()
    (mail,) = server.mails
    assert not mail.tls and mail.login == "knownfix"


def test_a_refused_message_is_dead_at_once(data_dir, monkeypatch):
    server = SmtpServer(answer=lambda: "550 5.1.1 mailbox unavailable")
    desk = mail_desk(data_dir, server, monkeypatch, "none")
    desk = make_desk_without_login(desk)
    try:
        case_id = open_case(desk)
        desk.cases.escalate(user(desk, "li"), case_id, "bob", "x")
        assert desk.notify.sender(scans=False).run_once().dead == 1
        (row,) = rows(desk)
        assert row.state == "dead" and "550" in row.last_error
    finally:
        desk.close()
        server.close()


def make_desk_without_login(desk: Desk) -> Desk:
    """The same desk with no SMTP login (a server without AUTH)."""
    desk.engine.settings = desk.engine.settings.with_(smtp_user="")
    return desk
