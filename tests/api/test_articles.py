"""Articles through the API: write (with an Idempotency-Key), edit with If-Match, the
review moves, versions, merge, archive, listing; and their unhappy paths."""

from __future__ import annotations

import uuid

ARTICLE = {"title": "NVR 硬盘报警后录像回放为空", "symptoms": "NVR提示硬盘错误，录像回放查不到",
           "resolution": "1. 查看硬盘状态 2. 更换故障硬盘 3. 重建阵列", "cause": "硬盘坏道",
           "environment": "NVR-4216", "labels": {"category": "storage"}, "severity": "high"}


def test_write_review_and_validate(api_server):
    key = str(uuid.uuid4())
    with api_server.client("first_line") as agent, api_server.client("engineer") as eng:
        created = agent.post("/api/v1/articles", json=ARTICLE, headers={"Idempotency-Key": key})
        repeat = agent.post("/api/v1/articles", json=ARTICLE, headers={"Idempotency-Key": key})
        assert created.status_code == 201, created.text
        saved = created.json()
        art = saved["article"]
        assert repeat.content == created.content and repeat.headers["idempotent-replayed"]
        assert art["state"] == "wip" and art["author"] == "api_first_line"
        assert art["revision"] == 1 and created.headers["etag"] == f'"{art["version"]}"'
        assert created.headers["location"] == f"/api/v1/articles/{art['id']}"
        assert isinstance(saved["duplicates"], list)

        edited = agent.patch(f"/api/v1/articles/{art['id']}", json={"cause": "硬盘老化"},
                             headers={"If-Match": created.headers["etag"]})
        assert edited.status_code == 200 and edited.json()["article"]["cause"] == "硬盘老化"
        assert edited.json()["article"]["revision"] == 2
        stale = agent.patch(f"/api/v1/articles/{art['id']}", json={"cause": "lost"},
                            headers={"If-Match": created.headers["etag"]})
        assert stale.status_code == 412 and stale.json()["changed_by"] == "api_first_line"

        submitted = agent.post(f"/api/v1/articles/{art['id']}/submit",
                               headers={"If-Match": edited.headers["etag"]})
        assert submitted.json()["state"] == "not_validated"
        refused = agent.post(f"/api/v1/articles/{art['id']}/validate")
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        rejected = eng.post(f"/api/v1/articles/{art['id']}/reject", json={"reason": "步骤不全"})
        assert rejected.json()["state"] == "wip"
        agent.post(f"/api/v1/articles/{art['id']}/submit")
        valid = eng.post(f"/api/v1/articles/{art['id']}/validate")
        assert valid.status_code == 200 and valid.json()["state"] == "validated"
        assert valid.json()["reviewed_at"]

        versions = eng.get(f"/api/v1/articles/{art['id']}/versions").json()
        assert [v["action"] for v in versions] == ["create", "edit", "submit", "reject",
                                                  "submit", "validate"]
        found = eng.get("/api/v1/search", params={"q": "硬盘报警 回放为空",
                                                  "kind": "article"}).json()["results"]
        assert art["id"] in [x["id"] for x in found]


def test_merge_archive_and_listing(api_server):
    with api_server.client("engineer") as eng:
        a = eng.post("/api/v1/articles", json={**ARTICLE, "title": "甲"}).json()["article"]["id"]
        b = eng.post("/api/v1/articles", json={**ARTICLE, "title": "乙"}).json()["article"]["id"]
        merged = eng.post(f"/api/v1/articles/{a}/merge", json={"into": b})
        assert merged.status_code == 200, merged.text
        assert merged.json()["state"] == "archived" and merged.json()["duplicate_of"] == b
        again = eng.post(f"/api/v1/articles/{a}/archive", json={"reason": "重复"})
        assert again.status_code == 409 and again.json()["code"] == "article_move"
        archived = eng.post(f"/api/v1/articles/{b}/archive", json={"reason": "过时"})
        assert archived.json()["state"] == "archived"
        locked = eng.patch(f"/api/v1/articles/{b}", json={"title": "改"})
        assert locked.status_code == 409 and locked.json()["code"] == "article_archived"
        listed = eng.get("/api/v1/articles", params={"state": "archived", "limit": 1})
        assert listed.status_code == 200 and len(listed.json()["items"]) == 1
        assert listed.json()["next_cursor"]
        rest = eng.get("/api/v1/articles", params={"state": "archived",
                                                   "cursor": listed.json()["next_cursor"]})
        ids = [listed.json()["items"][0]["id"]] + [x["id"] for x in rest.json()["items"]]
        assert {a, b} <= set(ids) and len(ids) == len(set(ids))


def test_article_unhappy_paths(api_server):
    with api_server.client("first_line", "zh") as c:
        missing = c.get("/api/v1/articles/KA-999999")
        empty = c.post("/api/v1/articles", json={**ARTICLE, "resolution": "  "})
        wrong = c.post("/api/v1/articles", json={**ARTICLE, "labels": ["storage"]})
        state = c.get("/api/v1/articles", params={"state": "draft"})
    assert missing.status_code == 404
    assert missing.json()["detail"] == "没有编号为 KA-999999 的文章。"
    assert empty.status_code == 422 and empty.json()["code"] == "article_needs"
    assert wrong.status_code == 422 and wrong.json()["code"] == "request_invalid"
    assert state.status_code == 422
