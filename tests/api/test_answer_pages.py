"""The customer's answer pages over HTTP (issue 13): real uvicorn serving the API app,
whose /portal/answer/TOKEN pages need no sign-in; shown as the customer may see the
case, answered once, refused clearly when used, expired or unknown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from service.auth import SYSTEM
from service.customer_links import digest
from tests.api.conftest import ApiServer
from ui.i18n import message

FIX = "更换硬盘并初始化 <script>alert(1)</script>\n录像恢复"


def _resolved(api: ApiServer, contact: str = "张经理 zhang@example.com") -> tuple[str, str]:
    """A case resolved by the API's engineer: (case number, its confirm link's path)."""
    desk = api.desk
    engineer = desk.users.get("api_engineer")
    case = desk.cases.open(desk.users.get("api_first_line"), "NVR提示硬盘错误，查不到录像",
                           channel="phone", contact=contact, product="NVR-4216")
    desk.cases.start(engineer, case.id)
    desk.cases.resolve(engineer, case.id, FIX)
    (row,) = [r for r in desk.notify.rows(SYSTEM, limit=1000)
              if r.recipient == f"customer:{case.id}"]
    return case.id, urlsplit(row.payload["link"]).path


def _post(api: ApiServer, path: str, form: dict, query: str = "") -> httpx.Response:
    with httpx.Client(base_url=api.url, timeout=60) as c:
        return c.post(path + query, data=form)


def _get(api: ApiServer, path: str, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=api.url, timeout=60, headers=headers) as c:
        return c.get(path)


def test_the_page_shows_the_case_as_the_customer_may_see_it(api_server: ApiServer):
    case_id, path = _resolved(api_server)
    page = _get(api_server, path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert case_id in html and "NVR-4216" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "api_engineer" not in html and "API engineer" not in html  # nobody's name
    assert "查不到录像" not in html  # the description is the desk's record, not shown
    assert message("answer.title_confirm", "zh") in html
    assert 'name="worked"' in html and 'name="rating"' in html and 'name="comment"' in html
    english = _get(api_server, path + "?lang=en")
    assert message("answer.title_confirm", "en") in english.text


def test_an_answer_is_taken_once_and_then_the_link_is_refused(api_server: ApiServer):
    case_id, path = _resolved(api_server)
    done = _post(api_server, path, {"worked": "yes", "rating": "4", "comment": "很及时"})
    assert done.status_code == 200, done.text
    assert message("answer.thanks_confirm", "zh") in done.text
    case = api_server.desk.cases.get(case_id)
    assert (case.state, case.fields["satisfaction"]) == ("confirmed", 4)
    for again in (_post(api_server, path, {"worked": "yes", "rating": "1"}),
                  _get(api_server, path), _get(api_server, path + "?lang=en")):
        assert again.status_code == 410
    assert message("err.link_used", "zh") in _get(api_server, path).text
    assert message("err.link_used", "en") in _get(api_server, path + "?lang=en").text
    assert api_server.desk.cases.get(case_id).fields["satisfaction"] == 4


def test_did_not_work_reopens_and_says_so(api_server: ApiServer):
    case_id, path = _resolved(api_server)
    done = _post(api_server, path, {"worked": "no", "comment": "3号通道还是没有录像"})
    assert done.status_code == 200
    assert message("answer.thanks_reopened", "zh", case=case_id) in done.text
    assert api_server.desk.cases.get(case_id).state == "in_progress"


@pytest.mark.parametrize(("form", "key"), [
    ({"comment": "还行"}, "answer_worked"),
    ({"worked": "yes", "rating": "9", "comment": "还行"}, "answer_rating"),
    ({"worked": "no", "comment": "  "}, "answer_words"),
    ({"worked": "yes", "rating": "5", "comment": "好" * 2001}, "answer_long"),
])
def test_a_form_that_cannot_be_taken_comes_back_with_the_reason(api_server, form, key):
    case_id, path = _resolved(api_server)
    back = _post(api_server, path, form)
    assert back.status_code == 422
    assert message(f"err.{key}", "zh", chars=2000) in back.text
    if form["comment"].strip() and len(form["comment"]) < 100:
        assert f">{form['comment']}</textarea>" in back.text  # what was typed is kept
    assert api_server.desk.cases.get(case_id).state == "resolved"


def test_unknown_and_expired_links(api_server: ApiServer):
    _case_id, path = _resolved(api_server)
    token = path.rsplit("/", 1)[1]
    wrong = [_get(api_server, f"/portal/answer/{t}") for t in (
        token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "%00", "a" * 200)]
    assert {r.status_code for r in wrong} == {404}
    bodies = {re.sub(r"\s+", " ", r.text) for r in wrong}
    assert len(bodies) == 1  # every wrong token: the same page, nothing to learn
    assert message("err.link_unknown", "zh") in bodies.pop()
    assert _post(api_server, "/portal/answer/nope", {"worked": "yes"}).status_code == 404

    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api_server.desk.engine.kb.db.execute(
        "UPDATE customer_links SET expires_at = ? WHERE token_hash = ?",
        [past, digest(token)])
    for lang in ("zh", "en"):
        gone = _get(api_server, path + f"?lang={lang}")
        assert gone.status_code == 410
        assert message("err.link_expired", lang) in gone.text
        assert message("answer.gone", lang) in gone.text
    assert _post(api_server, path, {"worked": "yes", "rating": "5"}).status_code == 410


def test_a_body_too_large_is_refused(api_server: ApiServer):
    case_id, path = _resolved(api_server)
    big = _post(api_server, path, {"worked": "yes", "rating": "5", "comment": "x" * 100_000})
    assert big.status_code == 413
    assert api_server.desk.cases.get(case_id).state == "resolved"


def test_the_pages_are_not_in_the_api_document(api_server: ApiServer):
    paths = _get(api_server, "/api/v1/openapi.json").json()["paths"]
    assert not [p for p in paths if "portal" in p]


@pytest.mark.parametrize("body", [
    b"worked=yes&rating=4&rating=5&worked=maybe",  # repeated fields: the last counts
    b"\xff\xfe\x00garbage=%%%&worked=yes",  # not UTF-8, broken escapes
    b"worked=yes&rating=99999999999999999999999",
    b"worked=no&comment=%3Cscript%3Ealert(1)%3C%2Fscript%3E" + b"&x=" * 500,
    b"",
])
def test_hostile_form_bodies_get_a_page_never_a_fault(api_server: ApiServer, body: bytes):
    case_id, path = _resolved(api_server)
    with httpx.Client(base_url=api_server.url, timeout=60) as c:
        answer = c.post(path, content=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code in (200, 422), answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in answer.text
    state = api_server.desk.cases.get(case_id).state
    assert state == ("in_progress" if answer.status_code == 200 else "resolved")
