"""Cases through the API: triage and search first, then a case's whole loop, listing
with filters and cursors, and the unhappy paths — bad JSON, wrong types, an unknown
case, an illegal state move in both languages, a stale If-Match, a repeated and a
concurrent Idempotency-Key."""

from __future__ import annotations

import threading
import uuid

from api.problems import PROBLEM

FAULT = "NVR提示硬盘错误，录像回放查不到"


def test_triage_of_a_chinese_fault(api_server):
    with api_server.client("first_line") as c:
        r = c.post("/api/v1/triage", json={"text": FAULT, "product": "网络硬盘录像机",
                                           "model": "NVR-4216"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["labels"]["category"]["value"] == "storage"
    assert 0 <= body["labels"]["category"]["confidence"] <= 1
    assert body["labels"]["category"]["alternatives"][0]["value"] == "storage"
    assert body["severity"]["level"] in ("low", "medium", "high", "critical")
    assert body["severity"]["reason"]
    assert body["matches"], "the demo KB has disk-error fixes"
    best = body["matches"][0]
    assert best["fix"] and best["matched"] and 0 < best["score"] <= 1
    scores = [m["score"] for m in body["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert isinstance(body["escalation"]["escalate"], bool)


def test_triage_keeps_a_given_label_and_refuses_an_unknown_one(api_server):
    with api_server.client("engineer", "en") as c:
        given = c.post("/api/v1/triage", json={"text": FAULT,
                                               "labels": {"category": "network"}})
        unknown = c.post("/api/v1/triage", json={"text": FAULT, "labels": {"colour": "red"}})
    assert given.json()["labels"]["category"] == {
        "value": "network", "confidence": 1.0, "given": True,
        "alternatives": [{"value": "network", "confidence": 1.0}]}
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_label"
    assert "colour" in unknown.json()["detail"]


def test_search_with_a_label_filter(api_server):
    with api_server.client("first_line") as c:
        r = c.get("/api/v1/search", params={"q": "硬盘 录像", "label": "category=storage",
                                            "kind": "article", "k": 3})
        bare = c.get("/api/v1/search", params={"q": "硬盘", "label": "category"})
    assert r.status_code == 200
    results = r.json()["results"]
    assert results and len(results) <= 3
    assert all(x["kind"] == "article" and x["labels"]["category"] == "storage"
               for x in results)
    assert bare.status_code == 422 and bare.json()["code"] == "label_form"


def test_a_case_through_the_whole_loop(api_server):
    with api_server.client("first_line") as agent, api_server.client("engineer") as eng:
        opened = agent.post("/api/v1/cases", json={
            "description": FAULT, "title": "录像查不到", "channel": "phone",
            "customer": "某物业公司", "asset_serial": "SN-API-1", "product": "NVR"})
        assert opened.status_code == 201, opened.text
        case = opened.json()
        cid = case["id"]
        assert opened.headers["location"] == f"/api/v1/cases/{cid}"
        assert opened.headers["etag"] == f'"{case["version"]}"'
        assert case["state"] == "triaged" and case["triage"]["labels"]["category"]
        got = agent.get(f"/api/v1/cases/{cid}")
        assert got.json() == case and got.headers["etag"] == opened.headers["etag"]

        fix = case["triage"]["matches"][0]["key"]
        links = agent.post(f"/api/v1/cases/{cid}/links", json={"target": fix},
                           headers={"If-Match": got.headers["etag"]})
        assert links.status_code == 201
        assert any(lk["target"] == fix and lk["relation"] == "used" for lk in links.json())

        steps = [("start", {}, "in_progress"),
                 ("escalate", {"to": "api_engineer", "reason": "需要现场"}, "escalated"),
                 ("delay", {"code": "B", "note": "等备件"}, "escalated"),
                 ("dispatch", {"assignee": "api_engineer", "place": "机房",
                               "planned_at": "2026-12-03T09:00:00Z"}, "escalated"),
                 ("service-record", {"cause": "硬盘坏道", "steps": "更换硬盘"}, "escalated"),
                 ("resolve", {"fix": "更换硬盘，重建阵列", "confirm": True}, "resolved"),
                 ("confirm", {"satisfaction": 5, "comment": "很快"}, "confirmed"),
                 ("close", {}, "closed"),
                 ("follow-up", {"outcome": "came_back", "note": "又报警"}, "in_progress")]
        etag = got.headers["etag"]
        for action, body, state in steps:
            r = eng.post(f"/api/v1/cases/{cid}/{action}", json=body, headers={"If-Match": etag})
            assert r.status_code == 200, f"{action}: {r.text}"
            assert r.json()["state"] == state, action
            assert r.headers["etag"] != etag, f"{action} did not move the version"
            etag = r.headers["etag"]
        final = r.json()
        assert final["escalation"]["to"] == "api_engineer"
        assert final["delay"]["code"] == "B" and final["dispatch"]["place"] == "机房"
        assert final["follow_up"]["came_back"] is True
        assert (final["follow_up"]["outcome"], final["follow_up"]["note"]) == \
            ("came_back", "又报警")
        assert final["labels"]["category"]  # confirmed at resolve

        actions = [e["action"] for e in eng.get(f"/api/v1/cases/{cid}/events").json()]
        for expected in ("intake", "triage", "link:used", "start", "escalate", "delay",
                         "dispatch", "service_record", "resolve", "confirm", "close",
                         "follow_up", "reopen"):
            assert expected in actions
        reopened = eng.post(f"/api/v1/cases/{cid}/resolve", json={"fix": "再次更换"})
        closed = eng.post(f"/api/v1/cases/{cid}/close", json={})
        assert closed.json()["state"] == "closed", reopened.text
        again = eng.post(f"/api/v1/cases/{cid}/reopen", json={"reason": "客户来电"})
        assert again.json()["state"] == "in_progress"


def test_update_retriages_a_changed_description(api_server):
    with api_server.client("first_line") as c:
        case = c.post("/api/v1/cases", json={"description": "门禁读卡器刷卡没反应"}).json()
        r = c.patch(f"/api/v1/cases/{case['id']}", json={"description": FAULT,
                                                          "contact": "王先生 138"})
    assert r.status_code == 200
    assert r.json()["contact"] == "王先生 138"
    assert r.json()["triage"]["labels"]["category"]["value"] == "storage"
    assert r.json()["version"] > case["version"]


def test_list_filters_and_cursor_pages(api_server):
    with api_server.client("manager") as c:
        mine = {c.post("/api/v1/cases", json={"description": f"{FAULT} 第{n}路",
                                              "channel": "web",
                                              "received_at": f"2026-11-2{n}T08:00:00Z"}
                       ).json()["id"] for n in range(5)}
        seen, cursor, pages = [], None, 0
        while True:
            params = {"channel": "web", "received_from": "2026-11-20",
                      "received_to": "2026-11-25", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = c.get("/api/v1/cases", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            pages += 1
            seen += [x["id"] for x in page["items"]]
            cursor = page["next_cursor"]
            assert ("link" in r.headers) == bool(cursor)
            if not cursor:
                break
        received = [c.get(f"/api/v1/cases/{i}").json()["received_at"] for i in seen]
        in_state = c.get("/api/v1/cases", params={"state": ["triaged", "in_progress"],
                                                  "limit": 200}).json()["items"]
        bad = c.get("/api/v1/cases", params={"cursor": "not-a-cursor"})
        typo = c.get("/api/v1/cases", params={"stat": "closed"})
    assert set(seen) == mine and len(seen) == 5 and pages == 3
    assert received == sorted(received, reverse=True)
    assert all(x["state"] in ("triaged", "in_progress") for x in in_state)
    assert bad.status_code == 422 and bad.json()["code"] == "bad_cursor"
    assert typo.status_code == 422 and typo.json()["code"] == "unknown_query"


def test_bad_json_wrong_types_and_unknown_fields_are_problems(api_server):
    with api_server.client("first_line", "en") as c:
        broken = c.post("/api/v1/cases", content=b'{"description": "NVR',
                        headers={"Content-Type": "application/json"})
        typed = c.post("/api/v1/cases", json={"description": 42, "channel": "pigeon"})
        extra = c.post("/api/v1/cases", json={"description": FAULT, "sevrity": "high"})
        empty = c.post("/api/v1/cases", json={"description": "   "})
        satisfaction = c.post("/api/v1/cases/KF-1/confirm", json={"satisfaction": "five"})
        surrogate = c.post("/api/v1/triage",
                           content=b'{"text": "disk \\ud800 error"}',
                           headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["code"] == "json_invalid"
    assert typed.status_code == 422 and typed.json()["code"] == "request_invalid"
    assert {tuple(e["loc"]) for e in typed.json()["errors"]} >= {
        ("body", "description"), ("body", "channel")}
    assert extra.status_code == 422 and "sevrity" in extra.text
    assert empty.status_code == 422 and empty.json()["code"] == "empty_description"
    assert satisfaction.status_code == 422
    assert surrogate.status_code == 422
    for r in (broken, typed, extra, empty, satisfaction, surrogate):
        assert r.headers["content-type"] == PROBLEM
        assert set(r.json()) >= {"type", "title", "status", "detail", "code"}
        assert "Traceback" not in r.text


def test_unknown_case_and_route_in_both_languages(api_server):
    with api_server.client("first_line", "zh-CN,zh;q=0.9,en;q=0.5") as zh, \
            api_server.client("first_line", "en-GB") as en:
        r_zh, r_en = zh.get("/api/v1/cases/KF-19990101-9"), en.get("/api/v1/cases/KF-19990101-9")
        route = en.get("/api/v1/nothing-here")
        method = en.delete("/api/v1/cases")
    assert r_zh.status_code == r_en.status_code == 404
    assert r_zh.json()["code"] == r_en.json()["code"] == "not_found"
    assert r_zh.json()["detail"] == "没有编号为 KF-19990101-9 的工单。"
    assert r_en.json()["detail"] == "There is no Case KF-19990101-9."
    assert r_zh.headers["content-language"] == "zh"
    assert route.status_code == 404 and route.json()["code"] == "route_not_found"
    assert method.status_code == 405 and method.json()["code"] == "method_not_allowed"


def test_illegal_state_move_is_409_in_zh_and_en(api_server):
    with api_server.client("engineer") as c:
        cid = c.post("/api/v1/cases", json={"description": FAULT}).json()["id"]
    answers = {}
    for lang in ("zh", "en"):
        with api_server.client("engineer", lang) as c:
            answers[lang] = c.post(f"/api/v1/cases/{cid}/confirm", json={"satisfaction": 4})
    for lang, r in answers.items():
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "case_move"
        assert r.headers["content-language"] == lang
    assert "不能转为" in answers["zh"].json()["detail"]
    assert answers["zh"].json()["title"] == "当前状态不允许此操作"
    assert "cannot go to" in answers["en"].json()["detail"]
    assert answers["en"].json()["title"] == "Not allowed in this state"


def test_language_falls_back_to_the_token_users_own(api_server):
    with api_server.client("engineer") as c:  # no Accept-Language; api_engineer is en
        r = c.get("/api/v1/cases/KF-19990101-9")
    assert r.headers["content-language"] == "en"


def test_stale_if_match_is_412_naming_who_changed_it_and_writes_nothing(api_server):
    with api_server.client("first_line") as agent, api_server.client("engineer") as eng:
        opened = agent.post("/api/v1/cases", json={"description": FAULT})
        cid, etag = opened.json()["id"], opened.headers["etag"]
        moved = eng.post(f"/api/v1/cases/{cid}/start", headers={"If-Match": etag})
        assert moved.status_code == 200
        stale = agent.post(f"/api/v1/cases/{cid}/escalate", headers={"If-Match": etag},
                           json={"to": "api_engineer", "reason": "太难"})
        stale_patch = agent.patch(f"/api/v1/cases/{cid}", headers={"If-Match": etag},
                                  json={"title": "lost update"})
        stale_link = agent.post(f"/api/v1/cases/{cid}/links", headers={"If-Match": etag},
                                json={"target": "article:DEMO-A-01"})
        weak = agent.patch(f"/api/v1/cases/{cid}", headers={"If-Match": f"W/{etag}"},
                           json={"title": "weak"})
        after = agent.get(f"/api/v1/cases/{cid}")
        fresh = agent.patch(f"/api/v1/cases/{cid}", json={"title": "now"},
                            headers={"If-Match": after.headers["etag"]})
    for r in (stale, stale_patch, stale_link):
        assert r.status_code == 412, r.text
        p = r.json()
        assert p["code"] == "stale_record" and p["changed_by"] == "api_engineer"
        assert p["changed_with"] == "start" and p["changed_at"]
        assert p["current_version"] == moved.json()["version"]
        assert "api_engineer" in p["detail"]
    assert weak.status_code == 422 and weak.json()["code"] == "if_match_form"
    assert after.json()["state"] == "in_progress" and after.json()["title"] == ""
    assert after.headers["etag"] == moved.headers["etag"]
    assert fresh.status_code == 200 and fresh.json()["title"] == "now"


def test_two_writers_with_one_etag_one_wins(api_server):
    """Eight threads send a change with the same If-Match at once: exactly one is
    written, the others get 412 (the check is inside the write's transaction)."""
    with api_server.client("engineer") as c:
        opened = c.post("/api/v1/cases", json={"description": FAULT})
    cid, etag = opened.json()["id"], opened.headers["etag"]
    answers: list[int] = []
    start = threading.Barrier(8)

    def write(n: int) -> None:
        with api_server.client("engineer") as c:
            start.wait()
            r = c.patch(f"/api/v1/cases/{cid}", json={"title": f"writer {n}"},
                        headers={"If-Match": etag})
            answers.append(r.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200] + [412] * 7


def test_repeated_idempotency_key_opens_one_case(api_server):
    key = str(uuid.uuid4())
    body = {"description": f"{FAULT} {key}", "channel": "phone"}
    with api_server.client("first_line") as c:
        first = c.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
        again = c.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
        other = c.post("/api/v1/cases", json={**body, "channel": "web"},
                       headers={"Idempotency-Key": key})
    with api_server.client("engineer") as c:  # another user's key space
        theirs = c.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
        listed = c.get("/api/v1/cases", params={"limit": 200}).json()["items"]
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert sum(1 for x in listed if x["description"] == body["description"]) == 2


def test_concurrent_duplicates_open_one_case(api_server):
    """A phone system firing the same request eight times at once: one case, and all
    eight get its answer."""
    key = str(uuid.uuid4())
    body = {"description": f"全部摄像机离线 {key}", "channel": "phone"}
    answers: list[tuple[int, str]] = []
    start = threading.Barrier(8)

    def send() -> None:
        with api_server.client("first_line") as c:
            start.wait()
            r = c.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
            answers.append((r.status_code, r.json().get("id", r.text)))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8
    assert {a for a, _ in answers} == {201}, answers
    assert len({cid for _, cid in answers}) == 1
    with api_server.client("first_line") as c:
        listed = c.get("/api/v1/cases", params={"limit": 200}).json()["items"]
    assert sum(1 for x in listed if x["description"] == body["description"]) == 1


def test_the_privacy_report_sees_what_the_api_keeps(api_server):
    """Token owners are staff names; a kept Idempotency-Key answer holds the case as it
    was opened, so its phone numbers show in `knownfix privacy-report`."""
    from service.privacy import personal_data_report

    with api_server.client("first_line") as c:
        r = c.post("/api/v1/cases", json={"description": FAULT, "contact": "王先生 13812345678"},
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201
    rows = {(x["table"], x["column"]): x for x in personal_data_report(api_server.desk.engine.kb)}
    assert rows[("api_tokens", "username")]["personal"] == "staff name"
    assert rows[("api_idempotency", "body")]["phone"] >= 1
    assert ("api_tokens", "token_hash") not in rows


def test_a_follow_up_takes_one_outcome_a_note_and_a_rating(api_server):
    with api_server.client("engineer") as eng:
        cid = eng.post("/api/v1/cases", json={"description": FAULT}).json()["id"]
        assert eng.post(f"/api/v1/cases/{cid}/resolve", json={"fix": "更换硬盘"}).status_code \
            == 200
        url = f"/api/v1/cases/{cid}/follow-up"
        for body in ({}, {"outcome": "solved", "came_back": False}, {"outcome": "happy"},
                     {"outcome": "solved", "satisfaction": 9}):
            bad = eng.post(url, json=body)
            assert bad.status_code == 422, body
        done = eng.post(url, json={"outcome": "unreachable", "note": "两次无人接听",
                                   "satisfaction": 4})
        assert done.status_code == 200, done.text
        call = done.json()["follow_up"]
        assert (call["outcome"], call["note"], done.json()["state"]) == \
            ("unreachable", "两次无人接听", "resolved")
