"""indexer/tokens.py and indexer/lexical.py: tokens for Chinese, English and codes; BM25."""

from __future__ import annotations

import pytest

from indexer.lexical import BM25Index
from indexer.ranking import Ranking
from indexer.tokens import BIGRAM, analyze, bigrams, script_of, shown_terms, tokenize


@pytest.mark.parametrize(("text", "must_have"), [
    ("E-1043", ["e-1043", "1043"]),
    ("授权到期（E-1043）", ["授权", "到期", "e-1043"]),
    ("R123-78告警", ["r123-78", "告警"]),
    ("报错0x8007045D", ["报错", "0x8007045d"]),
    ("error 0x8007045D during setup", ["error", "0x8007045d", "setup"]),
    ("DS-2CD2143G2-I", ["ds-2cd2143g2-i", "2cd2143g2"]),
    ("NVR-4216前面板", ["nvr-4216", "4216", "前面", "面板"]),
    ("Ｅ－１０４３", ["e-1043"]),  # full-width folded
    ("ip 192.168.1.64", ["192.168.1.64"]),
])
def test_codes_stay_one_token(text, must_have):
    tokens = tokenize(text)
    for t in must_have:
        assert t in tokens, (t, tokens)


@pytest.mark.parametrize(("text", "expected"), [
    ("NVR提示硬盘错误", ["nvr", "提示", "硬盘", "错误"]),
    ("监控平台宕机", ["监控", "平台", "宕机"]),
    ("摄像机的画面发白", ["摄像", "摄像机", "画面", "发白"]),
    ("The camera is OFFLINE", ["camera", "offline"]),
    ("Kamera ist nicht erreichbar", ["kamera", "erreichbar"]),
    ("well-known e-mail", ["well", "known", "e", "mail"]),
])
def test_words_and_chinese_segmentation(text, expected):
    assert tokenize(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "，。！", "的 了 是"])
def test_nothing_to_search(text):
    assert tokenize(text) == []


def test_latin_word_does_not_swallow_following_chinese():
    assert tokenize("UPS冒烟") == ["ups", "冒烟"]


def bm25(docs: dict[int, str]) -> BM25Index:
    index = BM25Index()
    for doc, text in docs.items():
        index.add(doc, tokenize(text))
    return index


DOCS = {
    1: "NVR提示硬盘错误，录像回放查不到",
    2: "平台授权到期 E-1043，摄像机加不进去",
    3: "客户端安装报错 0x8007045D",
    4: "Camera offline: IP address conflict with a printer",
    5: "License error E-1044 after upgrade",
    6: "摄像机离线，交换机端口指示灯不亮",
}


def test_scores_are_between_zero_and_one():
    index = bm25(DOCS)
    for text in DOCS.values():
        scores = index.scores(tokenize(text))
        assert scores and all(0.0 < s <= 1.0 for s in scores.values())


@pytest.mark.parametrize(("query", "best"), [
    ("E-1043", 2),
    ("1043", 2),
    ("0x8007045D", 3),
    ("硬盘错误", 1),
    ("IP conflict", 4),
    ("摄像机离线", 6),
])
def test_the_right_document_ranks_first(query, best):
    assert bm25(DOCS).top(tokenize(query), 3)[0][0] == best


def test_a_neighbouring_code_does_not_match():
    scores = bm25(DOCS).scores(tokenize("E-1043"))
    assert 5 not in scores


def test_rare_terms_weigh_more_than_common_ones():
    index = bm25({1: "摄像机 离线", 2: "摄像机 画面", 3: "摄像机 宕机", 4: "摄像机 重启"})
    scores = index.scores(tokenize("摄像机 宕机"))
    assert max(scores, key=scores.get) == 3
    assert index.idf("宕机") > index.idf("摄像机")


def test_unmatched_query_and_empty_index():
    assert bm25(DOCS).scores(tokenize("UPS冒烟")) == {}
    assert BM25Index().scores(["硬盘"]) == {}
    assert bm25(DOCS).scores([]) == {}


