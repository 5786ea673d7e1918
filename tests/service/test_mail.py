"""Mail intake: every message accounted for — taken, repeat or rejected — decoded right."""

from __future__ import annotations

import base64
import mailbox
import threading
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from errors import BadInput, MailboxError, NotMail, PermissionDenied
from service.auth import SYSTEM, User
from service.cases import Cases
from service.mail import REJECTED, REPEAT, TAKEN, MailIntake
from service.mail_parse import parse_mail, raw_key
from service.mail_sources import RawMessage, path_messages

ZH_SUBJECT = "NVR硬盘报错，朱镕基路仓库无法回放"  # 镕 is in GBK but not in GB2312
ZH_BODY = "你好：\n仓库NVR提示硬盘错误，昨天起查不到录像，镕字测试。\n请尽快处理。"


def zh_message() -> bytes:
    """A GBK mail as Chinese clients send it: subject labelled gb2312 but holding GBK,
    body in GBK (base64), sender name RFC 2047, attachment name RFC 2231."""
    msg = MIMEMultipart()
    gbk_b64 = base64.b64encode(ZH_SUBJECT.encode("gbk")).decode()
    msg["Subject"] = f"=?gb2312?b?{gbk_b64}?="
    msg["From"] = f"{Header('张三', 'gbk').encode()} <zhangsan@example.cn>"
    msg["To"] = "support@example.com"
    msg["Date"] = "Wed, 25 Nov 2026 09:30:00 +0800"
    msg["Message-ID"] = "<zh-1@example.cn>"
    msg.attach(MIMEText(ZH_BODY, "plain", "gbk"))
    log = MIMEApplication(b"x" * 2048)
    log.add_header("Content-Disposition", "attachment", filename=("gbk", "", "设备日志.txt"))
    msg.attach(log)
    return msg.as_bytes()


def en_message(mid: str = "<en-1@acme.example>", text: str = "All cameras on floor 3 went "
               "offline after the switch was replaced.") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Cameras offline after switch replacement"
    msg["From"] = "Jane Doe <jane@acme.example>"
    msg["Date"] = "Thu, 26 Nov 2026 14:05:00 +0000"
    if mid:
        msg["Message-ID"] = mid
    msg.set_content(text)
    msg.add_alternative("<p>HTML copy that must <b>not</b> win</p>", subtype="html")
    return msg


def html_only_message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "=?utf-8?b?" + base64.b64encode("门禁控制器离线".encode()).decode() + "?="
    msg["From"] = "=?utf-8?b?" + base64.b64encode("李四".encode()).decode() + "?= <li@b.cn>"
    msg["Date"] = "Fri, 27 Nov 2026 08:00:00 +0800"
    msg.set_content("<html><head><style>p{color:red}</style></head><body><p>18台门禁"
                    "控制器&nbsp;全部离线</p><script>alert(1)</script><p>请&amp;回电</p>"
                    "</body></html>", subtype="html")
    return msg


# A message as mikel/mail's attachment_nonascii_filename.eml has it: a raw UTF-8 file
# name in the headers.  It used to raise "'Header' object has no attribute 'split'".
RAW_8BIT_NAME = ("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n"
                 "Message-Id: <raw-name@example.com>\nFrom: foo@example.com\n"
                 "Subject: logs attached\nDate: Mon, 6 Jun 2005 22:21:22 +0200\n\n"
                 "--B\nContent-Type: text/plain; charset=ISO-8859-1\n\nThe NVR log.\n"
                 "--B\nContent-Type: text/plain; name=设备日志.txt\n"
                 "Content-Disposition: attachment;\n\tfilename=设备日志.txt\n\n"
                 "Hi there.\n--B--\n").encode()


@pytest.fixture
def intake(engine) -> MailIntake:
    return MailIntake(Cases(engine))


def mbox_of(path: Path, *messages) -> Path:
    box = mailbox.mbox(str(path))
    for m in messages:
        box.add(m)
    box.close()
    return path


