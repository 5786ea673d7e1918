"""service/portal.py: the customer request page's service — only validated external
articles answer a customer, a solved request is a deflection (no case, nothing personal
kept), an unsolved one a web case with a private status link kept only as its hash; the
field caps; and articles' audience (service/knowledge.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from errors import BadInput, NotFound
from service.auth import SYSTEM
from service.demo import load_demo
from service.desk import Desk
from service.portal import FIELD_CHARS, WebRequest
from settings import load_settings

LOCKED = "设备管理员账号被锁定，忘记密码，无法登录，需要重置密码"
REQUEST = WebRequest(description="录像机管理员账号被锁定了，密码也忘了", name="华东仓储有限公司",
                     phone="021-5555 0101", email="it@example.com", product="NVR",
                     serial="SN-7781-A")


@pytest.fixture
def desk(tmp_path) -> Iterator[Desk]:
    d = Desk.open(load_settings(str(tmp_path), model="hash:256", vector_backend="numpy",
                                portal_answer_score=0.0))
    load_demo(d.engine)
    d.users.add(SYSTEM, "reviewer", "password-123", "engineer")
    yield d
    d.close()


def publish(desk: Desk, article_id: str) -> None:
    """For customers, as a reviewer (an engineer) makes it (imported: validated)."""
    desk.knowledge.edit(desk.users.get("reviewer"), article_id, audience="external")


def count(desk: Desk, table: str) -> int:
    return desk.engine.kb.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_only_validated_external_articles_answer_a_customer(desk):
    publish(desk, "DEMO-A-07")  # the account-locked article: validated, external
    # external, but an agent's change sends it back to review: not validated
    desk.knowledge.edit(desk.users.add(SYSTEM, "agent1", "password-123", "first_line"),
                        "DEMO-A-09", audience="external")
    assert desk.knowledge.get("DEMO-A-13").state == "validated"  # and internal
    query = LOCKED + " 客户端登录提示HTTP 401未授权 夜间画面全黑"
    shown = [a.id for a in desk.portal.answers(query)]
    assert shown == ["DEMO-A-07"]
    assert desk.knowledge.for_customers() == ["DEMO-A-07"]
    for hidden in ("DEMO-A-09", "DEMO-A-13", "DEMO-A-01", "NO-SUCH"):
        with pytest.raises(NotFound):
            desk.portal.article(hidden)
    assert desk.portal.article("DEMO-A-07").title.startswith("设备管理员账号被锁定")


def test_an_archived_article_stops_answering(desk):
    publish(desk, "DEMO-A-07")
    desk.knowledge.archive(desk.users.get("reviewer"), "DEMO-A-07", "replaced")
    assert desk.portal.answers(LOCKED) == []
    with pytest.raises(NotFound):
        desk.portal.deflect("DEMO-A-07", "zh")


def test_no_answers_below_the_answer_score(tmp_path):
    strict = Desk.open(load_settings(str(tmp_path / "strict"), model="hash:256",
                                     vector_backend="numpy", portal_answer_score=1.0))
    try:
        load_demo(strict.engine)
        strict.users.add(SYSTEM, "reviewer", "password-123", "engineer")
        publish(strict, "DEMO-A-07")
        assert strict.portal.answers(LOCKED) == []
    finally:
        strict.close()


def test_search_among_a_few_keys_scores_each_of_them(desk):
    """An article far from the query is still found when it is the only one allowed
    (the whole index's best would leave it out)."""
    found = desk.engine.search(LOCKED, 3, kind="article", only={"article:DEMO-A-30"})
    assert [r.record.id for r in found] == ["DEMO-A-30"]
    assert desk.engine.search(LOCKED, 3, only=set()) == []


def test_solved_counts_a_deflection_with_nothing_personal_and_no_case(desk):
    publish(desk, "DEMO-A-07")
    cases = count(desk, "cases")
    desk.portal.deflect("DEMO-A-07", "zh")
    desk.portal.deflect("DEMO-A-07", "xx")  # a language we do not speak is not kept
    assert desk.portal.deflections() == 2
    assert count(desk, "cases") == cases
    rows = list(desk.engine.kb.db.query("SELECT * FROM deflections ORDER BY id"))
    assert set(rows[0]) == {"id", "at", "article_id", "lang"}
    assert [(r["article_id"], r["lang"]) for r in rows] == [("DEMO-A-07", "zh"),
                                                          ("DEMO-A-07", None)]
    assert desk.portal.deflections(since="2999-01-01T00:00:00Z") == 0


def test_a_solved_click_on_an_internal_article_counts_nothing(desk):
    with pytest.raises(NotFound):
        desk.portal.deflect("DEMO-A-01", "zh")
    assert desk.portal.deflections() == 0


def test_not_solved_opens_a_web_case_and_a_status_link_kept_as_its_hash(desk):
    case, token = desk.portal.submit(REQUEST, "zh")
    assert case.state == "triaged" and case.triage is not None
    f = case.fields
    assert (f["channel"], f["customer"], f["contact"], f["product"], f["asset_serial"]) == (
        "web", "华东仓储有限公司", "021-5555 0101 / it@example.com", "NVR", "SN-7781-A")
    intake = desk.engine.kb.db.execute(
        "SELECT actor FROM events WHERE action = 'intake' AND target = ?",
        [case.key]).fetchone()
    assert intake == ("customer",)
    assert len(token) >= 40
    [row] = desk.engine.kb.db.query("SELECT * FROM status_links")
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row) and (row["case_id"], row["lang"]) == (case.id, "zh")
    status = desk.portal.status(token)
    assert (status.number, status.state, status.resolved_at) == (case.id, "received", None)
    assert status.received_at == f["received_at"]


