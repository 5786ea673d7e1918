"""service/mail_text.py and the decoding parts of mail_parse: charsets, RFC 2047 headers,
HTML bodies, attachment names, clean text and the mojibake check."""

from __future__ import annotations

import base64

import pytest

from service.mail_parse import header_params, parse_mail
from service.mail_text import clean_text, decode_bytes, header_text, html_to_text, mojibake

RUSSIAN = "Профиль пользователя обновлён, проверьте настройки камеры."
JAPANESE = "カメラの映像が表示されません。確認をお願いします。"
CHINESE = "录像机硬盘报错，镕字测试，请尽快处理。"
TRADITIONAL = "攝影機離線，請盡快處理硬碟錯誤。"


def b64word(text: str, charset: str, codec: str | None = None) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec or charset)).decode()}?="


@pytest.mark.parametrize(("data", "charset", "text"), [
    # the declared charset, read with the superset clients really use
    (CHINESE.encode("gbk"), "gb2312", CHINESE),
    (CHINESE.encode("gb18030"), "GB18030", CHINESE),
    (TRADITIONAL.encode("big5"), "big5", TRADITIONAL),
    (JAPANESE.encode("cp932"), "shift_jis", JAPANESE),
    (JAPANESE.encode("iso2022_jp"), "iso-2022-jp", JAPANESE),
    ("스티해".encode("cp949"), "ks_c_5601-1987", "스티해"),
    # Japanese labelled ISO-2022-JP but written in EUC-JP: another codec of its language
    (JAPANESE.encode("euc_jp"), "iso-2022-jp", JAPANESE),
    # UTF-8 with one bad byte, declared: UTF-8 it stays, the byte replaced (issue 10:
    # it became "袩褉芯褎懈谢褜…" as GB18030)
    (RUSSIAN[:10].encode() + b"\xff" + RUSSIAN[10:].encode(), "utf-8",
     RUSSIAN[:10] + "\ufffd" + RUSSIAN[10:]),
    # undeclared: UTF-8, else detected (GB18030 among the CJK look-alikes)
    (RUSSIAN.encode(), None, RUSSIAN),
    (CHINESE.encode("gb18030"), None, CHINESE),
    (JAPANESE.encode("iso2022_jp"), None, JAPANESE),  # escape sequences recognised
    # a single-byte label over valid UTF-8: the label is wrong
    ("Grüße aus München".encode(), "iso-8859-1", "Grüße aus München"),
    ("Grüße".encode("latin-1"), "iso-8859-1", "Grüße"),
    # double encoding undone: GBK read as Latin-1 and written out as UTF-8
    (CHINESE.encode("gbk").decode("latin-1").encode(), "gbk", CHINESE),
    ("café".encode().decode("latin-1").encode(), None, "café"),
    # unknown labels and ASCII labels promise nothing
    (CHINESE.encode(), "x-no-such-charset", CHINESE),
    (CHINESE.encode(), "us-ascii", CHINESE),
    (b"plain", "us-ascii", "plain"),
])
def test_decode_bytes(data, charset, text):
    assert decode_bytes(data, charset) == text


