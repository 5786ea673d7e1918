"""service/knowledge.py: the KCS loop (draft from a closed case, review, versions,
duplicates, archive, merge) and feedback from used / not-helpful links into ranking."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator

import pytest

from errors import BadInput, InvalidTransition, NotFound, PermissionDenied, UnknownLabel
from kb.records import Record
from service.auth import SYSTEM, User, Users
from service.cases import Cases
from service.demo import load_demo
from service.engine import Engine
from service.knowledge import Knowledge
from settings import load_settings

CONTACT = "张三 13812345678"
FAULT = ("客户张三来电：仓库摄像机每天掉线多次，联系电话13812345678，邮箱zhangsan@example.com，"
         "摄像机IP 192.168.1.64，平台报错E-1043")
FIX = "张先生的摄像机与打印机IP冲突，改为192.168.1.164并在路由器做地址保留，已电话13812345678告知"


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    eng = Engine(load_settings(str(tmp_path), model="hash:256", vector_backend="numpy"))
    load_demo(eng)
    yield eng
    eng.close()


@pytest.fixture
def users(engine) -> dict[str, User]:
    table = Users(engine.kb)
    return {role: table.add(SYSTEM, role, "password-123", role)
            for role in ("first_line", "engineer", "manager")}


@pytest.fixture
def knowledge(engine) -> Knowledge:
    return Knowledge(engine)


@pytest.fixture
def cases(engine, knowledge) -> Cases:
    """Cases wired to the knowledge service as the Desk wires them."""
    c = Cases(engine)
    c.drafter = knowledge.draft_from_case
    return c


def close_case(cases: Cases, actor: User, used: str | None = None, confirm: bool = True):
    case = cases.open(actor, FAULT, title="仓库摄像机掉线", customer="华东物流有限公司",
                      contact=CONTACT, product="DS-2CD2143G2-I", asset_serial="GX20260001",
                      channel="phone")
    cases.resolve(actor, case.id, FIX, cause="与张三的打印机IP冲突", used=used, confirm=confirm)
    return cases.close(actor, case.id)


def new_article(knowledge: Knowledge, actor: User, title: str = "门禁终端刷卡无反应的处理",
                **kw) -> str:
    body = {"symptoms": "门禁终端刷卡无反应，指示灯不亮", "resolution": "1. 检查供电\n2. 重启终端",
            "labels": {"category": "access-control", "component": "terminal"},
            "severity": "medium", **kw}
    article_id, _dups = knowledge.create(actor, title, **body)
    return article_id


# -- capture from a closed case -------------------------------------------------------------
def test_closing_a_case_proposes_a_redacted_draft(engine, users, knowledge, cases):
    closed = close_case(cases, users["first_line"])
    case = closed.case
    queue = knowledge.review_queue()
    assert len(queue) == 1
    draft = queue[0]
    assert closed.article_id == draft.id  # close says which article it drafted
    assert re.fullmatch(r"KA-\d{6}", draft.id)
    assert draft.state == "wip" and draft.version == 1
    assert draft.source_case == case.id and knowledge.sources(draft.id) == [case.id]
    assert {"case_id": case.id, "target": draft.key, "relation": "created-from"}.items() <= \
        next(lk for lk in engine.kb.links(case.id) if lk["relation"] == "created-from").items()
    everything = " ".join([draft.title, draft.symptoms, draft.resolution, draft.cause,
                           draft.environment])
    for secret in ("张三", "张先生", "13812345678", "zhangsan@example.com", "GX20260001",
                   "华东物流"):
        assert secret not in everything
    for kept in ("192.168.1.64", "192.168.1.164", "E-1043", "仓库摄像机"):
        assert kept in everything
    assert "[phone]" in draft.symptoms and "[name]" in draft.resolution
    assert draft.cause == "与[name]的打印机IP冲突"
    assert draft.environment == "DS-2CD2143G2-I"
    assert draft.labels == case.labels and draft.labels
    assert draft.severity == engine.kb.get("case", case.id).severity


def test_a_draft_from_an_unconfirmed_case_carries_the_prediction_for_review(users, knowledge,
                                                                           cases):
    case = close_case(cases, users["first_line"], confirm=False).case
    assert case.labels == {} and case.predicted
    assert knowledge.review_queue()[0].labels == case.predicted


def test_a_draft_is_not_a_known_fix(engine, users, cases, knowledge):
    close_case(cases, users["first_line"])
    draft = knowledge.review_queue()[0]
    assert draft.key not in [r.hit.key for r in engine.search(draft.symptoms, k=10)]


def test_a_case_resolved_with_an_article_counts_reuse_instead(engine, users, cases, knowledge):
    closed = close_case(cases, users["first_line"], used="article:DEMO-A-03")
    case = closed.case
    assert knowledge.review_queue() == [] and closed.article_id is None
    assert [e for e in engine.kb.events("article:DEMO-A-03") if e["action"] == "article:reused"]
    assert knowledge.usage("DEMO-A-03")["used"] == 1
    assert not [lk for lk in engine.kb.links(case.id) if lk["relation"] == "created-from"]


def test_closing_again_keeps_the_first_draft(users, cases, knowledge):
    case = close_case(cases, users["first_line"]).case
    first = knowledge.review_queue()[0].id
    assert knowledge.draft_from_case(users["first_line"], cases.get(case.id)) == first
    assert len(knowledge.list()) == len(knowledge.list(state=None))
    assert [a.id for a in knowledge.list("wip")] == [first]


# -- review ----------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["validate", "archive", "merge"])
def test_first_line_cannot_review(users, knowledge, action):
    aid = new_article(knowledge, users["first_line"])
    knowledge.submit(users["first_line"], aid)
    args = (aid, "DEMO-A-01") if action == "merge" else (aid,)
    with pytest.raises(PermissionDenied):
        getattr(knowledge, action)(users["first_line"], *args)
    assert knowledge.get(aid).state == "not_validated"


def test_validated_article_is_found_at_once(engine, users, knowledge, cases):
    close_case(cases, users["first_line"])
    aid = knowledge.review_queue()[0].id
    knowledge.submit(users["first_line"], aid)
    art = knowledge.validate(users["engineer"], aid)
    assert art.state == "validated" and art.reviewed_at
    assert f"article:{aid}" in [r.hit.key for r in engine.search(art.symptoms, k=3)]
    assert f"article:{aid}" in [m.key for m in engine.triage(art.symptoms).matches]
    assert knowledge.review_queue() == []


@pytest.mark.parametrize(("steps", "bad"), [
    ([], "validate"),                                   # a draft must be submitted first
    (["submit"], "submit"),
    (["submit", "validate"], "submit"),
    (["submit", "validate"], "validate"),
    (["archive"], "submit"),
    (["archive"], "archive"),
])
def test_transitions_are_enforced(users, knowledge, steps, bad):
    aid = new_article(knowledge, users["engineer"])
    for step in steps:
        getattr(knowledge, step)(users["manager"], aid)
    with pytest.raises(InvalidTransition):
        getattr(knowledge, bad)(users["manager"], aid)


def test_reject_sends_back_to_wip_with_a_reason(users, knowledge):
    aid = new_article(knowledge, users["first_line"])
    knowledge.submit(users["first_line"], aid)
    with pytest.raises(BadInput):
        knowledge.reject(users["engineer"], aid, " ")
    assert knowledge.reject(users["engineer"], aid, "steps unclear").state == "wip"
    assert knowledge.versions(aid)[-1]["action"] == "reject"


def test_archive_removes_from_suggestions_but_keeps_history(engine, users, knowledge):
    aid = new_article(knowledge, users["engineer"])
    knowledge.submit(users["engineer"], aid)
    knowledge.validate(users["engineer"], aid)
    query = "门禁终端刷卡无反应，指示灯不亮"
    assert engine.triage(query).matches[0].key == f"article:{aid}"
    knowledge.archive(users["manager"], aid, reason="product retired")
    assert f"article:{aid}" not in [r.hit.key for r in engine.search(query, k=10)]
    assert f"article:{aid}" not in [m.key for m in engine.triage(query).matches]
    art = knowledge.get(aid)
    assert art.state == "archived" and art.title == "门禁终端刷卡无反应的处理"
    assert [v["state"] for v in knowledge.versions(aid)] == [
        "wip", "not_validated", "validated", "archived"]
    with pytest.raises(InvalidTransition):
        knowledge.edit(users["engineer"], aid, title="new")


# -- writing and versions --------------------------------------------------------------------
def test_versions_increase_and_keep_old_text(users, knowledge):
    aid = new_article(knowledge, users["engineer"])
    version, _ = knowledge.edit(users["engineer"], aid, resolution="1. 检查12V供电\n2. 重启",
                                cause="电源适配器老化")
    assert version == 2
    knowledge.submit(users["engineer"], aid)
    knowledge.validate(users["manager"], aid)
    versions = knowledge.versions(aid)
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert [v["action"] for v in versions] == ["create", "edit", "submit", "validate"]
    assert versions[0]["fix"] == "1. 检查供电\n2. 重启终端"
    assert versions[1]["fix"].startswith("1. 检查12V供电")
    assert versions[1]["extra"]["cause"] == "电源适配器老化"
    assert versions[0]["labels"] == {"category": "access-control", "component": "terminal"}
    assert all(v["actor"] for v in versions)
    art = knowledge.get(aid)
    assert art.version == 4 and art.cause == "电源适配器老化" and art.author == "engineer"


@pytest.mark.parametrize(("role", "state"), [
    ("first_line", "not_validated"), ("engineer", "validated"), ("manager", "validated")])
def test_editing_a_validated_article(users, knowledge, role, state):
    aid = new_article(knowledge, users["engineer"])
    knowledge.submit(users["engineer"], aid)
    knowledge.validate(users["engineer"], aid)
    knowledge.edit(users[role], aid, symptoms="门禁终端刷卡无反应，蜂鸣器不响")
    assert knowledge.get(aid).state == state


def test_editing_an_imported_article_keeps_its_original_as_version_1(engine, users, knowledge):
    engine.upsert([Record("article", "IMP-1", title="NVR硬盘错误", text="NVR提示硬盘错误",
                          fix="更换硬盘", labels={"category": "storage"})])
    before = knowledge.get("IMP-1")
    assert before.state is None and before.live and before.version == 0
    version, _ = knowledge.edit(users["engineer"], "IMP-1", cause="硬盘老化")
    assert version == 2
    versions = knowledge.versions("IMP-1")
    assert [v["action"] for v in versions] == ["imported", "edit"]
    assert versions[0]["fix"] == "更换硬盘" and "cause" not in versions[0]["extra"]
    assert knowledge.get("IMP-1").state is None  # an engineer's edit keeps it live
    knowledge.edit(users["first_line"], "IMP-1", resolution="更换监控级硬盘")
    assert knowledge.get("IMP-1").state == "not_validated"


@pytest.mark.parametrize(("changes", "error"), [
    ({"title": " "}, BadInput),
    ({"resolution": ""}, BadInput),
    ({"labels": {"colour": "red"}}, UnknownLabel),
    ({"severity": "apocalyptic"}, UnknownLabel),
])
def test_bad_articles_are_refused(users, knowledge, changes, error):
    with pytest.raises(error):
        new_article(knowledge, users["engineer"], **changes)


def test_unknown_article(knowledge):
    with pytest.raises(NotFound):
        knowledge.get("KA-999999")
    with pytest.raises(NotFound):
        knowledge.versions("KA-999999")


def test_review_queue_puts_submitted_articles_first(users, knowledge):
    first = new_article(knowledge, users["engineer"])
    second = new_article(knowledge, users["engineer"], title="门禁终端离线")
    knowledge.submit(users["engineer"], second)
    assert [a.id for a in knowledge.review_queue()] == [second, first]
    assert [a.state for a in knowledge.review_queue()] == ["not_validated", "wip"]


# -- duplicates and merge --------------------------------------------------------------------
def test_near_duplicate_is_flagged_and_merge_archives_the_source(engine, users, knowledge):
    target = new_article(knowledge, users["engineer"])
    knowledge.submit(users["engineer"], target)
    source, dups = knowledge.create(users["first_line"], "门禁终端刷卡无反应的处理",
                                    "门禁终端刷卡无反应，指示灯不亮", "更换读卡模块")
    assert [d["id"] for d in dups] == [target]
    assert dups[0]["similarity"] >= engine.settings.article_duplicate
    knowledge.submit(users["first_line"], source)
    engine.kb.link("DEMO-C-001", f"article:{source}", "used", "first_line")
    engine.kb.link("DEMO-C-002", f"article:{source}", "not-helpful", "first_line")
    merged = knowledge.merge(users["manager"], source, target)
    assert merged.id == target
    gone = knowledge.get(source)
    assert gone.state == "archived" and gone.duplicate_of == target
    assert knowledge.usage(target) == {"used": 1, "not_helpful": 1, "suggested": 0}
    assert knowledge.usage(source)["used"] == 0
    assert knowledge.versions(source)[-1]["action"] == "merge"
    assert [e for e in engine.kb.events(f"article:{target}") if e["action"] == "merged-into"]
    assert knowledge.duplicates(target) == []  # an archived article is no longer offered
    with pytest.raises(InvalidTransition):
        knowledge.merge(users["manager"], source, target)
    with pytest.raises(BadInput):
        knowledge.merge(users["manager"], target, target)


def test_different_articles_are_not_duplicates(users, knowledge):
    new_article(knowledge, users["engineer"])
    _aid, dups = knowledge.create(users["engineer"], "UPS电池鼓包更换",
                                  "UPS电池鼓包，后备时间很短", "更换电池组")
    assert dups == []


# -- feedback into ranking -------------------------------------------------------------------
TWIN = "Camera offline every night after firmware upgrade"


def _twins(engine: Engine) -> None:
    """Two articles with the same text (so the same hybrid score) and some cases whose
    only label is a category."""
    twin = {"text": "camera shows offline at night", "fix": "roll back the firmware",
            "labels": {"category": "network", "component": "camera"}, "state": "validated"}
    records = [Record("article", "TW1", title=TWIN, **twin),
               Record("article", "TW2", title=TWIN, **twin)]
    for i, category in enumerate(["network"] * 3 + ["storage"] * 3):
        records.append(Record("case", f"FB{i}", title=f"ticket {i}", text=f"ticket number {i}",
                              fix="done", labels={"category": category}, state="closed"))
    engine.upsert(records)


def _order(engine: Engine, **given) -> list[str]:
    return [m.key for m in engine.triage(TWIN, **given).matches
            if m.key in ("article:TW1", "article:TW2")]


@pytest.mark.parametrize("relation", ["used", "not-helpful"])
def test_feedback_moves_a_fix_for_the_same_kind_of_fault(engine, relation):
    _twins(engine)
    first, second = _order(engine, category="network")
    scores = {m.key: m.hybrid for m in engine.triage(TWIN, category="network").matches}
    # 'used' lifts the one below; 'not helpful' sinks the one above
    marked = second if relation == "used" else first
    for i in range(3):
        engine.kb.link(f"FB{i}", marked, relation)          # network cases
    assert _order(engine, category="network") == [second, first]
    matches = engine.triage(TWIN, category="network").matches
    assert after_hybrid(matches)[marked] == scores[marked], "feedback moves only the ranking"
    shown = [m.score for m in matches]
    assert shown == sorted(shown, reverse=True), "the list is in the order of its scores"
    assert _order(engine, category="storage") == [first, second]  # another kind of fault


def after_hybrid(matches) -> dict[str, float]:
    return {m.key: m.hybrid for m in matches}


def test_feedback_from_other_categories_does_not_count(engine):
    _twins(engine)
    first, second = _order(engine, category="network")
    for i in range(3, 6):
        engine.kb.link(f"FB{i}", second, "used")             # storage cases
    assert _order(engine, category="network") == [first, second]
    assert _order(engine, category="storage") == [second, first]


def test_feedback_value(engine):
    _twins(engine)
    for i in range(3):
        engine.kb.link(f"FB{i}", "article:TW1", "used")
    engine.kb.link("FB3", "article:TW2", "not-helpful")
    fb = engine._triage_with()._feedback(["article:TW1", "article:TW2", "case:FB0"],
                                  {"category": {"network": 0.8, "storage": 0.2}})
    w = engine.settings.feedback_weight
    assert fb["article:TW1"] == pytest.approx(w * math.tanh(3 * 0.8 / 2))
    assert fb["article:TW2"] == pytest.approx(-w * math.tanh(0.2 / 2))
    assert "case:FB0" not in fb
    assert engine._triage_with()._feedback(["article:TW1"], {}) == {}
    # the case being triaged does not count its own marks
    only_fb0 = engine._triage_with()._feedback(["article:TW1"], {"category": {"network": 1.0}},
                                        exclude="case:FB0")
    assert only_fb0["article:TW1"] == pytest.approx(w * math.tanh(2 / 2))


def test_an_edit_that_changes_nothing_makes_no_version(users, knowledge):
    aid = new_article(knowledge, users["engineer"])
    knowledge.submit(users["engineer"], aid)
    knowledge.validate(users["engineer"], aid)
    art = knowledge.get(aid)
    version, _ = knowledge.edit(users["first_line"], aid, art.title, art.symptoms,
                                art.resolution, labels=dict(art.labels), cause="",
                                environment="")
    assert version == art.version == 3
    assert knowledge.get(aid).state == "validated"


def test_feedback_uses_the_predicted_labels_of_an_unlabelled_case(engine):
    _twins(engine)
    engine.upsert([Record("case", "OPEN1", text="camera still offline", state="in_progress")])
    engine.kb.update("case", "OPEN1", {"triage": json.dumps(
        {"labels": {"category": {"value": "network", "confidence": 0.9}}})}, "system", "triage")
    engine.kb.link("OPEN1", "article:TW1", "not-helpful")
    fb = engine._triage_with()._feedback(["article:TW1"], {"category": {"network": 1.0}})
    assert fb["article:TW1"] < 0


# -- the loop closed: follow-up calls, and a reopened case closed again -----------------------
def test_a_follow_up_stores_its_outcome_note_and_a_first_rating(users, cases):
    agent = users["first_line"]
    case = close_case(cases, agent).case
    assert not case.fields.get("satisfaction")
    after = cases.follow_up(agent, case.id, "unhappy", " 修好了，但上门晚了两天 ", satisfaction=3)
    record = after.fields["follow_up"]
    assert (record["outcome"], record["came_back"], record["note"], record["by"]) == \
        ("unhappy", False, "修好了，但上门晚了两天", agent.username)
    assert after.state == "closed" and after.fields["satisfaction"] == 3
    [event] = [e for e in cases.kb.events(case.key) if e["action"] == "follow_up"]
    detail = json.loads(event["detail"])
    assert (detail["outcome"], detail["note"]) == ("unhappy", "修好了，但上门晚了两天")


def test_a_rating_given_at_confirmation_is_not_replaced_by_the_follow_up(users, cases):
    agent = users["first_line"]
    case = cases.open(agent, FAULT, customer="华东物流有限公司")
    cases.resolve(agent, case.id, FIX, confirm=True)
    cases.confirm(agent, case.id, 5)
    with pytest.raises(BadInput) as err:
        cases.follow_up(agent, case.id, "solved", satisfaction=2)
    assert err.value.key == "followup_rated"
    assert cases.follow_up(agent, case.id, "solved").fields["satisfaction"] == 5


@pytest.mark.parametrize(("outcome", "satisfaction", "key"), [
    ("fine", None, "followup_outcome"), ("", None, "followup_outcome"),
    ("solved", 0, "satisfaction_range"), ("solved", 6, "satisfaction_range")])
def test_a_follow_up_refuses_bad_values(users, cases, outcome, satisfaction, key):
    case = close_case(cases, users["first_line"]).case
    with pytest.raises(BadInput) as err:
        cases.follow_up(users["first_line"], case.id, outcome, satisfaction=satisfaction)
    assert err.value.key == key
    assert cases.get(case.id).fields["follow_up"] is None


@pytest.mark.parametrize("outcome", ["solved", "unreachable"])
def test_only_a_problem_that_came_back_reopens(users, cases, outcome):
    agent = users["first_line"]
    case = close_case(cases, agent).case
    assert cases.follow_up(agent, case.id, outcome, "电话两次无人接").state == "closed"
    back = cases.follow_up(agent, case.id, "came_back", "又掉线了")
    assert back.state == "in_progress" and back.fields["follow_up"]["outcome"] == "came_back"


def reclose(cases: Cases, actor: User, case_id: str, fix: str, cause: str):
    """The customer calls back: the problem came back; it is fixed again and closed."""
    cases.follow_up(actor, case_id, "came_back", "又掉线了")
    cases.resolve(actor, case_id, fix, cause=cause, confirm=True)
    return cases.close(actor, case_id)


def test_a_reclosed_case_with_the_same_cause_drafts_a_new_version(users, cases, knowledge):
    agent, engineer = users["first_line"], users["engineer"]
    first = close_case(cases, agent)
    knowledge.submit(agent, first.article_id)
    knowledge.validate(engineer, first.article_id)
    before = knowledge.get(first.article_id)
    again = reclose(cases, engineer, first.case.id, "更换交换机端口并固定摄像机IP为192.168.1.170",
                    cause="与[name]的打印机IP冲突 ")  # the same cause, as the article has it
    assert again.article_id == first.article_id  # no second article
    art = knowledge.get(first.article_id)
    assert art.version == before.version + 1 and art.state == "not_validated"  # for review
    assert "192.168.1.170" in art.resolution and art.title == before.title
    last = knowledge.versions(art.id)[-1]
    assert (last["action"], last["actor"]) == ("redraft", engineer.username)
    assert knowledge.sources(art.id) == [first.case.id]
    # closing once more without a reopen drafts nothing new
    assert knowledge.draft_from_case(agent, cases.get(first.case.id)) == art.id
    assert knowledge.get(art.id).version == art.version


def test_a_reclosed_case_with_another_cause_drafts_a_related_article(users, cases, knowledge):
    agent = users["first_line"]
    first = close_case(cases, agent)
    again = reclose(cases, agent, first.case.id, "更换摄像机电源适配器后不再掉线",
                    cause="电源适配器老化，供电不稳")
    assert again.article_id not in (None, first.article_id)
    new, old = knowledge.get(again.article_id), knowledge.get(first.article_id)
    assert new.state == "wip" and new.version == 1 and new.related_to == old.id
    assert new.cause == "电源适配器老化，供电不稳" and "电源适配器" in new.resolution
    assert old.version == 1 and old.cause == "与[name]的打印机IP冲突"  # the first stays
    assert knowledge.sources(new.id) == [first.case.id] == knowledge.sources(old.id)
    assert {a.id for a in knowledge.review_queue()} == {old.id, new.id}


def test_a_reclosed_case_whose_article_was_archived_drafts_a_new_one(users, cases, knowledge):
    agent, manager = users["first_line"], users["manager"]
    first = close_case(cases, agent)
    knowledge.archive(manager, first.article_id, "重复")
    again = reclose(cases, agent, first.case.id, "改用静态地址", cause="与[name]的打印机IP冲突")
    assert knowledge.get(again.article_id).related_to == first.article_id
    assert knowledge.get(first.article_id).state == "archived"
