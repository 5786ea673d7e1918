"""Mail intake: .eml and mbox files become cases once each, Chinese charsets included."""

from __future__ import annotations

import base64
import mailbox
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from errors import BadInput, PermissionDenied
from service.auth import SYSTEM, User
from service.cases import Cases
from service.mail import MailIntake, decode_bytes, decode_header_value, html_to_text, parse_mail

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


def en_message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Cameras offline after switch replacement"
    msg["From"] = "Jane Doe <jane@acme.example>"
    msg["Date"] = "Thu, 26 Nov 2026 14:05:00 +0000"
    msg["Message-ID"] = "<en-1@acme.example>"
    msg.set_content("All cameras on floor 3 went offline after the switch was replaced.")
    msg.add_alternative("<p>HTML copy that must <b>not</b> win</p>", subtype="html")
    return msg


def html_only_message() -> EmailMessage:
    """No Message-ID: the intake key falls back to a hash of sender, date and subject."""
    msg = EmailMessage()
    msg["Subject"] = "=?utf-8?b?" + base64.b64encode("门禁控制器离线".encode()).decode() + "?="
    msg["From"] = "=?utf-8?b?" + base64.b64encode("李四".encode()).decode() + "?= <li@b.cn>"
    msg["Date"] = "Fri, 27 Nov 2026 08:00:00 +0800"
    msg.set_content("<html><head><style>p{color:red}</style></head><body><p>18台门禁"
                    "控制器&nbsp;全部离线</p><script>alert(1)</script><p>请&amp;回电</p>"
                    "</body></html>", subtype="html")
    return msg


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    eml = tmp_path / "zh.eml"
    eml.write_bytes(zh_message())
    box_path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(box_path))
    box.add(en_message())
    box.add(html_only_message())
    box.close()
    return eml, box_path


@pytest.fixture
def intake(engine) -> MailIntake:
    return MailIntake(Cases(engine))


def test_import_eml_and_mbox_then_skip_on_reimport(intake, files):
    eml, box = files
    first = intake.import_file(SYSTEM, eml)
    second = intake.import_file(SYSTEM, box)
    assert (len(first.taken), first.skipped, first.failed) == (1, [], [])
    assert (len(second.taken), second.skipped, second.failed) == (2, [], [])

    zh = intake.cases.get(first.taken[0][1])
    assert zh.title == ZH_SUBJECT
    assert "昨天起查不到录像，镕字测试" in zh.description
    assert zh.description.endswith("Attachments: 设备日志.txt (2.0 KB)")
    assert zh.fields["channel"] == "email"
    assert zh.fields["contact"] == "张三 <zhangsan@example.cn>"
    assert zh.fields["received_at"] == "2026-11-25T01:30:00Z"
    assert zh.state == "triaged"

    en, html = (intake.cases.get(cid) for _key, cid in second.taken)
    assert en.title == "Cameras offline after switch replacement"
    assert en.description == ("All cameras on floor 3 went offline after the switch "
                              "was replaced.")
    assert en.fields["contact"] == "Jane Doe <jane@acme.example>"
    assert en.fields["received_at"] == "2026-11-26T14:05:00Z"
    assert html.title == "门禁控制器离线"
    assert html.description == "18台门禁控制器 全部离线\n\n请&回电"
    assert html.fields["contact"] == "李四 <li@b.cn>"
    assert second.taken[1][0].startswith("sha256:")

    again = intake.import_file(SYSTEM, eml), intake.import_file(SYSTEM, box)
    assert [len(r.taken) for r in again] == [0, 0]
    assert [len(r.skipped) for r in again] == [1, 2]
    assert intake.kb.db["cases"].count == 3
    seen = {r["message_id"]: r["case_id"] for r in intake.kb.db["mail_seen"].rows}
    assert seen["<zh-1@example.cn>"] == zh.id
    assert any(e["action"] == "mail:taken" for e in intake.kb.events(zh.key))


def test_a_bad_message_fails_alone(intake, tmp_path):
    empty = EmailMessage()
    empty["From"] = "x@y.z"
    empty["Message-ID"] = "<empty@y.z>"
    path = tmp_path / "two.mbox"
    box = mailbox.mbox(str(path))
    box.add(empty)
    box.add(en_message())
    box.close()
    report = intake.import_file(SYSTEM, path)
    assert len(report.taken) == 1
    assert report.failed == [("message 1 (<empty@y.z>)", "the fault description is empty")]
    assert intake.seen("<empty@y.z>") is None  # a failed message is tried again next time


def test_missing_file_and_role(intake, tmp_path):
    with pytest.raises(BadInput, match="no such mail file"):
        intake.import_file(SYSTEM, tmp_path / "nope.eml")
    (tmp_path / "a.eml").write_bytes(en_message().as_bytes())
    with pytest.raises(PermissionDenied):
        intake.import_file(User("x", "guest"), tmp_path / "a.eml")


def test_raw_8bit_gbk_headers_are_decoded():
    raw = ("Subject: 录像机无法开机\r\nFrom: 王五 <wang@c.cn>\r\nContent-Type: text/plain\r\n"
           "\r\n机房断电后录像机无法开机\r\n").encode("gbk")
    mail = parse_mail(raw)
    assert (mail.title, mail.contact) == ("录像机无法开机", "王五 <wang@c.cn>")
    assert mail.body.strip() == "机房断电后录像机无法开机"
    assert mail.received_at is None


@pytest.mark.parametrize(("data", "charset", "text"), [
    ("镕".encode("gbk"), "gb2312", "镕"),
    ("硬盘".encode(), None, "硬盘"),
    ("硬盘".encode("gb18030"), None, "硬盘"),
    ("硬盘".encode(), "x-no-such-charset", "硬盘"),
    (b"plain", "us-ascii", "plain"),
])
def test_decode_bytes(data, charset, text):
    assert decode_bytes(data, charset) == text


def test_header_and_html_helpers():
    assert decode_header_value("=?utf-8?q?caf=C3=A9?= =?utf-8?q?_ok?=") == "café ok"
    assert decode_header_value(None) == ""
    assert html_to_text("<div>a&lt;b</div><br><div>c</div>") == "a<b\n\nc"
