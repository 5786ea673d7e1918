"""Tokenizer for Chinese, English and other European languages, and for codes.

- Part numbers and error codes (`E-1043`, `R123-78`, `0x8007045D`, `DS-2CD2143`) stay one
  token; their alphanumeric parts are added too, so `1043` alone still finds `E-1043`.
- Runs of Chinese characters are segmented with jieba (search mode, which adds the
  shorter words inside long ones).
- Other words are lower-cased and folded with Unicode NFKC.

Besides words, `bigrams` gives the overlapping character pairs of every Chinese run: a
second lexical field that needs no dictionary, so a term jieba splits differently in the
query and in a record (or does not know at all) still matches.  Bigram tokens carry a
mark (`BIGRAM`) so the two fields never mix; which fields a query uses is a tuned choice
(`ANALYZERS`).  `shown_terms` keeps only the matched words worth showing to an agent.
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
# Words that are searched (they can tell faults apart: "不" in 不亮) but say nothing to an
# agent reading why a record matched: fillers, pronouns, auxiliaries, times, quantities.
FILLERS = frozenset("""
after again also am any been before can cannot could did do does doing had he her him his
how if into just me more my now only our out she so some still than then there they too up
us very what when which who why would you your ich es sie er wir zu mit auf auch noch war
wird sich dem den des im je ik het er ze wel nog maar om te op il elle ne pas une des sur
pour au ce qui que dans par plus
后 不到 不 没 没有 有 一直 一下 一个 一些 这个 那个 这 那 里 上 下 中 时 时候 以后 之后 之前
以前 现在 已经 还 又 再 才 会 能 可以 可能 需要 要 说 让 给 从 向 跟 为 为了 因为 所以 但 但是
如果 然后 而且 并 并且 其他 什么 怎么 怎样 如何 几 多 很 太 最 更 非常 比较 左右 天 今天 昨天
早上 晚上 下午 上午 小时 分钟 次 个 台 号 位 该 此 其 之 啊 吗 呢 吧 哦 嗯 反映 反馈 来电 表示 称
还是 还有 就是 总是 老是 一样 有时 有时候 经常 突然 一会 一会儿 然而 而是 只是 只有 所有 全部 一切
大家 自己 我们 他们 客户 用户 帮忙 麻烦 看看 看到 发现 出现 情况 问题 东西 时间 目前 最近 之间
""".split())
BIGRAM = "\x01"  # marks a character-bigram token
ANALYZERS = ("words", "bigrams", "both")


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@lru_cache(maxsize=65536)
def _segment(run: str) -> tuple[str, ...]:
    """The words of one run of Chinese characters (jieba, search mode), remembered:
    the same description is tokenized for the index, the classifiers and tuning."""
    return tuple(w for w in _jieba().lcut_for_search(run) if w.strip())


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
            out.extend(_segment(m.group()))
        else:
            out.append(m.group())
    return [t for t in out if t not in STOPWORDS]


def bigrams(text: str) -> list[str]:
    """Overlapping character pairs of every Chinese run (a one-character run is kept
    whole), each marked with BIGRAM."""
    out: list[str] = []
    for run in re.findall(_CJK, unicodedata.normalize("NFKC", text)):
        if len(run) == 1:
            out.append(BIGRAM + run)
        out.extend(BIGRAM + run[i:i + 2] for i in range(len(run) - 1))
    return out


def analyze(text: str, analyzers: str = "both") -> list[str]:
    """The lexical tokens of `text` for the chosen fields: 'words', 'bigrams' or 'both'."""
    if analyzers not in ANALYZERS:
        raise ValueError(f"analyzers must be one of {', '.join(ANALYZERS)}")
    words = tokenize(text) if analyzers != "bigrams" else []
    return words + bigrams(text) if analyzers != "words" else words


def shown_terms(tokens: list[str]) -> list[str]:
    """Matched tokens worth showing as 'why it matched': words only (no bigram marks),
    without fillers, single Chinese characters or short bare numbers."""
    out = []
    for t in tokens:
        if t.startswith(BIGRAM) or t in FILLERS or t in STOPWORDS:
            continue
        if len(t) == 1 and re.fullmatch(_CJK, t):
            continue
        if t.isdigit() and len(t) < 3:
            continue
        out.append(t)
    return list(dict.fromkeys(out))


def cjk_share(text: str) -> float:
    """How Chinese a text is: Chinese characters against those characters plus two per
    word of another alphabet (a word says about what two characters say); words with
    digits (model numbers, codes) count for neither."""
    cjk = len(re.findall(f"[{_CJK_CHARS}]", text))
    words = sum(1 for w in re.findall(_WORD + r"[\w-]*", text)
                if not _HAS_DIGIT.search(w))
    return cjk / (cjk + 2 * words) if cjk or words else 0.0


def script_of(text: str) -> str:
    """'cjk' when Chinese characters make up at least a third of the letters, else
    'latin' (any other alphabet): the two kinds of query whose fusion weight is tuned
    apart, since an embedding model may read one far better than the other."""
    return "cjk" if cjk_share(text) >= 1 / 3 else "latin"