@pytest.mark.parametrize(("raw", "text"), [
    ("=?utf-8?q?caf=C3=A9?= =?utf-8?q?_ok?=", "café ok"),
    (b64word("NVR硬盘报错", "gb2312", "gbk"), "NVR硬盘报错"),
    (b64word(TRADITIONAL, "big5"), TRADITIONAL),
    (b64word(JAPANESE, "shift_jis", "cp932"), JAPANESE),
    (b64word(JAPANESE, "ISO-2022-JP", "iso2022_jp"), JAPANESE),
    (b64word("门禁", "GB18030"), "门禁"),
    # a character split between two encoded words is joined before decoding
    ("=?UTF-8?B?" + base64.b64encode("硬".encode()[:2]).decode() + "?= =?UTF-8?B?"
     + base64.b64encode("硬".encode()[2:] + "盘".encode()).decode() + "?=", "硬盘"),
    # an encoded word inside a quoted display name, and glued to text
    ('"' + b64word("张三", "utf-8") + '" <z@x.cn>', '"张三" <z@x.cn>'),
    (b64word("报告", "utf-8") + ".pdf", "报告.pdf"),
    # raw ISO-2022-JP in a header: no escape byte may stay
    ("Re: " + JAPANESE.encode("iso2022_jp").decode("ascii"), "Re: " + JAPANESE),
    # raw 8-bit header bytes (kept by the parser as surrogate escapes)
    ("录像机".encode("gbk").decode("ascii", "surrogateescape"), "录像机"),
    ("=?utf-8?b?bm8tcGFkZGluZw?=", "no-padding"),
    ("=?NONE?B?VEVTVA=?=", "TEST"),
    ("line\r\n folded", "line folded"),
    (None, ""),
])
def test_header_text(raw, text):
    decoded = header_text(raw)
    assert decoded == text
    assert "\x1b" not in decoded


def test_raw_header_bytes_read_in_the_body_charset():
    """8-bit header bytes that are not UTF-8 are read in the charset the body declares."""
    raw = ("Subject: 攝影機離線\r\nFrom: 王五 <wang@c.tw>\r\n"
           "Content-Type: text/plain; charset=big5\r\n\r\n硬碟錯誤\r\n").encode("big5")
    mail = parse_mail(raw)
    assert (mail.title, mail.contact, mail.body) == ("攝影機離線", "王五 <wang@c.tw>", "硬碟錯誤")


@pytest.mark.parametrize(("raw", "value", "params"), [
    ("attachment; filename*=gbk''%C9%E8%B1%B8%C8%D5%D6%BE.txt", "attachment",
     {"filename": "设备日志.txt"}),
    ("text/plain; charset=gb2312; name*0*=utf-8''%E6%B5%8B; name*1=x.txt", "text/plain",
     {"charset": "gb2312", "name": "测x.txt"}),
    ('attachment; filename="=?utf-8?B?5rWL6K+V?=.txt"', "attachment", {"filename": "测试.txt"}),
    ("Attachment;\r\n\tfilename=\"a;b.txt\"", "attachment", {"filename": "a;b.txt"}),
    ("attachment; filename=" + "设备.txt".encode().decode("ascii", "surrogateescape"),
     "attachment", {"filename": "设备.txt"}),
    ("", "", {}),
])
def test_header_params(raw, value, params):
    assert header_params(raw) == (value, params)


def test_html_only_body_becomes_text():
    assert html_to_text("<div>a&lt;b</div><br><div>c</div>") == "a<b\n\nc"
    raw = (b"Subject: x\nContent-Type: text/html\n\n<html><head><meta charset=\"gbk\">"
           b"<title>t</title></head><body><p>" + "硬盘".encode("gbk") + b"</p></body></html>")
    assert parse_mail(raw).body == "硬盘"


def test_clean_text_keeps_newline_and_tab_only():
    assert clean_text("a\x00b\x07c\r\nd\re\tf\x1b[0m\x85g\ufeffh\ufffd\ufffd\ufffdi") == \
        "abc\nd\ne\tf[0mgh\ufffdi"


@pytest.mark.parametrize("text", [
    RUSSIAN.encode().decode("gb18030"),  # 袩褉芯褎懈谢褜…: UTF-8 read as GB18030
    "Caf\u00c3\u00a9 and cr\u00c3\u00a8me",  # UTF-8 read as Windows-1252
    "broken \ufffd\ufffd text",
    "bell\x07",
])
def test_mojibake_is_recognised(text):
    assert mojibake(text)


@pytest.mark.parametrize("text", [CHINESE, TRADITIONAL, JAPANESE, RUSSIAN, "Grüße, São Paulo",
                                  "one bad byte \ufffd is not mojibake", "表\t1\n"])
def test_clean_text_is_not_mojibake(text):
    assert mojibake(text) is None
