"""Mail intake from a real IMAP server: Debian's Dovecot, started by the test on loopback
with a temporary configuration, TLS with a certificate made for the test, one user.

Dovecot comes from the `dovecot-imapd` package (`make test` installs it where it can, as it
does Chromium); without /usr/sbin/dovecot these tests skip and say so."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from errors import MailboxError
from service.auth import SYSTEM
from service.cases import Cases
from service.engine import Engine
from service.mail import REJECTED, REPEAT, TAKEN, MailIntake
from service.mail_sources import ImapAccount, imap_messages
from settings import load_settings

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "s3cret-imap-pass"
pytestmark = pytest.mark.skipif(not os.access(DOVECOT, os.X_OK),
                                reason="no Dovecot (apt-get install dovecot-imapd)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _users() -> tuple[str, str, int, int]:
    """Login user, internal user and the uid/gid mail is read as.  As root, Dovecot's own
    unprivileged accounts (made by its package); otherwise this user for everything."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, me, os.geteuid(), os.getegid()
    dovecot = pwd.getpwnam("dovecot")
    return "dovenull", "dovecot", dovecot.pw_uid, dovecot.pw_gid


def _config(base: Path, port: int) -> str:
    login, internal, uid, gid = _users()
    return f"""
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{base}/cert.pem
ssl_key = <{base}/key.pem
default_login_user = {login}
default_internal_user = {internal}
default_internal_group = {internal}
first_valid_uid = {uid}
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {internal}
}}
service auth-worker {{
  user = {internal}
}}
"""


@pytest.fixture(scope="module")
def dovecot():
    """A Dovecot listening on 127.0.0.1 (IMAPS), stopped and removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="kf-dovecot-"))
    base.chmod(0o755)  # the unprivileged mail process reads its home in here
    port = _free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(base / "key.pem"), "-out", str(base / "cert.pem")],
                   check=True, capture_output=True)
    (base / "passwd").write_text(f"support:{{PLAIN}}{PASSWORD}::::::\n")
    (base / "passwd").chmod(0o644)
    for sub in ("run", "state", "home"):
        (base / sub).mkdir()
    _login, _internal, uid, gid = _users()
    os.chown(base / "home", uid, gid)
    (base / "dovecot.conf").write_text(_config(base, port))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(base / "dovecot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    account = ImapAccount("127.0.0.1", port, "support", "INBOX", True, str(base / "cert.pem"))
    try:
        _wait_listening(port, proc, base)
        yield account
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def _wait_listening(port: int, proc: subprocess.Popen, base: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (base / "dovecot.log").read_text() if (base / "dovecot.log").exists() else ""
            pytest.fail(f"dovecot exited: {proc.stderr.read().decode()} {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail("dovecot did not start listening")


def _client(account: ImapAccount) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context(cafile=account.cafile)
    conn = imaplib.IMAP4_SSL(account.host, account.port, ssl_context=context)
    conn.login(account.user, PASSWORD)
    return conn


def _message(mid: str | None, subject: str, text: str) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "王工 <wang@example.cn>"
    if mid:
        msg["Message-ID"] = mid
    msg.set_content(text)
    return msg.as_bytes().replace(b"\n", b"\r\n")


@pytest.fixture(scope="module")
def mailbox(dovecot):
    """Three messages APPENDed to INBOX: two good ones (one without Message-ID) and an
    Outlook .msg someone forwarded as raw bytes."""
    conn = _client(dovecot)
    for data in (_message("<imap-1@example.cn>", "NVR硬盘报错", "仓库NVR提示硬盘错误。"),
                 _message(None, "门禁离线", "18台门禁控制器全部离线。"),
                 b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 200):
        status, _ = conn.append("INBOX", None, None, data)
        assert status == "OK"
    conn.logout()
    return dovecot


@pytest.fixture
def intake(engine) -> MailIntake:
    return MailIntake(Cases(engine))


def _flags(account: ImapAccount) -> list[bytes]:
    conn = _client(account)
    conn.select("INBOX", readonly=True)
    _status, data = conn.uid("FETCH", "1:*", "(FLAGS)")
    conn.logout()
    return [item for item in data if item]


def test_intake_from_a_real_imap_server(intake, mailbox):
    before = _flags(mailbox)

    def fetch():
        return imap_messages(mailbox, PASSWORD, is_known=lambda mid: bool(intake.seen(mid)))

    first = intake.intake(SYSTEM, fetch())
    assert [o.status for o in first.outcomes] == [TAKEN, TAKEN, REJECTED]
    assert first.outcomes[0].source == f"imaps://support@127.0.0.1:{mailbox.port}/INBOX;UID=1"
    case = intake.cases.get(first.outcomes[0].case_id)
    assert (case.title, case.description) == ("NVR硬盘报错", "仓库NVR提示硬盘错误。")
    assert case.fields["contact"] == "王工 <wang@example.cn>"
    assert first.outcomes[2].reason.startswith("an Outlook .msg")

    again = intake.intake(SYSTEM, fetch())
    assert [o.status for o in again.outcomes] == [REPEAT, REPEAT, REJECTED]
    assert again.outcomes[0].case_id == first.outcomes[0].case_id
    assert _flags(mailbox) == before  # read only: no \Seen set


def test_known_message_ids_are_not_downloaded_again(intake, mailbox):
    intake.intake(SYSTEM, imap_messages(mailbox, PASSWORD))
    again = list(imap_messages(mailbox, PASSWORD, is_known=lambda mid: bool(intake.seen(mid))))
    assert [(m.known_id, len(m.data) > 0) for m in again] == [
        ("<imap-1@example.cn>", False), (None, True), (None, True)]


def test_wrong_password_and_untrusted_certificate(mailbox):
    with pytest.raises(MailboxError, match="login refused for support"):
        list(imap_messages(mailbox, "wrong"))
    untrusted = ImapAccount(mailbox.host, mailbox.port, mailbox.user)
    with pytest.raises(MailboxError, match="TLS failed"):
        list(imap_messages(untrusted, PASSWORD))


def test_cli_intake_from_imap(mailbox, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KNOWNFIX_MODEL", "hash:256")
    monkeypatch.setenv("KNOWNFIX_VECTOR_BACKEND", "numpy")
    monkeypatch.setenv("KNOWNFIX_IMAP_PASSWORD", PASSWORD)
    Engine(load_settings()).close()  # the knowledge base mail goes into
    url = f"imaps://support@127.0.0.1:{mailbox.port}/INBOX"
    result = CliRunner().invoke(app, ["intake-mail", "--imap", url,
                                      "--imap-cafile", mailbox.cafile])
    assert result.exit_code == 1  # the .msg is rejected
    assert [ln.split()[0] for ln in result.stdout.splitlines()[:3]] == \
        ["taken", "taken", "rejected"]
    assert PASSWORD not in result.output
