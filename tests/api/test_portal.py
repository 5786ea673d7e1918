"""The customer pages (portal/) over HTTP, on the real server the API tests use: the
request page answers before it files, files a web case with a private status link,
and holds against hostile use — another site's form, a robot's honeypot, guessed links,
markup in the fields, bodies too large or without a length, too many requests from one
address (the rate limit, with X-Forwarded-For believed only from a trusted proxy).
Every client here comes from its own address (the test server trusts 127.0.0.1 as a
proxy), so each test has its own rate-limit bucket."""

from __future__ import annotations

import logging
import re
import socket
from itertools import count
from pathlib import Path

import httpx
import pytest

from portal.app import _HIDE_TOKENS
from portal.guard import RateLimit, bucket_key, client_address
from service.portal import CUSTOMER_STATES, FIELD_CHARS
from settings import proxy_networks
from ui.i18n import MESSAGES

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 20
API_SETTINGS = {"portal_rate_limit": LIMIT, "trusted_proxies": "127.0.0.1",
                "portal_answer_score": 0.0}
LOCKED = "录像机管理员账号被锁定了，忘记密码，无法登录"
_addresses = count(10)


@pytest.fixture(scope="module")
def published(api_server) -> str:
    desk = api_server.desk
    desk.knowledge.edit(desk.users.get("api_engineer"), "DEMO-A-07", audience="external")
    return "DEMO-A-07"


def customer(api_server, lang: str = "zh-CN") -> httpx.Client:
    """A browser of its own address (X-Forwarded-For through the trusted loopback)."""
    return httpx.Client(base_url=f"{api_server.url}/portal", timeout=60,
                        headers={"X-Forwarded-For": f"198.51.100.{next(_addresses)}",
                                 "Accept-Language": lang})


def form_token(c: httpx.Client) -> str:
    page = c.get("/")
    assert page.status_code == 200
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)[1]
    assert c.cookies["kf_form"] == token
    return token


def fields(**changes: str) -> dict[str, str]:
    return {"description": LOCKED, "name": "华东仓储有限公司", "phone": "021-5555 0101",
            "email": "it@example.com", "product": "NVR", "serial": "SN-7781-A", **changes}


def counts(api_server) -> tuple[int, int, int]:
    db = api_server.desk.engine.kb.db
    return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("cases", "deflections", "status_links"))


