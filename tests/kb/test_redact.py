"""kb/redact.py: personal data goes, codes, addresses, models and dates stay."""

from __future__ import annotations

import pytest

from kb.redact import PLACEHOLDERS, name_parts, personal_fields, redact

NAMES = ("张三 13812345678", "John Smith <john.smith@acme.com>", "华东物流有限公司")


@pytest.mark.parametrize(("text", "secret", "placeholder"), [
    # Chinese mobiles, with and without separators or country code
    ("客户手机13812345678，请回电", "13812345678", "[phone]"),
    ("联系方式：138-1234-5678", "138-1234-5678", "[phone]"),
    ("号码 139 1234 5678 打不通", "139 1234 5678", "[phone]"),
    ("+86 13812345678 是备用号", "13812345678", "[phone]"),
    ("8613912345678已加微信", "8613912345678", "[phone]"),
    # landlines
    ("座机010-12345678转分机", "010-12345678", "[phone]"),
    ("深圳办公室0755-1234567", "0755-1234567", "[phone]"),
    ("请拨(021) 62345678", "62345678", "[phone]"),
    ("总机 021-62345678-801", "62345678", "[phone]"),
    # international and other phone-like numbers
    ("call +86-10-12345678 after 6pm", "12345678", "[phone]"),
    ("Customer rang from +1 (555) 123-4567.", "123-4567", "[phone]"),
    ("reach him at 555-123-4567 or 555.123.4567", "4567", "[phone]"),
    ("London office 020 7946 0958", "7946", "[phone]"),
    ("Tel: 6234 5678 (front desk)", "6234 5678", "[phone]"),
    ("电话：62345678", "62345678", "[phone]"),
    # e-mail
    ("请发邮件到zhang.san@example.com.cn确认", "zhang.san@example.com.cn", "[email]"),
    ("Mail ops-team+nvr@corp.example.org for access", "ops-team+nvr@corp.example.org",
     "[email]"),
    # resident ID numbers
    ("身份证号110101199003071234登记", "110101199003071234", "[id]"),
    ("ID 44030419851231001X on the form", "44030419851231001X", "[id]"),
    ("旧身份证110101900307123", "110101900307123", "[id]"),
    # names from the case fields
    ("张三反映摄像机掉线", "张三", "[name]"),
    ("已和张先生确认，张工明天上门", "张先生", "[name]"),
    ("Spoke to John Smith; Mr. Smith confirmed", "Smith", "[name]"),
    ("华东物流有限公司仓库", "华东物流", "[name]"),
    ("华东物流仓库的NVR", "华东物流", "[name]"),
])
def test_personal_data_is_replaced(text, secret, placeholder):
    out = redact(text, NAMES)
    assert secret not in out
    assert placeholder in out


@pytest.mark.parametrize("keep", [
    "E-1043", "0x8007045D", "R123-78", "192.168.1.64", "192.168.1.64:8000", "10.0.0.0/24",
    "DS-2CD2143G2-I", "NVR-4216", "KF-20260103-1", "DEMO-C-001", "V5.7.3", "5.4.12",
    "build 230512", "2026-01-03", "2026-01-03T16:32:00Z", "2026/1/3", "2026年1月3日",
    "03/01/2026", "16:32", "16:32:05", "00:1A:2B:3C:4D:5E", "8000-8100", "4TB", "1080P",
    "10.0.22621.1234", "1,234,567", "H.265", "PoE 802.3at", "Windows 10",
])
def test_technical_text_survives(keep):
    text = f"现场记录：{keep} 已检查；checked {keep} again."
    assert redact(text, NAMES) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("客户张三来电，手机13812345678，IP 192.168.1.64 冲突，错误码E-1043",
     "客户[name]来电，手机[phone]，IP 192.168.1.64 冲突，错误码E-1043"),
    ("John Smith (john.smith@acme.com) says NVR-4216 shows R123-78 since 2026-01-03",
     "[name] ([email]) says NVR-4216 shows R123-78 since 2026-01-03"),
    ("客户电话 2026-01-03 打来，设备DS-2CD2143G2-I",
     "客户电话 2026-01-03 打来，设备DS-2CD2143G2-I"),
])
def test_whole_sentences(text, expected):
    assert redact(text, NAMES) == expected


def test_serials_are_replaced_when_given():
    assert redact("序列号 GX20260001 的设备", serials=["GX20260001"]) == "序列号 [serial] 的设备"


def test_without_names_only_patterns_are_used():
    assert redact("张三 13812345678") == "张三 [phone]"


def test_redact_is_idempotent_and_keeps_empty_text():
    once = redact("张三 13812345678 zhang@x.cn", NAMES)
    assert redact(once, NAMES) == once
    assert redact("", NAMES) == ""


@pytest.mark.parametrize(("value", "parts"), [
    ("张三 13812345678", ["张三"]),
    ("张三13812345678", ["张三"]),
    ("前台 王芳/0755-1234567", ["王芳"]),
    ("李四, li.si@corp.cn", ["李四"]),
    ("John Smith <js@x.com>, tel 555-123-4567", ["John Smith", "John", "Smith"]),
    ("Acme Logistics Ltd.", ["Acme Logistics", "Acme", "Logistics"]),
    ("华东物流有限公司", ["华东物流有限公司", "华东物流"]),
    ("", []),
])
def test_name_parts(value, parts):
    assert name_parts(value) == parts


def test_short_names_do_not_eat_words():
    """A single Chinese character or a two-letter Latin part is not replaced on its own."""
    assert redact("张力过大，Li battery", names=["张", "Li Wei"]) == "张力过大，Li battery"


def test_personal_fields_and_placeholders():
    assert set(personal_fields()) == {"customer", "contact", "asset_serial"}
    assert all(p.startswith("[") and p.isascii() for p in PLACEHOLDERS.values())