def test_remove_and_replace_a_document():
    index = bm25(DOCS)
    assert index.remove(2) is True and index.remove(2) is False
    assert 2 not in index.scores(tokenize("授权到期"))
    index.add(1, tokenize("UPS冒烟有焦糊味"))
    assert len(index) == len(DOCS) - 1
    assert 1 not in index.scores(tokenize("硬盘错误"))
    assert index.top(tokenize("UPS冒烟"), 1)[0][0] == 1
    assert index.total_len == sum(index.doc_len.values())


def test_incremental_equals_built_at_once():
    at_once = bm25({k: v for k, v in DOCS.items() if k != 4})
    stepwise = bm25(DOCS)
    stepwise.remove(4)
    for q in ["摄像机 E-1043", "硬盘", "license error"]:
        assert stepwise.scores(tokenize(q)) == pytest.approx(at_once.scores(tokenize(q)))


def test_matched_lists_query_terms_in_order_without_repeats():
    index = bm25(DOCS)
    tokens = tokenize("E-1043 授权 到期 E-1043 UPS")
    assert index.matched(2, tokens) == ["e-1043", "1043", "授权", "到期"]
    assert index.matched(99, tokens) == []


def test_save_and_load(tmp_path):
    index = bm25(DOCS)
    index.remove(3)
    index.save(tmp_path / "bm25.pkl")
    again = BM25Index.load(tmp_path / "bm25.pkl")
    assert len(again) == len(index)
    for q in ["摄像机离线", "E-1043", "IP conflict printer"]:
        assert again.scores(tokenize(q)) == pytest.approx(index.scores(tokenize(q)))


def test_bigrams_cover_every_chinese_run_and_are_marked():
    assert bigrams("NVR硬盘错误") == [BIGRAM + "硬盘", BIGRAM + "盘错", BIGRAM + "错误"]
    assert bigrams("UPS冒烟，灯") == [BIGRAM + "冒烟", BIGRAM + "灯"]
    assert bigrams("camera offline") == []


@pytest.mark.parametrize(("analyzers", "has_words", "has_bigrams"), [
    ("words", True, False), ("bigrams", False, True), ("both", True, True)])
def test_analyze_reads_the_chosen_fields(analyzers, has_words, has_bigrams):
    tokens = analyze("硬盘错误 E-1043", analyzers)
    assert ("硬盘" in tokens) == has_words and ("e-1043" in tokens) == has_words
    assert (BIGRAM + "硬盘" in tokens) == has_bigrams


def test_a_term_jieba_cuts_differently_still_matches_by_bigrams():
    """权文件过 is cut into 权 / 文件 / 过, which share little with the record's words;
    its character pairs 文件 and 件过 match the record's pairs far better."""
    index = BM25Index()
    index.add(1, analyze("监控平台授权文件过期"))
    index.add(2, analyze("摄像机画面模糊"))
    words_only = index.scores(analyze("权文件过", "words"))
    with_bigrams = index.scores(analyze("权文件过", "both"))
    assert with_bigrams[1] > 2 * words_only[1]
    assert 2 not in with_bigrams


@pytest.mark.parametrize(("tokens", "shown"), [
    (["后", "不到", "硬盘", "错误", "一直", "还是"], ["硬盘", "错误"]),
    (["the", "camera", "after", "offline", "you"], ["camera", "offline"]),
    (["灯", "e-1043", "12", "1043"], ["e-1043", "1043"]),
    ([BIGRAM + "硬盘", "硬盘", "硬盘"], ["硬盘"]),
])
def test_shown_terms_leave_out_fillers_single_characters_and_bigrams(tokens, shown):
    assert shown_terms(tokens) == shown


@pytest.mark.parametrize(("text", "script"), [
    ("NVR提示硬盘错误", "cjk"), ("camera offline after the storm", "latin"),
    ("Kamera ist nicht erreichbar", "latin"), ("DS-2CD2143G2-I 画面", "cjk"), ("", "latin")])
def test_script_of_a_query(text, script):
    assert script_of(text) == script


def test_query_terms_weigh_context_below_the_description():
    terms = Ranking(analyzers="words").query_terms("风扇不转", "网络硬盘录像机")
    assert terms["风扇"] == 1.0
    assert terms["硬盘"] == pytest.approx(Ranking().context_weight)
