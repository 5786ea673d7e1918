"""Text out of mail bytes: charsets, RFC 2047 headers, HTML bodies, and a last clean-up.

Rules (issue 10):

- A body is decoded in the charset it declares, read with the codec that is a superset of
  what mail clients really send under that label (GB2312 and GBK as GB18030, Big5 as
  Big5-HKSCS, Shift_JIS as CP932, ISO-8859-1 as Windows-1252, ks_c_5601-1987 as CP949).
  An odd bad byte becomes U+FFFD; only when the declared charset fails on most of the
  non-ASCII text is the charset detected instead (charset-normalizer, as the importer).
- Undeclared 8-bit text (also raw 8-bit header bytes) is tried as UTF-8 first, by the same
  "most of it" rule, then detected; ISO-2022-JP escape sequences are recognised.
- Headers are decoded per RFC 2047: adjacent encoded words are joined before decoding (a
  character may be split between two words), also inside quoted display names.
- What is stored holds no control characters but newline and tab, and no byte-order mark.

`mojibake(text)` names the first sign of wrongly decoded text, or returns None; the intake
uses it to choose between candidate decodings and the corpus test to check stored text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from html import unescape
from html.parser import HTMLParser

from charset_normalizer import CharsetMatches, from_bytes
from charset_normalizer.cd import coherence_ratio

# Declared label -> the codecs that read everything clients send under it, tried in turn.
_SUPERSET: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "cp936", "euc-cn", "x-euc-cn", "gb_2312-80",
                     "csgb2312", "chinese", "gb18030"), ("gb18030",)),
    **dict.fromkeys(("big5", "x-big5", "cn-big5", "csbig5"), ("big5hkscs", "cp950")),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j"),
                    ("cp932", "shift_jis_2004")),
    **dict.fromkeys(("iso-2022-jp", "csiso2022jp"),
                    ("iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3")),
    **dict.fromkeys(("iso-8859-1", "latin1", "iso_8859-1", "latin-1"), ("cp1252", "latin-1")),
    **dict.fromkeys(("ks_c_5601-1987", "ks_c_5601", "euc-kr", "ksc5601"), ("cp949",)),
    **dict.fromkeys(("tis-620", "iso-8859-11"), ("cp874",)),
}
# Codecs of the same language, tried when the declared one fails on more than the odd byte
# (Japanese mail labelled ISO-2022-JP is often EUC-JP or Shift_JIS in fact).
_FAMILIES = (("iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3", "euc_jp", "cp932",
              "shift_jis_2004", "euc_jis_2004"),
             ("gb18030", "big5hkscs"), ("big5hkscs", "cp950", "gb18030"),
             ("cp949", "euc_kr", "iso2022_kr", "johab"),
             ("cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic"))
_DETECT = ["utf_8", "gb18030", "big5hkscs", "euc_jp", "cp932", "iso2022_jp", "cp949",
           "cp1252", "cp1251", "koi8_r", "cp1250", "iso8859_2", "cp1253", "cp1254",
           "cp1255", "cp1256", "cp1257", "cp874", "latin_1"]
_GB_LOOKALIKES = ("euc_kr", "cp949", "johab", "shift_jis", "cp932", "euc_jp", "cp1251",
                  "big5", "big5hkscs", "cp950")
# Labels that promise nothing about 8-bit bytes: such bytes are read as undeclared text.
_NO_PROMISE = frozenset({"", "us-ascii", "ascii", "ansi_x3.4-1968", "unknown-8bit",
                         "unknown", "x-unknown", "default", "8bit", "none", "charset"})
_MOST = 0.5  # a declared charset is dropped when it fails on more than half the text
_ODD = 0.01  # undeclared bytes are UTF-8 when at most this share (or one) of them fails
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufff9-\ufffb\ud800-\udfff]")
_ESC_JIS = re.compile(rb"\x1b[$(][@BJ]")


# -- bytes to text ---------------------------------------------------------------------------
def codecs_for(label: str | None) -> list[str]:
    """The Python codecs to read a declared charset with, best first; empty when the label
    promises nothing or names no charset Python knows."""
    name = (label or "").strip().strip("\"'").lower()
    if name in _NO_PROMISE:
        return []
    out = []
    for candidate in _SUPERSET.get(name, (name,)):
        try:
            out.append(codecs.lookup(candidate).name)
        except LookupError:
            continue
    return out


def _bad_sequences(data: bytes, codec: str) -> tuple[str, int]:
    """The text read with `codec` (bad bytes replaced) and how many replacements that took."""
    text = data.decode(codec, errors="replace")
    genuine = data.decode(codec, errors="ignore").count("\ufffd")  # U+FFFD in the data itself
    return text, text.count("\ufffd") - genuine


def _strict(data: bytes, codecs_: list[str]) -> str | None:
    """The text of the first codec that reads `data` without a single error, or None."""
    for codec in codecs_:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return None


def _reads(data: bytes, codecs_: list[str], tolerance: float) -> str | None:
    """The text of the first codec that reads `data` without error, else of the first
    whose failures stay within `tolerance` (a share of the non-ASCII characters) or are a
    single bad byte among at least three good non-ASCII characters; None otherwise."""
    text = _strict(data, codecs_)
    if text is not None:
        return text
    chars = max(1, sum(1 for b in data if b >= 0x80) // 2)
    for codec in codecs_:
        text, bad = _bad_sequences(data, codec)
        good = sum(1 for c in text if ord(c) >= 0x80) - text.count("\ufffd")
        if bad <= tolerance * chars or (bad == 1 and good >= 3):
            return text
    return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from mail bytes: the declared charset first, then UTF-8, then detection.
    Never raises; the result still needs `clean_text` before it is stored."""
    if not data:
        return ""
    if data.isascii() and b"\x1b" not in data:
        return data.decode("ascii")
    declared = codecs_for(charset)
    attempts = [
        lambda: _undouble(data, declared or ["utf-8"]),
        lambda: data.decode("utf-8") if _utf8_over_single_byte(data, declared) else None,
        lambda: _strict(data, declared),
        lambda: _strict(data, ["utf-8"]) if declared else None,
        lambda: _reads(data, declared, _ODD),  # the odd bad byte: still the declared one
        lambda: _strict(data, _siblings(declared)),
        lambda: _reads(data, declared, _MOST),  # fails on less than most: still declared
        lambda: _reads(data, codecs_for("iso-2022-jp"), _ODD) if _ESC_JIS.search(data)
        else None,
        lambda: _reads(data, ["utf-8"], _ODD),
    ]
    for attempt in attempts:
        text = attempt()
        if text is not None:
            return text
    return _detected(data)


