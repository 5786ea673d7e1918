"""Tokenizer for Chinese, English and other European languages, and for codes.

- Part numbers and error codes (`E-1043`, `R123-78`, `0x8007045D`, `DS-2CD2143`) stay one
  token; their alphanumeric parts are added too, so `1043` alone still finds `E-1043`.
- Runs of Chinese characters are segmented with jieba (search mode, which adds the
  shorter words inside long ones).
- Other words are lower-cased and folded with Unicode NFKC.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

_CODE = r"[a-z0-9]+(?:[-_./:#][a-z0-9]+)+|0x[0-9a-f]+|[a-z]+\d[a-z0-9]*|\d+[a-z]+[a-z0-9]*"
_CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = f"[{_CJK_CHARS}]+"
_WORD = f"[^\\W_{_CJK_CHARS}]+"
_TOKEN = re.compile(f"(?P<code>{_CODE})|(?P<cjk>{_CJK})|(?P<word>{_WORD})")
_HAS_DIGIT = re.compile(r"\d")

STOPWORDS = frozenset("""
a an and are as at be but by for from has have i in is it its of on or that the this to was
were will with not no der die das und ist nicht ein eine le la les et est de du het een en van
niet el los las y es 的 了 是 在 和 与 及 或 也 都 就 被 把 对 等 我 你 他 她 它 我们 客户 请
""".split())


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _code_tokens(code: str) -> list[str]:
    if not _HAS_DIGIT.search(code):  # plain hyphenated words: split them
        return [p for p in re.split(r"[-_./:#]", code) if p]
    parts = [p for p in re.split(r"[-_./:#]", code) if len(p) >= 2 and p != code]
    return [code, *parts]


def tokenize(text: str) -> list[str]:
    """Split text into search tokens (lower case, stop words removed)."""
    text = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "code":
            out.extend(_code_tokens(m.group()))
        elif kind == "cjk":
            out.extend(w for w in _jieba().lcut_for_search(m.group()) if w.strip())
        else:
            out.append(m.group())
    return [t for t in out if t not in STOPWORDS]