def test_the_form_page_keeps_to_itself(api_server):
    with customer(api_server) as c:
        page = c.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "在线提交工单" in page.text and 'name="website"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/portal" in cookie
    with customer(api_server, "en") as c:
        assert "Submit a service request" in c.get("/").text
        assert "在线提交工单" in c.get("/", params={"lang": "zh"}).text
        script = c.get("/portal.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_an_article_that_solves_it_is_a_deflection_and_files_nothing(api_server, published):
    before = counts(api_server)
    with customer(api_server) as c:
        token = form_token(c)
        answers = c.post("/request", data={**fields(), "form_token": token})
        assert answers.status_code == 200
        assert "设备管理员账号被锁定" in answers.text and "问题已解决" in answers.text
        assert 'name="step" value="file"' in answers.text
        done = c.post("/solved", data={"article": published, "form_token": token})
    assert done.status_code == 200 and "无需提交工单" in done.text
    cases, deflections, links = counts(api_server)
    assert (cases, deflections, links) == (before[0], before[1] + 1, before[2])


def test_not_solved_files_a_case_and_sends_the_customer_to_its_status(api_server, published):
    before = counts(api_server)
    with customer(api_server) as c:
        token = form_token(c)
        filed = c.post("/request", data={**fields(), "form_token": token, "step": "file"})
        assert filed.status_code == 303
        where = filed.headers["location"]
        assert re.fullmatch(r"/portal/status/[A-Za-z0-9_-]{40,}\?new=1&lang=zh", where)
        status = c.get(where.removeprefix("/portal"))
    assert status.status_code == 200
    number = re.search(r"工单号：([A-Z0-9]+-\d{8}-\d+)", status.text)[1]
    assert "已受理，等待处理" in status.text and "请保存下面的链接" in status.text
    case = api_server.desk.cases.get(number)
    assert case.fields["channel"] == "web" and case.fields["contact"].endswith("it@example.com")
    assert counts(api_server)[0::2] == (before[0] + 1, before[2] + 1)
    for internal in ("华东仓储", "it@example.com", "SN-7781", "triage", "priority"):
        assert internal not in status.text


def test_another_site_s_form_is_refused_and_files_nothing(api_server, published):
    before = counts(api_server)
    with customer(api_server) as c:
        c.get("/")  # the cookie is there, but another site cannot read the token
        for data in (fields(step="file"), {**fields(step="file"), "form_token": "x" * 32}):
            refused = c.post("/request", data=data)
            assert refused.status_code == 403 and "表单已过期" in refused.text
        assert c.post("/solved", data={"article": published}).status_code == 403
    with customer(api_server) as fresh:  # no cookie at all
        assert fresh.post("/request", data={**fields(step="file"),
                                            "form_token": "a" * 32}).status_code == 403
    assert counts(api_server) == before


def test_a_robot_filling_the_honeypot_is_thanked_and_files_nothing(api_server):
    before = counts(api_server)
    with customer(api_server) as c:
        thanked = c.post("/request", data={**fields(step="file"), "website": "http://spam",
                                           "form_token": form_token(c)})
    assert thanked.status_code == 200 and "感谢您的提交" in thanked.text
    assert counts(api_server) == before


def test_markup_in_the_fields_comes_back_as_text(api_server):
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"'
    with customer(api_server) as c:
        page = c.post("/request", data={**fields(description=evil, name=evil,
                                                 email="not-an-address"),
                                        "form_token": form_token(c)})
    assert page.status_code == 422 and "电子邮箱格式不正确" in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_caps_are_checked_with_the_field_named(api_server):
    with customer(api_server, "en") as c:
        page = c.post("/request", data={**fields(name="N" * 101),
                                        "form_token": form_token(c)})
    assert page.status_code == 422 and "Name or organisation holds at most 100" in page.text


def test_links_and_articles_that_are_not_for_customers_get_one_and_the_same_404(api_server,
                                                                               published):
    with customer(api_server) as c:
        answers = [c.get(path) for path in (
            "/status/" + "A" * 43, "/status/KF-20261202-1", "/status/%00", "/article/DEMO-A-01",
            "/article/NO-SUCH", "/nothing/here")]
        shown = c.get(f"/article/{published}")
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1 and "页面不存在" in answers[0].text
    assert shown.status_code == 200 and "设备管理员账号被锁定" in shown.text
    assert "author" not in shown.text


def test_a_body_too_large_or_without_a_length_is_refused(api_server):
    with customer(api_server) as c:
        big = c.post("/request", content=b"description=" + b"x" * 70_000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "提交的内容过长" in big.text
    host, port = api_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST /portal/request HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.9\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        head = s.recv(200)
    assert head.startswith(b"HTTP/1.1 411")


def test_the_rate_limit_refuses_one_address_and_serves_the_others(api_server):
    with customer(api_server) as noisy, customer(api_server, "en") as other:
        answers = [noisy.get("/").status_code for _ in range(LIMIT + 5)]
        refused = noisy.get("/", params={"lang": "en"})
        assert other.get("/").status_code == 200
    assert answers[:LIMIT] == [200] * LIMIT and answers[LIMIT:] == [429] * 5
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "Too many requests" in refused.text
    with api_server.client("admin") as staff:  # the staff API is not behind the limit
        ok = staff.get("/api/v1/health", headers={"X-Forwarded-For": "198.51.100.250"})
    assert ok.status_code == 200


def test_a_token_bucket_refills_with_time():
    now = [0.0]
    limit = RateLimit(clock=lambda: now[0])
    assert [limit.allow("a", 3) for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b", 3)
    now[0] += 19.0
    assert not limit.allow("a", 3)
    now[0] += 1.5  # 20 s: one more
    assert limit.allow("a", 3) and not limit.allow("a", 3)


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "who"), [
    ("203.0.113.5", "1.2.3.4", "", "203.0.113.5"),  # nobody trusted: the peer
    ("203.0.113.5", "1.2.3.4", "127.0.0.1", "203.0.113.5"),  # the peer is no proxy of ours
    ("127.0.0.1", "1.2.3.4", "127.0.0.1", "1.2.3.4"),
    ("127.0.0.1", "6.6.6.6, 1.2.3.4", "127.0.0.1", "1.2.3.4"),  # the left part is the client's
    ("10.0.0.2", "1.2.3.4, 10.0.0.9", "10.0.0.0/8", "1.2.3.4"),  # two proxies of ours
    ("127.0.0.1", None, "127.0.0.1", "127.0.0.1"),
    ("127.0.0.1", "garbage", "127.0.0.1", "garbage"),
])
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(peer, forwarded, trusted, who):
    assert client_address(peer, forwarded, proxy_networks(trusted)) == who


def test_an_ipv6_machine_counts_as_its_64():
    assert bucket_key("2001:db8:1:2:aaaa::1") == bucket_key("2001:db8:1:2:bbbb::9")
    assert bucket_key("2001:db8:1:3::1") != bucket_key("2001:db8:1:2::1")
    assert bucket_key("::ffff:192.0.2.1") == bucket_key("192.0.2.1") == "192.0.2.1"


def test_every_text_of_the_customer_pages_is_in_the_catalogue():
    keys = set()
    for path in (ROOT / "portal").glob("*.py"):
        keys |= set(re.findall(r"""["']((?:portal|tz)\.[\w.]+)["']""", path.read_text("utf-8")))
    assert {"portal.title", "portal.too_many", "portal.fault"} <= keys
    assert not sorted(k for k in keys - {"portal.js"} if k not in MESSAGES)
    assert {f"portal.state.{s}" for s in CUSTOMER_STATES.values()} <= set(MESSAGES)
    assert {f"portal.f.{n}" for n in FIELD_CHARS} <= set(MESSAGES)


def test_access_logs_do_not_keep_status_tokens():
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s" %d',
                               ("1.2.3.4", "GET", "/portal/status/SeCrEt-token_1?new=1", 200),
                               None)
    assert _HIDE_TOKENS.filter(record)
    assert "SeCrEt" not in record.getMessage() and "/portal/status/…?new=1" in record.getMessage()