def test_eml_and_mbox_taken_once_then_repeats_naming_their_case(intake, tmp_path):
    eml = tmp_path / "zh.eml"
    eml.write_bytes(zh_message())
    box = mbox_of(tmp_path / "inbox.mbox", en_message(), html_only_message())
    first = intake.import_paths(SYSTEM, [eml, box])
    assert [o.status for o in first.outcomes] == [TAKEN, TAKEN, TAKEN]
    assert [o.source for o in first.outcomes] == [str(eml), f"{box}#1", f"{box}#2"]

    zh = intake.cases.get(first.outcomes[0].case_id)
    assert zh.title == ZH_SUBJECT
    assert "昨天起查不到录像，镕字测试" in zh.description
    assert zh.description.endswith("Attachments: 设备日志.txt (2.0 KB)")
    assert zh.fields["channel"] == "email"
    assert zh.fields["contact"] == "张三 <zhangsan@example.cn>"
    assert zh.fields["received_at"] == "2026-11-25T01:30:00Z"
    assert zh.state == "triaged"

    en, html = (intake.cases.get(o.case_id) for o in first.outcomes[1:])
    assert en.description == ("All cameras on floor 3 went offline after the switch "
                              "was replaced.")
    assert en.fields["contact"] == "Jane Doe <jane@acme.example>"
    assert html.title == "门禁控制器离线"
    assert html.description == "18台门禁控制器 全部离线\n\n请&回电"
    assert first.outcomes[2].key.startswith("sha256:")  # no Message-ID: the raw bytes

    again = intake.import_paths(SYSTEM, [eml, box])
    assert [(o.status, o.case_id) for o in again.outcomes] == \
        [(REPEAT, o.case_id) for o in first.outcomes]
    assert [o.reason for o in again.outcomes] == ["Message-ID seen before"] * 2 + [
        "same raw message seen before"]
    assert intake.kb.db["cases"].count == 3
    assert any(e["action"] == "mail:taken" for e in intake.kb.events(zh.key))


def test_a_non_ascii_attachment_name_no_longer_stops_the_mailbox(intake, tmp_path):
    """Before: AttributeError: 'Header' object has no attribute 'split', and every later
    message of the mbox was never taken."""
    box = tmp_path / "box.mbox"
    box.write_bytes(b"From a@b Mon Jun  6 22:21:22 2005\n" + RAW_8BIT_NAME + b"\n"
                    + b"From a@b Mon Jun  6 22:21:22 2005\n" + en_message().as_bytes())
    report = intake.import_file(SYSTEM, box)
    assert [o.status for o in report.outcomes] == [TAKEN, TAKEN]
    case = intake.cases.get(report.outcomes[0].case_id)
    assert case.description == "The NVR log.\n\n--\nAttachments: 设备日志.txt (9 B)"


def test_rejected_messages_are_reported_not_remembered_and_tried_again(intake, tmp_path):
    headers_only = EmailMessage()
    headers_only["From"] = "x@y.z"
    headers_only["Message-ID"] = "<empty@y.z>"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-empty.eml").write_bytes(b"")
    (folder / "b-outlook.eml").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    (folder / "c-headers-only.eml").write_bytes(headers_only.as_bytes())
    (folder / "d-good.eml").write_bytes(en_message().as_bytes())
    report = intake.import_file(SYSTEM, folder)
    assert [o.status for o in report.outcomes] == [REJECTED, REJECTED, REJECTED, TAKEN]
    reasons = [o.reason for o in report.rejected]
    assert reasons[0] == "empty file (0 bytes)"
    assert reasons[1].startswith("an Outlook .msg or other OLE2 file (D0 CF 11 E0)")
    assert reasons[2] == "nothing to open a case with: no subject, no text, no attachment"
    assert report.counts() == {"messages": 4, TAKEN: 1, REPEAT: 0, REJECTED: 3}
    assert intake.seen("<empty@y.z>") is None
    again = intake.import_file(SYSTEM, folder)
    assert [o.status for o in again.outcomes] == [REJECTED, REJECTED, REJECTED, REPEAT]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty file (0 bytes)"),
    (b"\r\n \n", "nothing but blank space"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "an Outlook .msg"),
    (b"PK\x03\x04\x14\x00", "a ZIP archive, not a mail message"),
    (b"%PDF-1.4\n", "a PDF document"),
    (b"Subject: x\n\nbody with a \x00 byte", "binary data (NUL bytes)"),
    (b"Dear support,\nthe NVR is broken.\n", "no mail headers"),
    (b"X-Custom: 1\n\nhello\n", "no mail headers"),
    (b"From: a@b\nTo: c@d\n\n\n", "nothing to open a case with"),
])
def test_not_mail_is_refused_with_its_reason(data, reason):
    with pytest.raises(NotMail, match=reason.replace(".", r"\.").replace("(", r"\(")
                       .replace(")", r"\)")):
        parse_mail(data)


def test_repeats_only_for_the_same_message_id_or_the_same_raw_message(intake, tmp_path):
    """Not From + Date + Subject: two different mails with the same three are both cases."""
    one = en_message(mid="", text="Camera 7 is offline since the power cut.")
    two = en_message(mid="", text="Camera 9 shows a black picture.")
    same_id = en_message(mid="<dup@acme.example>", text="First text.")
    same_id_again = en_message(mid="<dup@acme.example>", text="Other text, same id.")
    crlf = one.as_bytes().replace(b"\n", b"\r\n")  # the same message with CRLF line ends
    messages = [RawMessage("one", one.as_bytes()), RawMessage("two", two.as_bytes()),
                RawMessage("one-crlf", crlf), RawMessage("id", same_id.as_bytes()),
                RawMessage("id-again", same_id_again.as_bytes())]
    report = intake.intake(SYSTEM, messages)
    assert [o.status for o in report.outcomes] == [TAKEN, TAKEN, REPEAT, TAKEN, REPEAT]
    assert report.outcomes[2].case_id == report.outcomes[0].case_id
    assert report.outcomes[4].case_id == report.outcomes[3].case_id
    assert raw_key(crlf) == raw_key(b"From x@y Mon Jun  6 22:21:22 2005\n" + one.as_bytes())


