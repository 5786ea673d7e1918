"""Users, settings, reports, health and metrics through the API."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import openpyxl

PERIOD = {"start": "2020-01-01", "end": "2030-01-01"}


def test_users_add_change_disable_and_enable(api_server):
    with api_server.client("admin") as admin:
        listed = admin.get("/api/v1/users", params={"include_inactive": True}).json()
        assert {"api_leaver": False, "api_admin": True}.items() <= {
            u["username"]: u["active"] for u in listed}.items()
        added = admin.post("/api/v1/users", json={"username": "wang", "password": "long-enough",
                                                  "role": "first_line", "display_name": "王五",
                                                  "lang": "zh"})
        assert added.status_code == 201 and added.json()["display_name"] == "王五"
        twice = admin.post("/api/v1/users", json={"username": "wang", "password": "other-one1",
                                                  "role": "admin"})
        assert twice.status_code == 422 and twice.json()["code"] == "account_exists"
        token = api_server.desk.tokens.create(api_server.desk.users.get("api_admin"), "wang")[1]
        api_server.tokens["wang"] = token
        with api_server.client("wang") as wang:
            assert wang.get("/api/v1/me").json()["username"] == "wang"
            promoted = admin.patch("/api/v1/users/wang", json={"role": "engineer"})
            assert promoted.json()["role"] == "engineer"
            assert wang.get("/api/v1/me").json()["role"] == "engineer"
            disabled = admin.patch("/api/v1/users/wang", json={"active": False})
            assert disabled.status_code == 200 and disabled.json()["active"] is False
            gone = wang.get("/api/v1/me")
            assert gone.status_code == 401 and gone.json()["code"] == "token_user_inactive"
            admin.patch("/api/v1/users/wang", json={"active": True})
            assert wang.get("/api/v1/me").status_code == 200
        last = admin.patch("/api/v1/users/api_admin", json={"active": False})
        assert last.status_code == 422 and last.json()["code"] == "account_last_admin"
        nothing = admin.patch("/api/v1/users/wang", json={})
        assert nothing.status_code == 422 and nothing.json()["code"] == "account_nothing"
        missing = admin.patch("/api/v1/users/nobody", json={"team": "x"})
        assert missing.status_code == 404
    events = [e["action"] for e in api_server.desk.engine.kb.events("user:wang")]
    assert events.count("user:update") == 3 and "user:add" in events


def test_a_users_time_zone(api_server):
    with api_server.client("admin") as admin:
        added = admin.post("/api/v1/users", json={"username": "zhao", "password": "long-enough",
                                                  "role": "first_line",
                                                  "timezone": "Asia/Shanghai"})
        assert added.status_code == 201 and added.json()["timezone"] == "Asia/Shanghai"
        moved = admin.patch("/api/v1/users/zhao", json={"timezone": "Europe/Berlin"})
        assert moved.json()["timezone"] == "Europe/Berlin"
        listed = {u["username"]: u["timezone"] for u in admin.get("/api/v1/users").json()}
        assert listed["zhao"] == "Europe/Berlin" and listed["api_admin"] == ""
        assert admin.get("/api/v1/me").json()["timezone"] == ""
        bad = admin.patch("/api/v1/users/zhao", json={"timezone": "Mars/Olympus"})
        assert bad.status_code == 422 and bad.json()["code"] == "unknown_timezone"
        assert admin.patch("/api/v1/users/zhao", json={"timezone": ""}).json()["timezone"] == ""


def test_settings_read_and_change(api_server):
    with api_server.client("admin") as admin:
        read = admin.get("/api/v1/settings").json()["settings"]
        top_k = next(s for s in read if s["name"] == "top_k")
        assert top_k["default"] == 5 and top_k["help"]
        assert next(s for s in read if s["name"] == "model")["value"] == "hash:256"
        saved = admin.patch("/api/v1/settings", json={"top_k": 7, "escalate_at_severity": "high"})
        assert saved.status_code == 200, saved.text
        assert saved.json()["changed"] == ["escalate_at_severity", "top_k"]
        stored = json.loads(Path(saved.json()["path"]).read_text("utf-8"))
        assert stored["top_k"] == 7 and stored["escalate_at_severity"] == "high"
        fixed = admin.patch("/api/v1/settings", json={"data_dir": "/tmp/elsewhere"})
        unknown = admin.patch("/api/v1/settings", json={"top_kk": 7})
        bad = admin.patch("/api/v1/settings", json={"fusion_weight": 3})
        typed = admin.patch("/api/v1/settings", json={"auto_tune": "perhaps"})
    assert fixed.json()["code"] == "settings_fixed"
    assert unknown.json()["code"] == "settings_unknown"
    assert bad.status_code == typed.status_code == 422
    assert bad.json()["code"] == typed.json()["code"] == "settings_invalid"
    assert [e["action"] for e in api_server.desk.engine.kb.events("settings")] == ["settings"]


def test_reports_as_json_csv_and_xlsx(api_server):
    with api_server.client("manager") as c:
        summary = c.get("/api/v1/reports/summary", params={**PERIOD, "include_imported": True})
        desk_only = c.get("/api/v1/reports/summary", params=PERIOD)
        csv_file = c.get("/api/v1/reports/export", params={**PERIOD, "format": "csv"})
        xlsx = c.get("/api/v1/reports/export", params={**PERIOD, "format": "xlsx"})
        as_json = c.get("/api/v1/reports/export", params={**PERIOD, "format": "json"})
        empty = c.get("/api/v1/reports/summary", params={"start": "2026-02-01",
                                                         "end": "2026-01-01"})
        not_a_date = c.get("/api/v1/reports/summary", params={"start": "soon", "end": "later"})
    assert summary.status_code == 200
    assert summary.json()["period"]["cases"] > 0 and "volume" in summary.json()
    # the 84 demo cases are imported history: counted only when asked for
    assert desk_only.json()["period"]["cases"] == summary.json()["period"]["cases"] - 84
    assert csv_file.headers["content-type"].startswith("text/csv")
    assert csv_file.headers["content-disposition"].startswith("attachment;")
    text = csv_file.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "section,metric,key,value"
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert {"volume", "outcomes", "weekly"} <= set(book.sheetnames)
    assert as_json.json()["weekly"]
    assert empty.status_code == not_a_date.status_code == 422


def test_health(api_server):
    with api_server.client() as anyone:  # no token
        r = anyone.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["model"] == "hash:256"
    assert body["db"] == {"reachable": True, "error": None}
    counts = api_server.desk.engine.kb.counts()
    assert body["index"]["records"] == counts["case"] + counts["article"]


def _sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", text, re.MULTILINE)
    assert found, f"no sample {name}{{{want}}}"
    return float(found.group(1))


def test_metrics(api_server):
    with api_server.client("first_line") as c:
        c.post("/api/v1/triage", json={"text": "UPS 冒烟 smoke from the UPS"})
        c.post("/api/v1/cases", json={"description": "UPS 冒烟"})
        c.get("/api/v1/cases/NO-SUCH-1")
        c.get("/api/v1/made/up/path")
        triaged = len(c.get("/api/v1/cases", params={"state": "triaged",
                                                     "limit": 200}).json()["items"])
    with api_server.client() as anyone:
        r = anyone.get("/metrics")
        health = anyone.get("/api/v1/health").json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _sample(text, "knownfix_http_requests_total", route="/api/v1/cases",
                   method="POST", status="201") >= 1
    assert _sample(text, "knownfix_http_requests_total", route="/api/v1/cases/{case_id}",
                   method="GET", status="404") >= 1
    assert _sample(text, "knownfix_http_requests_total", route="unmatched",
                   method="GET", status="404") >= 1
    assert _sample(text, "knownfix_http_request_duration_seconds_bucket",
                   route="/api/v1/triage", method="POST", le="+Inf") >= 1
    assert _sample(text, "knownfix_triage_duration_seconds_count") >= 1
    assert _sample(text, "knownfix_open_cases", state="triaged") == triaged
    assert _sample(text, "knownfix_index_records") == health["index"]["records"]
    assert "# TYPE knownfix_open_cases_deadline gauge" in text
    assert _sample(text, "knownfix_records", kind="article") > 0