def test_the_status_follows_the_case_and_says_nothing_internal(desk):
    case, token = desk.portal.submit(REQUEST, "en")
    desk.cases.resolve(SYSTEM, case.id, "王工 reset the admin password on site", confirm=True)
    status = desk.portal.status(token)
    assert status.state == "resolved" and status.resolved_at
    assert set(vars(status)) == {"number", "state", "received_at", "resolved_at"}
    assert "王工" not in repr(status)


def test_any_token_that_is_not_one_gets_the_same_not_found(desk):
    case, real = desk.portal.submit(REQUEST, "zh")
    for wrong in ("", "x", "A" * 43, "A" * 5000, "KF-20261202-1", "../../etc/passwd", "\u0000",
                  "令牌", case.id, real[:-1], real + "A", real.upper(), real[::-1]):
        if wrong == real:
            continue
        with pytest.raises(NotFound) as err:
            desk.portal.status(wrong)
        assert err.value.key == "portal_link"


def test_one_customer_s_link_never_shows_another_s_case(desk):
    first, one = desk.portal.submit(REQUEST, "zh")
    second, two = desk.portal.submit(WebRequest("门禁刷卡无反应", "李先生", email="li@example.com"),
                                     "zh")
    assert desk.portal.status(one).number == first.id
    assert desk.portal.status(two).number == second.id != first.id


@pytest.mark.parametrize(("changes", "key"), [
    ({"description": "坏" * (FIELD_CHARS["description"] + 1)}, "portal_too_long"),
    ({"name": "名" * (FIELD_CHARS["name"] + 1)}, "portal_too_long"),
    ({"serial": "S" * (FIELD_CHARS["serial"] + 1)}, "portal_too_long"),
    ({"description": "   \n "}, "portal_missing"),
    ({"name": ""}, "portal_missing"),
    ({"phone": "", "email": ""}, "portal_contact"),
    ({"phone": "call me maybe"}, "portal_phone"),
    ({"email": "not-an-address"}, "portal_email"),
    ({"email": "a@b.c<script>"}, "portal_email"),
])
def test_a_request_outside_the_caps_and_checks_is_refused(changes, key):
    with pytest.raises(BadInput) as err:
        WebRequest(**{**vars(REQUEST), **changes}).checked()
    assert err.value.key == key