def test_every_outcome_is_in_the_intake_log(intake, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "1.eml").write_bytes(en_message().as_bytes())
    (folder / "2.eml").write_bytes(en_message().as_bytes())
    (folder / "3.eml").write_bytes(b"")
    report = intake.import_file(SYSTEM, folder)
    log = intake.log(SYSTEM)
    assert [(e.status, e.source, e.case_id) for e in log] == [
        (o.status, o.source, o.case_id) for o in reversed(report.outcomes)]
    assert {e.run for e in log} == {report.run}
    assert log[0].reason == "empty file (0 bytes)"
    assert log[2].subject == "Cameras offline after switch replacement"
    assert log[2].sender == "Jane Doe <jane@acme.example>"
    assert [e.status for e in intake.log(SYSTEM, status=REJECTED)] == [REJECTED]
    with pytest.raises(PermissionDenied):
        intake.log(User("li", "first_line"))


def test_missing_path_and_role(intake, tmp_path):
    with pytest.raises(BadInput, match="no such mail file or folder"):
        intake.import_file(SYSTEM, tmp_path / "nope.eml")
    (tmp_path / "a.eml").write_bytes(en_message().as_bytes())
    with pytest.raises(PermissionDenied):
        intake.import_file(User("x", "guest"), tmp_path / "a.eml")


def test_a_date_in_the_future_is_not_believed():
    msg = en_message()
    msg.replace_header("Date", "Mon, 1 Jan 2099 00:00:00 +0000")
    assert parse_mail(msg.as_bytes()).received_at is None


# -- sources ---------------------------------------------------------------------------------------
def test_maildir_new_and_cur_are_read_tmp_is_not(tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"))
    box.add(en_message("<a@x>"))
    msg = mailbox.MaildirMessage(en_message("<b@x>"))
    msg.set_subdir("cur")
    box.add(msg)
    box.close()
    (tmp_path / "Maildir" / "tmp" / "half-written").write_bytes(b"Subject: partial")
    found = list(path_messages([tmp_path / "Maildir"]))
    assert [m.source.split("/")[-2] for m in found] == ["new", "cur"]
    # a folder holding a maildir and loose files reads both, the maildir as one
    (tmp_path / "loose.eml").write_bytes(en_message("<c@x>").as_bytes())
    assert len(list(path_messages([tmp_path]))) == 3


def test_intake_reads_a_maildir_without_changing_it(intake, tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"))
    box.add(en_message("<a@x>"))
    box.close()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [o.status for o in intake.import_file(SYSTEM, tmp_path / "Maildir").outcomes] == \
        [TAKEN]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# -- polling ---------------------------------------------------------------------------------------
def test_polling_takes_new_mail_on_each_run_until_stopped(intake, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "1.eml").write_bytes(en_message("<p1@x>").as_bytes())
    reports, errors = [], []
    second_run = threading.Event()

    def fetch():
        if len(reports) == 1:
            (folder / "2.eml").write_bytes(en_message("<p2@x>").as_bytes())
        if len(reports) == 2:
            second_run.set()
            raise MailboxError("server gone")  # the next run fails; polling goes on
        return path_messages([folder])

    thread, stop = intake.start_polling(SYSTEM, fetch, 0.05, on_report=reports.append,
                                        on_error=errors.append)
    assert second_run.wait(10)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert [r.counts()[TAKEN] for r in reports[:2]] == [1, 1]
    assert reports[1].counts()[REPEAT] == 1
    assert str(errors[0]) == "server gone"


def test_the_privacy_report_knows_the_senders_in_the_intake_log(intake):
    from service.privacy import personal_data_report

    intake.intake(SYSTEM, [RawMessage("m", en_message().as_bytes())])
    rows = {(r["table"], r["column"]): r for r in personal_data_report(intake.kb)}
    assert rows[("mail_log", "sender")]["personal"] == "name"
    assert rows[("mail_log", "sender")]["email"] == 1
    assert rows[("mail_log", "actor")]["personal"] == "staff name"


def test_the_desk_holds_the_mail_intake_and_its_log(engine):
    from service.desk import Desk

    desk = Desk(engine)
    report = desk.mail.intake(SYSTEM, [RawMessage("m", en_message().as_bytes())])
    assert [(e.status, e.case_id) for e in desk.mail.log(SYSTEM)] == \
        [(TAKEN, report.outcomes[0].case_id)]
