"""Remove personal data from text before it becomes shared knowledge (a drafted article).

`redact(text, names)` replaces, in Chinese and English text alike:

* e-mail addresses -> `[email]`;
* Chinese resident ID numbers (18 characters, the last may be X; old 15 digits) -> `[id]`;
* phone numbers -> `[phone]`: Chinese mobiles (1[3-9] + 9 digits, also 138-1234-5678),
  landlines (010-12345678, 0755-1234567, (021) 62345678), international (+86 ..., +1 ...),
  other phone-like digit groups with separators (555-123-4567, 020 7946 0958), and any
  number written after a phone word (电话 / 手机 / 座机 / tel / phone ...);
* every name in `names` (customer, contact: split into name parts) -> `[name]`, with,
  for a Chinese personal name, its surname and an honorific (张先生, 张工 ...);
* every value in `serials` (asset serial numbers) -> `[serial]`.

Placeholders are always the English words in square brackets, whatever the language of
the text: they are ASCII, so they never merge with the Chinese around them, they read the
same in every language the team works in, and they are easy to find (`grep '\\[phone\\]'`).

What must survive is protected before anything is replaced: error codes (E-1043,
0x8007045D, R123-78), IPv4 addresses, MAC addresses, model and case numbers
(DS-2CD2143G2-I, NVR-4216, KF-20260103-1), versions (V5.7.3), dates and times.  A number
glued to a letter is never taken for a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PLACEHOLDERS = {"email": "[email]", "id": "[id]", "phone": "[phone]", "name": "[name]",
                "serial": "[serial]", "address": "[address]"}
# Case columns that hold personal data as such (free text may hold more: run redact on it).
PERSONAL_FIELDS = ("customer", "contact", "asset_serial")
HONORIFICS = ("先生", "女士", "小姐", "经理", "主任", "总", "工", "老师", "师傅", "科长", "部长")

_NB = r"(?<![A-Za-z0-9._\-/\\])"   # not glued to a code, version or path on the left
_NA = r"(?![A-Za-z0-9\-/\\]|\.\d)"  # ... nor on the right
_MD = r"(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
_SAFE = "|".join([
    r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*(?:[-_./][A-Za-z0-9]+)+",   # codes, models, case numbers
    r"0[xX][0-9A-Fa-f]+",                                          # hex error codes
    r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}",                    # MAC addresses
    r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:/\d{1,2})?",              # IPv4 (port, prefix)
    rf"(?:19|20)\d{{2}}[-/.]{_MD}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?Z?)?",  # dates
    r"\d{1,2}[-/.]\d{1,2}[-/.](?:19|20)\d{2}",                     # 03/01/2026
    r"\d{1,2}:\d{2}(?::\d{2})?",                                   # times
])
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
_ID18 = r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
_ID15 = r"[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
_INTL = r"\+\d{1,3}(?:[\s\-.]?\(?\d{1,5}\)?){2,5}"
_MOBILE = r"(?:(?:0086|86)[\s\-]?)?1[3-9]\d(?:[\s\-]?\d{4}){2}"
_LAND = r"(?:\(0\d{2,3}\)\s?|0\d{2,3}[\s\-]?)[1-9]\d{6,7}(?:\s?(?:-|转|ext\.?)\s?\d{1,5})?"
_GENERIC = (r"(?:\(\d{2,4}\)\s?\d{2,5}(?:[\-.]\d{2,5})+"       # (555) 123-4567
            r"|0\d{1,4}(?:[\s\-.]\d{2,5}){1,4}"                # 020 7946 0958
            r"|\d{2,5}(?:[\-.]\d{2,5}){2,4})")                 # 555-123-4567
_WORD = (r"(?<![A-Za-z])(?i:电话|手机号?|座机|联系方式|联系电话|tel|phone|mobile|cell|fax|传真)"
         r"(?:\s*(?:号码|no\.?|number|#))?\s*[:：]?\s*")
_NUMBER = r"(?!(?:19|20)\d{2}[-/.年]\d)\+?\d[\d\s\-()]{5,}\d"

_PATTERN = re.compile(
    rf"(?P<email>{_EMAIL})"
    rf"|(?P<safe>{_NB}(?:{_SAFE}){_NA})"
    rf"|(?P<word>{_WORD})(?P<number>{_NUMBER})(?!\d)"
    rf"|(?P<id>{_NB}(?:{_ID18}|{_ID15})(?![A-Za-z0-9]))"
    rf"|(?P<phone>{_NB}(?:{_INTL}|{_MOBILE}|{_LAND}|{_GENERIC})(?![A-Za-z0-9]))")
_EMAIL_RE = re.compile(_EMAIL)
_SEPARATORS = re.compile(r"[\s,，;；/、|]+")
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_COMPANY_SUFFIX = re.compile(r"(股份有限公司|有限责任公司|有限公司|分公司|公司|集团|工厂|厂)$")
# Parts of a name that are not a name: legal forms, and roles written in a contact field.
_NOT_NAMES = frozenset({
    "ltd", "ltd.", "inc", "inc.", "llc", "co", "co.", "corp", "corp.", "company", "group",
    "gmbh", "limited", "the", "and", "of", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr",
    "dr.", "contact", "tel", "phone", "mobile", "email", "e-mail",
    "前台", "客户", "门卫", "保安", "值班", "值班室", "机房", "财务", "行政", "网管",
    "联系人", "负责人", "电话", "手机", "邮箱",
})


def personal_fields() -> tuple[str, ...]:
    """The case columns that hold personal data (for reports and exports to leave out)."""
    return PERSONAL_FIELDS


# What an imported column holds, judged by its name: (kind, English words, other words).
# The first kind that matches wins, so "contact_phone" is a phone and "客户电话" too.
_COLUMN_KINDS = (
    ("serial", ("serial", "sn", "s/n"), ("序列号", "串号")),
    ("email", ("email", "e-mail"), ("邮箱", "邮件")),
    ("phone", ("phone", "telephone", "tel", "mobile", "cell", "fax"),
     ("电话", "手机", "座机", "传真")),
    ("id", ("passport", "idcard", "ssn"), ("身份证", "证件")),
    ("address", ("address", "addr"), ("地址", "住址")),
    ("name", ("customer", "client", "contact", "requester", "caller", "reporter",
              "person", "surname"), ("客户", "联系人", "联系", "姓名", "报修人", "用户")),
)
_NOT_PERSONAL_COLUMN = re.compile(r"(?i)satisfaction|满意|type|类型|类别|category|count|数量")


def personal_column(name: str) -> str | None:
    """The kind of personal data ('name', 'phone', 'email', 'id', 'address', 'serial') an
    imported column holds judging by its name ("客户信息", "Contact Phone",
    "asset_serial"), or None."""
    if not name or _NOT_PERSONAL_COLUMN.search(name):
        return None
    low = name.casefold()
    words = set(re.findall(r"[a-z]+(?:[-/][a-z]+)?", re.sub(r"([a-z])([A-Z])", r"\1 \2",
                                                             name).casefold()))
    words |= {w.replace("-", "").replace("/", "") for w in words}
    for kind, english, other in _COLUMN_KINDS:
        if words & set(english) or any(w in low for w in other):
            return kind
    return None


def detect(text: str) -> set[str]:
    """The kinds of personal data `redact` replaces by pattern in `text`: 'email', 'id',
    'phone' (names need the names to look for)."""
    found: set[str] = set()
    for match in _PATTERN.finditer(text or ""):
        kind = match.lastgroup
        if kind == "number" or (kind == "phone" and sum(c.isdigit() for c in match.group(0))
                                >= 7):
            found.add("phone")
        elif kind in ("email", "id"):
            found.add(kind)
    return found


def name_parts(value: str) -> list[str]:
    """The names in a customer or contact field, the whole name first:
    "张三 13812345678" -> ["张三"]; "John Smith <js@x.com>" -> ["John Smith", "John",
    "Smith"].  Phone numbers, e-mail addresses, ID numbers, legal forms (Ltd, 有限公司)
    and role words (前台, contact) are left out."""
    if not value:
        return []
    text = _PATTERN.sub(lambda m: m.group(0) if m.lastgroup == "safe" else " ",
                        _SEPARATORS.sub(" ", value))
    text = re.sub(r"(?i)(电话|手机号?|tel|phone|mobile|e-?mail|邮箱|联系人)\s*[:：]?", " ", text)
    parts = [p.strip("()（）<>:：.'\"[]") for p in _SEPARATORS.split(text)]
    parts = [p for p in parts if p and "@" not in p and sum(c.isdigit() for c in p) < 5
             and p.lower() not in _NOT_NAMES]
    out = [" ".join(parts)] if len(parts) > 1 else []
    for part in parts:
        out.append(part)
        stem = _COMPANY_SUFFIX.sub("", part)
        if stem != part and len(stem) >= 2:
            out.append(stem)
    return list(dict.fromkeys(out))


def _terms(names: Iterable[str]) -> list[str]:
    """Every string to replace by [name], longest first."""
    out: set[str] = set()
    for name in names:
        for part in name_parts(name or ""):
            if _CJK.match(part):
                if len(part) >= 2:
                    out.add(part)
                if 2 <= len(part) <= 3:
                    out.update(part[0] + h for h in HONORIFICS)
            elif len(part) >= 3 or " " in part:
                out.add(part)
    return sorted(out, key=lambda t: (-len(t), t))


def _replace_terms(text: str, terms: list[str], placeholder: str) -> str:
    for term in terms:
        if _CJK.match(term) or not re.search(r"[A-Za-z0-9]", term):
            text = text.replace(term, placeholder)
        else:
            text = re.sub(rf"(?i)(?<![A-Za-z0-9]){re.escape(term)}(?![A-Za-z0-9])",
                          placeholder, text)
    return text


def _one(match: re.Match) -> str:
    kind = match.lastgroup
    if kind == "safe":
        return match.group(0)
    if kind == "number":
        return match.group("word") + PLACEHOLDERS["phone"]
    if kind == "phone" and sum(c.isdigit() for c in match.group(0)) < 7:
        return match.group(0)
    return PLACEHOLDERS[kind]


def redact(text: str, names: Iterable[str] = (), serials: Iterable[str] = ()) -> str:
    """`text` with personal data replaced by placeholders (see the module docstring).
    `names` are customer and contact field values; a contact such as "张三 13812345678"
    is split into its name parts.  `serials` are asset serial numbers."""
    if not text:
        return text or ""
    text = _EMAIL_RE.sub(PLACEHOLDERS["email"], text)  # before names: john.smith@...
    text = _replace_terms(text, _terms(names), PLACEHOLDERS["name"])
    text = _replace_terms(text, sorted({s.strip() for s in serials if s and len(s.strip()) >= 4},
                                       key=len, reverse=True), PLACEHOLDERS["serial"])
    return _PATTERN.sub(_one, text)