def test_a_refused_request_files_nothing(desk):
    cases = count(desk, "cases")
    with pytest.raises(BadInput):
        desk.portal.submit(WebRequest(**{**vars(REQUEST), "phone": "", "email": ""}), "zh")
    assert count(desk, "cases") == cases and count(desk, "status_links") == 0


def test_fields_are_trimmed_and_the_description_keeps_its_lines():
    req = WebRequest("  第一行\n第二行  ", "  张   先生 ", phone=" 138 0000 0000 ").checked()
    assert (req.description, req.name, req.phone, req.contact) == (
        "第一行\n第二行", "张 先生", "138 0000 0000", "138 0000 0000")


def test_the_portal_s_and_the_command_line_s_names_are_reserved(desk):
    for name in ("customer", "system"):
        with pytest.raises(BadInput) as err:
            desk.users.add(SYSTEM, name, "password-123", "first_line")
        assert err.value.key == "username_reserved"


def test_audience_is_set_checked_and_reviewed(desk):
    art = desk.knowledge.get("DEMO-A-07")
    assert art.audience == "internal" and not art.for_customers
    with pytest.raises(BadInput) as err:
        desk.knowledge.edit(SYSTEM, "DEMO-A-07", audience="everyone")
    assert err.value.key == "article_audience"
    publish(desk, "DEMO-A-07")
    assert desk.knowledge.get("DEMO-A-07").for_customers
    version = desk.knowledge.get("DEMO-A-07").version
    assert desk.knowledge.edit(SYSTEM, "DEMO-A-07", audience="external")[0] == version
    # an agent (who may not validate) making it internal and back sends it to review
    agent = desk.users.add(SYSTEM, "agent2", "password-123", "first_line")
    desk.knowledge.edit(agent, "DEMO-A-07", audience="internal")
    desk.knowledge.edit(agent, "DEMO-A-07", audience="external")
    art = desk.knowledge.get("DEMO-A-07")
    assert (art.state, art.audience, art.for_customers) == ("not_validated", "external", False)
    assert desk.portal.answers(LOCKED) == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_web_request_is_answered_in_the_customer_s_language(desk, lang):
    """The case keeps the language the customer wrote in: the confirm link's mail is in
    it when the case is resolved."""
    case, _ = desk.portal.submit(REQUEST, lang)
    assert desk.cases.get(case.id).fields["lang"] == lang
    desk.cases.resolve(SYSTEM, case.id, "远程重置了管理员密码", confirm=True)
    [mail] = [r for r in desk.notify.rows(SYSTEM, limit=100)
              if r.recipient == f"customer:{case.id}"]
    assert mail.lang == lang and mail.address == REQUEST.email


def test_the_status_link_is_written_with_the_case_or_not_at_all(desk):
    desk.engine.kb.db.execute("CREATE TRIGGER no_links BEFORE INSERT ON status_links "
                              "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    before = count(desk, "cases")
    with pytest.raises(Exception, match="disk full"):
        desk.portal.submit(REQUEST, "zh")
    assert count(desk, "cases") == before  # no case without its link


def test_the_report_counts_what_the_request_page_answered_and_filed(desk):
    """Two requests answered by an article, one filed: the summary's self-service
    section says so, and names the article."""
    article = "DEMO-A-13"
    publish(desk, article)
    for _ in range(2):
        desk.portal.deflect(article, "zh")
    desk.portal.submit(REQUEST, "zh")
    found = desk.reports.summary(SYSTEM, "2000-01-01", "2100-01-01")["self_service"]
    assert found == {"deflections": 2, "web_cases": 1, "deflection_rate": 0.6667,
                     "by_article": [{"id": article, "count": 2}]}