def _siblings(declared: list[str]) -> list[str]:
    """Other codecs of the declared charset's language, in order."""
    out: list[str] = []
    for family in _FAMILIES:
        if declared and declared[0] in family:
            out += [c for c in family if c not in declared and c not in out]
    return out


def _undouble(data: bytes, codecs_: list[str]) -> str | None:
    """Undo double encoding: text in one of `codecs_` that was read as Latin-1 and written
    out again as UTF-8 (Ã© for é; ¤j¸É for Big5) — the original text, or None when
    `data` is not that (it must be valid UTF-8 of at least two characters U+0080–U+00FF
    and nothing above, and the bytes behind them must decode strictly)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    high = [c for c in text if ord(c) >= 0x80]
    if len(high) < 2 or max(map(ord, high)) > 0xFF:
        return None
    inner = text.encode("latin-1")
    for codec in codecs_:
        try:
            return inner.decode(codec)
        except UnicodeDecodeError:
            continue
    return None


_SINGLE_BYTE = ("cp125", "latin_1", "iso8859", "koi8", "mac_", "cp874", "cp437", "cp850",
                "cp866", "tis_620")


def _utf8_over_single_byte(data: bytes, declared: list[str]) -> bool:
    """A single-byte charset declared over bytes that are valid UTF-8 with multi-byte
    characters: the label is wrong (such byte pairs are next to impossible in real
    single-byte text), so the text is UTF-8."""
    if not declared or not declared[0].startswith(_SINGLE_BYTE):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detected(data: bytes) -> str:
    """Read with the charset charset-normalizer finds likeliest, bad bytes replaced; when
    no charset reads the bytes cleanly, see `_most_coherent`."""
    found = from_bytes(data, cp_isolation=_DETECT)
    best = found.best()
    if best is None:
        return _most_coherent(data)
    return data.decode(_preferred(found, best.encoding, best.chaos), errors="replace")


def _preferred(found: CharsetMatches, codec: str, chaos: float) -> str:
    """GB18030 over a CJK look-alike, Windows-1252 over another single-byte charset, when
    it reads the text almost as well (KnownFix's users write Chinese; European mail is
    Windows-1252 far more often than anything else)."""
    for favourite, rivals in (("gb18030", _GB_LOOKALIKES), ("cp1252", _SINGLE_BYTE)):
        match = next((m for m in found if m.encoding == favourite), None)
        if match is not None and codec != favourite and codec.startswith(rivals) and \
                match.chaos <= chaos + 0.05:
            return favourite
    return codec


_MULTI_BYTE = ("utf_8", "gb18030", "big5hkscs", "euc_jp", "cp932", "cp949")


def _most_coherent(data: bytes) -> str:
    """Among multi-byte codecs failing on at most 2 % of the characters (single-byte ones
    never fail, and detection has already found them implausible), the text that reads
    most like some language."""
    chars = max(1, sum(1 for b in data if b >= 0x80) // 2)
    best_text, best_score = None, -1.0
    for codec in _MULTI_BYTE:
        text, bad = _bad_sequences(data, codec)
        if bad > 0.02 * chars:
            continue
        score = max((ratio for _lang, ratio in coherence_ratio(text)), default=0.0)
        if score > best_score:
            best_text, best_score = text, score
    return best_text if best_text is not None else data.decode("utf-8", errors="replace")


# -- headers (RFC 2047) -------------------------------------------------------------------------
_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"\?=(\s+)=\?")


def header_text(raw: str | None, hint: str | None = None) -> str:
    """A header value as readable text: 8-bit bytes (kept by the parser as surrogate
    escapes) decoded — in the `hint` charset (the message body's) when they read in it,
    RFC 2047 encoded words decoded, folding and controls removed."""
    if not raw:
        return ""
    raw = _undo_surrogates(raw, hint)
    out: list[str] = []
    pos = 0
    pending: list[tuple[str, bytes]] = []  # consecutive encoded words: decoded together
    for match in _WORD.finditer(raw):
        gap = raw[pos:match.start()]
        if pending and gap.strip():
            out.append(_join_words(pending))
            pending = []
        if not pending or gap.strip():
            out.append(_plain_segment(gap))
        pending.append((match.group(1), _word_bytes(match.group(2), match.group(3))))
        pos = match.end()
    if pending:
        out.append(_join_words(pending))
    out.append(_plain_segment(raw[pos:]))
    return re.sub(r"\s+", " ", clean_text("".join(out))).strip()


def _undo_surrogates(raw: str, hint: str | None = None) -> str:
    """Raw 8-bit header bytes (surrogate escapes from the parser) decoded: as UTF-8 when
    they are valid UTF-8 (after undoing a double encoding from the `hint` charset), else
    in the `hint` charset when they read in it, else as undeclared text.  Headers without
    such bytes are returned as they are."""
    if not re.search("[\udc80-\udcff]", raw):
        return raw
    data = raw.encode("utf-8", errors="surrogateescape")
    hinted = codecs_for(hint)
    for attempt in (lambda: _undouble(data, hinted), lambda: _strict(data, ["utf-8"]),
                    lambda: _strict(data, hinted)):
        text = attempt()
        if text is not None:
            return text
    return decode_bytes(data)


def _plain_segment(text: str) -> str:
    """Unencoded header text; raw ISO-2022-JP (escape sequences in a header) decoded."""
    if "\x1b" in text:
        data = text.encode("latin-1", errors="replace")
        return decode_bytes(data, "iso-2022-jp")
    return text


def _word_bytes(encoding: str, payload: str) -> bytes:
    """The bytes of one encoded word: base64 (padding forgiven) or Q (underscore = space)."""
    if encoding in "bB":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", errors="replace")
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", errors="replace"),
                               header=False)


def _join_words(words: list[tuple[str, bytes]]) -> str:
    """Decode runs of words with the same charset as one byte string."""
    out, run_charset, run = [], None, b""
    for charset, data in words:
        charset = charset.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
        if run_charset is not None and charset.lower() != run_charset.lower():
            out.append(decode_bytes(run, run_charset))
            run = b""
        run_charset, run = charset, run + data
    if run_charset is not None:
        out.append(decode_bytes(run, run_charset))
    return "".join(out)


# -- HTML -------------------------------------------------------------------------------------
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                         "table", "blockquote", "pre", "hr"})
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title"})
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)


class _TextOfHtml(HTMLParser):
    """Collects the visible text of an HTML document, a line break per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _HIDDEN_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
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


def html_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in a <meta> tag near its start, if any."""
    found = _META_CHARSET.search(data[:4096])
    return found.group(1).decode("ascii") if found else None


# -- clean-up and checks --------------------------------------------------------------------
def clean_text(text: str) -> str:
    """Line breaks made \\n; control characters (but tab and newline), byte-order marks and
    lone surrogates removed; a run of U+FFFD (bad bytes, or replacement characters already
    in the message) shortened to one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub("\ufffd{2,}", "\ufffd", _CONTROL.sub("", text))


# UTF-8 read with a legacy codec leaves tell-tale pairs: Cyrillic/Latin UTF-8 as GB18030
# gives runs from this small set of CJK characters; as Windows-1252, "Ã©", "â€™" and kin.
_LATIN_AS_CP1252 = re.compile("[ÃÂÐÑØÙ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d"
                              "\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022"
                              "\u2026\u2030\u2039\u203a\u20ac\u2122]|â€")
_UTF8_LEADS_AS_GB = re.compile(r"[\u4e00-\u9fff]{4,}")


def mojibake(text: str) -> str | None:
    """Why `text` looks wrongly decoded, or None: a run of U+FFFD, control characters,
    UTF-8 read as Windows-1252, or UTF-8 read as GB18030 (袩褉芯褎…)."""
    if "\ufffd\ufffd" in text:
        return "a run of U+FFFD replacement characters"
    if _CONTROL.search(text.replace("\r", "")):
        return "control characters"
    if len(_LATIN_AS_CP1252.findall(text)) >= 2:
        return "UTF-8 read as Windows-1252"
    for run in _UTF8_LEADS_AS_GB.findall(text):
        if _utf8_behind_gb(run):
            return "UTF-8 read as GB18030"
    return None


def _utf8_behind_gb(run: str) -> bool:
    """Whether a run of CJK characters is really UTF-8 text of another script read as
    GB18030: its GB18030 bytes are valid UTF-8 and mostly spell non-CJK letters."""
    try:
        again = run.encode("gb18030").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    letters = [c for c in again if c.isalpha()]
    foreign = [c for c in letters if not "\u3000" <= c <= "\u9fff"]
    return len(letters) >= 3 and len(foreign) >= 0.8 * len(letters)
