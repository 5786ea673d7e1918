"""Reports: a scripted month of cases goes through the service loop, and the report
must count exactly what was done."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import service.cases
from errors import BadInput, PermissionDenied
from service.auth import SYSTEM, User, Users
from service.cases import Cases
from service.demo import load_demo
from service.engine import Engine
from service.reports import Reports, cluster, rows
from settings import load_settings
from tests.helpers import Clock, legacy_assignee, run_cli, saved_for_cli

START, END = "2026-10-01", "2026-11-01"
NOW = datetime(2026, 11, 27, tzinfo=UTC)
PASSWORD = "correct horse"
# A fault the demo knowledge base has no article for, said four ways.
ELEVATOR = [
    "Elevator intercom has no audio in car 3: the call button is pressed but the guard "
    "room hears nothing",
    "Elevator intercom no audio in car 5, call button pressed, guard room hears nothing",
    "Car 7 elevator intercom: no audio, guard room hears nothing when the call button is "
    "pressed",
    "No audio on the elevator intercom in car 2; the guard room hears nothing after the "
    "call button is pressed",
]


@dataclass
class World:
    engine: Engine
    cases: Cases
    reports: Reports
    users: dict[str, User]
    ids: dict[str, str]
    clock: Clock


def _received(day: int) -> datetime:
    return datetime(2026, 10, day, 8, 0, tzinfo=UTC)


def _script(engine: Engine, clock: Clock) -> World:
    """Ten cases in October 2026: six worked through the loop, four elevator-intercom
    faults left triaged. Every number the tests expect follows from this script."""
    users = Users(engine.kb)
    people = {name: users.add(SYSTEM, name, PASSWORD, role) for name, role in (
        ("agent", "first_line"), ("eng1", "engineer"), ("eng2", "engineer"),
        ("boss", "manager"))}
    agent, eng1, eng2 = people["agent"], people["eng1"], people["eng2"]
    cases = Cases(engine)
    ids: dict[str, str] = {}

    def open_(name: str, day: int, channel: str, text: str) -> str:
        clock.t = _received(day)
        ids[name] = cases.open(agent, text, channel=channel,
                               received_at=clock().replace("Z", "+00:00")).id
        return ids[name]

    def at(day: int, hours: float) -> None:
        clock.t = _received(day) + timedelta(hours=hours)

    c1 = open_("c1", 5, "phone", "NVR提示硬盘错误，部分通道查不到录像")
    at(5, 1)
    cases.start(agent, c1)
    at(5, 2)
    cases.resolve(agent, c1, "更换硬盘", used="article:DEMO-A-01", severity="high")
    cases.confirm(agent, c1, 5)
    cases.close(agent, c1)

    c2 = open_("c2", 6, "email", "Cameras reboot at night on the PoE switch")
    at(6, 2)
    cases.start(agent, c2)
    at(6, 3)
    cases.escalate(agent, c2, "eng1", "needs on-site visit")
    at(6, 10)
    cases.resolve(eng1, c2, "Moved cameras to a second PoE switch", severity="high")
    cases.confirm(eng1, c2, 4)
    cases.close(eng1, c2)

    c3 = open_("c3", 7, "phone", "仓库摄像机时而离线，怀疑IP地址冲突")
    at(7, 0.5)
    cases.start(agent, c3)
    at(7, 1.5)
    cases.resolve(agent, c3, "改为固定IP", used="article:DEMO-A-03", severity="medium")
    cases.confirm(agent, c3, 3)
    cases.close(agent, c3)

    c4 = open_("c4", 12, "web", "更换交换机后该楼层摄像机全部离线")
    at(12, 1)
    cases.escalate(agent, c4, "eng2", "needs on-site visit")
    cases.set_delay(eng2, c4, "B")
    at(12, 30)
    cases.resolve(eng2, c4, "VLAN 配置修正", severity="critical")
    cases.confirm(eng2, c4, 2)  # confirmed, never closed

    c5 = open_("c5", 13, "onsite", "RAID degraded alarm R123-78 on the recorder")
    at(13, 4)
    cases.start(eng1, c5)
    cases.set_delay(eng1, c5, "C")
    cases.link_fix(eng1, c5, "article:DEMO-A-05", helpful=False)

    c6 = open_("c6", 14, "phone", "平台授权到期，无法添加新摄像机")
    at(14, 2)
    cases.escalate(agent, c6, "eng1", "R&D analysis")
    cases.link_fix(agent, c6, "article:DEMO-A-05", helpful=False)

    for n, (text, channel) in enumerate(zip(ELEVATOR, ("web", "web", "phone", "email"),
                                            strict=True)):
        open_(f"e{n + 1}", 19 + n, channel, text)
    clock.t = NOW
    return World(engine, cases, Reports(engine), people, ids, clock)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("KNOWNFIX_"):
                mp.delenv(name)
        clock = Clock(NOW)
        mp.setattr(service.cases, "now_utc", clock)
        engine = Engine(load_settings(str(tmp_path_factory.mktemp("reports")),
                                      model="hash:256", vector_backend="numpy"))
        load_demo(engine)
        # One article last touched long ago: stale.
        engine.kb.db.execute("UPDATE articles SET updated_at = '2026-01-02T00:00:00Z' "
                             "WHERE id = 'DEMO-A-10'")
        w = _script(engine, clock)
        yield w
        engine.close()


@pytest.fixture(scope="module")
def report(world: World) -> dict:
    return world.reports.summary(world.users["boss"], START, END, now=NOW)


# -- volume and outcomes -----------------------------------------------------------------------
def test_period_counts_only_cases_received_in_range(report: dict) -> None:
    # The 84 demo cases were imported "today" (after the period) and are left out.
    assert report["period"] == {"start": START, "end": END, "cases": 10}


def test_cases_by_channel_and_state(report: dict) -> None:
    assert report["volume"]["by_channel"] == {"phone": 4, "web": 3, "email": 2, "onsite": 1}
    assert report["volume"]["by_state"] == {"triaged": 4, "closed": 3, "confirmed": 1,
                                            "escalated": 1, "in_progress": 1}


def test_cases_by_severity_and_label_cover_every_case(report: dict) -> None:
    volume = report["volume"]
    assert sum(volume["by_severity"].values()) == 10
    assert volume["by_severity"]["high"] >= 2  # c1 and c2 were resolved as high
    assert {"category", "component"} <= set(volume["by_label"])
    for counts in volume["by_label"].values():
        assert sum(counts.values()) == 10


def test_first_contact_resolution_and_escalation(report: dict) -> None:
    out = report["outcomes"]
    assert out["resolved"] == 4
    assert out["first_contact_resolved"] == 2  # c1 and c3: a known fix, no escalation
    assert out["first_contact_rate"] == 0.5
    assert out["escalated"] == 3
    assert out["escalation_rate"] == 0.3
    assert out["escalation_reasons"] == {"needs on-site visit": 2, "R&D analysis": 1}
    assert out["escalation_targets"] == {"eng1": 2, "eng2": 1}
    assert out["delay_reasons"] == {"A": 0, "B": 1, "C": 1, "D": 0}


def test_time_to_first_response_and_resolution(report: dict) -> None:
    by_sev = {r["severity"]: r for r in report["timing"]["resolution_hours"]}
    assert by_sev["high"] == {"severity": "high", "n": 2, "median": 6.0, "p90": 9.2}
    assert by_sev["medium"]["median"] == 1.5
    assert by_sev["critical"]["median"] == 30.0
    # all four: 1.5, 2, 10, 30 hours
    assert by_sev["(all)"] == {"severity": "(all)", "n": 4, "median": 6.0, "p90": 24.0}
    first = {r["severity"]: r for r in report["timing"]["first_response_hours"]}
    # c1 1h, c2 2h, c3 0.5h, c4 1h (escalated), c5 4h (started), c6 2h (escalated)
    assert first["(all)"]["n"] == 6
    assert first["(all)"]["median"] == 1.5


def test_satisfaction(report: dict) -> None:
    assert report["satisfaction"] == {"n": 4, "mean": 3.5, "distribution": {
        "1": 0, "2": 1, "3": 1, "4": 1, "5": 1}}


def test_per_engineer_workload_and_outcomes(report: dict) -> None:
    people = {p["assignee"]: p for p in report["engineers"]}
    assert set(people) == {"agent", "eng1", "eng2"}
    assert people["agent"] == {"assignee": "agent", "cases": 2, "resolved": 2,
                               "escalated": 3, "escalated_to_them": 0,
                               "median_resolution_hours": 1.75, "mean_satisfaction": 4.0}
    assert people["eng1"] == {"assignee": "eng1", "cases": 3, "resolved": 1,
                              "escalated": 0, "escalated_to_them": 2,
                              "median_resolution_hours": 10.0, "mean_satisfaction": 4.0}
    assert people["eng2"] == {"assignee": "eng2", "cases": 1, "resolved": 1,
                              "escalated": 0, "escalated_to_them": 1,
                              "median_resolution_hours": 30.0, "mean_satisfaction": 2.0}


# -- knowledge health ------------------------------------------------------------------------
def test_link_rate_and_reuse(report: dict) -> None:
    k = report["knowledge"]
    assert (k["closed"], k["linked"]) == (3, 2)  # c1, c3 used a fix; c2 did not
    assert k["link_rate"] == round(2 / 3, 4)
    assert {a["id"]: a["uses"] for a in k["reuse"]} == {"article:DEMO-A-01": 1,
                                                        "article:DEMO-A-03": 1}


def test_unused_not_helpful_and_stale_articles(report: dict) -> None:
    k = report["knowledge"]
    never = {a["id"] for a in k["never_used"]}
    assert len(never) == 28  # 30 demo articles, two used
    assert "article:DEMO-A-01" not in never
    assert k["not_helpful"] == [{"id": "article:DEMO-A-05", "title": k["not_helpful"][0]
                                 ["title"], "count": 2}]
    assert [a["id"] for a in k["stale"]] == ["article:DEMO-A-10"]
    assert k["stale"][0]["last_reviewed"] == "2026-01-02"


def test_stale_days_is_a_parameter(world: World) -> None:
    k = world.reports.summary(world.users["boss"], START, END, stale_days=400,
                              now=NOW)["knowledge"]
    assert k["stale"] == [] and k["stale_days"] == 400


# -- gaps ----------------------------------------------------------------------------------
def test_gap_cases_about_one_unknown_fault_form_one_cluster(world: World,
                                                             report: dict) -> None:
    gaps = report["gaps"]
    elevator = sorted(world.ids[f"e{n}"] for n in range(1, 5))
    assert gaps["match_threshold"] == world.engine.settings.match_threshold
    top = gaps["clusters"][0]
    assert top["count"] == 4
    assert top["case_ids"] == elevator
    assert top["representative"] in elevator
    assert "intercom" in top["description"]
    others = [g for g in gaps["clusters"][1:] if set(g["case_ids"]) & set(elevator)]
    assert others == []
    assert [g["count"] for g in gaps["clusters"]] == sorted(
        (g["count"] for g in gaps["clusters"]), reverse=True)
    assert sum(g["count"] for g in gaps["clusters"]) == gaps["cases"]


def test_a_gap_is_a_triage_below_the_match_threshold(world: World, report: dict) -> None:
    threshold = world.engine.settings.match_threshold
    expected = set()
    for case_id in world.ids.values():
        if world.cases.get(case_id).triage.best_score < threshold:
            expected.add(case_id)
    clustered = {i for g in report["gaps"]["clusters"] for i in g["case_ids"]}
    assert clustered == expected


def test_cluster_takes_the_densest_centre_and_its_medoid() -> None:
    a, b = np.eye(3, dtype=np.float32)[0], np.eye(3, dtype=np.float32)[1]
    near_a = np.array([0.9, 0.1, 0.0], dtype=np.float32)
    near_a /= np.linalg.norm(near_a)
    vecs = np.stack([near_a, b, a, a])
    groups = cluster(vecs, 0.6)
    assert sorted(sorted(m) for m, _ in groups) == [[0, 2, 3], [1]]
    _, medoid = next(g for g in groups if len(g[0]) == 3)
    assert medoid in (2, 3)  # an exact copy of `a` is closest to the rest
    assert cluster(np.zeros((0, 3), np.float32), 0.6) == []


# -- weekly ------------------------------------------------------------------------------------
def test_weekly_counts_per_iso_week(world: World) -> None:
    weeks = world.reports.weekly(world.users["boss"], START, END)
    assert [(w["week"], w["opened"], w["resolved"], w["escalated"]) for w in weeks] == [
        ("2026-W40", 0, 0, 0), ("2026-W41", 3, 3, 1), ("2026-W42", 3, 1, 2),
        ("2026-W43", 4, 0, 0), ("2026-W44", 0, 0, 0)]
    assert weeks[0]["week_start"] == "2026-09-28"


# -- permissions and input ---------------------------------------------------------------------
@pytest.mark.parametrize("who", ["agent", "eng1"])
def test_only_managers_and_admins_see_reports(world: World, who: str, tmp_path: Path) -> None:
    actor = world.users[who]
    with pytest.raises(PermissionDenied):
        world.reports.summary(actor, START, END)
    with pytest.raises(PermissionDenied):
        world.reports.weekly(actor, START, END)
    with pytest.raises(PermissionDenied):
        world.reports.export(actor, START, END, "json", tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("start,end", [("2026-10-01", "2026-10-01"), ("October", "2026-11-01"),
                                       ("2026-10-01", "2026-13-01")])
def test_bad_periods_are_refused(world: World, start: str, end: str) -> None:
    with pytest.raises(BadInput):
        world.reports.summary(SYSTEM, start, end)


def test_unknown_format_is_refused(world: World, tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        world.reports.export(SYSTEM, START, END, "pdf", tmp_path / "r.pdf")


# -- export ------------------------------------------------------------------------------------
def test_export_json_round_trips(world: World, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    world.reports.export(world.users["boss"], START, END, "json", path, now=NOW)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["outcomes"]["escalation_rate"] == 0.3
    assert len(data["weekly"]) == 5


def test_export_csv_is_one_long_table(world: World, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    world.reports.export(world.users["boss"], START, END, "csv", path, now=NOW)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["section", "metric", "key", "value"]
    found = {(s, m, k): v for s, m, k, v in table[1:]}
    assert found[("volume", "by_channel", "phone")] == "4"
    assert found[("outcomes", "first_contact_rate", "")] == "0.5"
    assert found[("engineers", "resolved", "eng2")] == "1"
    assert found[("weekly", "opened", "2026-W43")] == "4"
    assert found[("timing", "resolution_hours.median", "(all)")] == "6.0"


def test_export_xlsx_has_a_sheet_per_section(world: World, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "r.xlsx"
    world.reports.export(world.users["boss"], START, END, "xlsx", path, now=NOW)
    book = load_workbook(path)
    assert book.sheetnames == ["period", "volume", "outcomes", "timing", "satisfaction",
                               "answers", "engineers", "knowledge", "gaps", "corrections",
                               "maintenance", "self_service", "weekly"]
    sheet = book["satisfaction"]
    cells = {(r[0], r[1]): r[2] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells[("mean", None)] == 3.5


def test_exports_neutralise_formulas(engine: Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    cases = Cases(engine)
    Users(engine.kb).add(SYSTEM, "eng", PASSWORD, "engineer")
    case = cases.open(SYSTEM, "=HYPERLINK(\"http://evil\",\"x\") printer offline",
                      channel="phone")
    cases.escalate(SYSTEM, case.id, "eng", "+1 escalate")
    legacy_assignee(engine, case.id, "=cmd|' /C calc'!A0")  # any text, before issue 10
    # the day it was received: now on the cases' clock (a module fixture may hold it still)
    today = datetime.fromisoformat(case.fields["received_at"].replace("Z", "+00:00")).date()
    start, end = today.isoformat(), (today + timedelta(days=1)).isoformat()
    reports = Reports(engine)
    reports.export(SYSTEM, start, end, "xlsx", tmp_path / "r.xlsx")
    book = load_workbook(tmp_path / "r.xlsx")
    texts = [c for ws in book for row in ws.iter_rows(values_only=True) for c in row
             if isinstance(c, str)]
    assert not [t for t in texts if t and t[0] in "=+-@"]
    assert "'=cmd|' /C calc'!A0" in texts
    buf = io.StringIO()
    reports.export(SYSTEM, start, end, "csv", buf)
    cells = [c for row in csv.reader(io.StringIO(buf.getvalue())) for c in row]
    assert "'+1 escalate" in cells
    assert not [c for c in cells if c and c[0] in "=+-@"]


def test_rows_flatten_nested_sections() -> None:
    data = {"volume": {"by_label": {"category": {"storage": 2}}},
            "gaps": {"clusters": [{"representative": "C1", "count": 2,
                                   "case_ids": ["C1", "C2"]}]}}
    assert rows(data) == [("volume", "by_label.category", "storage", 2),
                          ("gaps", "clusters.count", "C1", 2),
                          ("gaps", "clusters.case_ids", "C1", "C1 C2")]


# -- command line --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_dir(world: World) -> str:
    """The scripted data folder, with settings the command line will load."""
    return saved_for_cli(world.engine)


def test_cli_report_json(cli_dir: str) -> None:
    result = run_cli(["report", "--from", START, "--to", END, "--format", "json",
                   "--as", "boss", "--data-dir", cli_dir])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["period"]["cases"] == 10
    assert data["volume"]["by_channel"]["phone"] == 4
    assert data["outcomes"]["first_contact_rate"] == 0.5


def test_cli_report_csv_to_a_file_as_system(cli_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    result = run_cli(["report", "--from", START, "--to", END, "--format", "csv",
                   "--out", str(out), "--data-dir", cli_dir])
    assert result.exit_code == 0, result.output
    assert "10 cases" in result.stdout
    with open(out, encoding="utf-8-sig", newline="") as fh:
        found = {(s, m, k): v for s, m, k, v in list(csv.reader(fh))[1:]}
    assert found[("outcomes", "escalation_rate", "")] == "0.3"


def test_cli_report_csv_to_stdout(cli_dir: str) -> None:
    result = run_cli(["report", "--from", START, "--to", END, "--format", "csv",
                   "--data-dir", cli_dir])
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == ["section", "metric", "key", "value"]
    assert ["satisfaction", "mean", "", "3.5"] in table


@pytest.mark.parametrize("args,message", [
    (["--as", "agent"], "may not report.view"),
    (["--as", "nobody"], "unknown user 'nobody'"),
    (["--format", "pdf"], "unknown format 'pdf'"),
    (["--format", "xlsx"], "--format xlsx needs --out"),
    (["--from", "yesterday"], "not an ISO date"),
])
def test_cli_report_errors_are_one_line(cli_dir: str, args: list[str], message: str) -> None:
    result = run_cli(["report", "--from", START, "--to", END, "--data-dir", cli_dir, *args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.model
def test_gap_paraphrases_cluster_with_the_real_model(tmp_path: Path) -> None:
    """With the bundled model, differently worded reports of one unknown fault form one
    gap cluster, apart from unrelated faults."""
    from indexer.encoder import BUNDLED

    engine = Engine(load_settings(str(tmp_path), model=BUNDLED, vector_backend="numpy"))
    try:
        load_demo(engine)
        cases = Cases(engine)
        when = "2026-10-05T08:00:00+00:00"
        lift = [cases.open(SYSTEM, text, channel="phone", received_at=when).id for text in (
            "Elevator intercom has no sound, pressing call in the car does not reach the "
            "guard room",
            "Lift intercom silent: the call button in the lift car does not reach the "
            "control room",
            "The intercom in elevator 2 is dead, passengers cannot talk to security")]
        cases.open(SYSTEM, "The coffee machine in the lobby leaks water", received_at=when)
        report = Reports(engine).summary(SYSTEM, START, END)
    finally:
        engine.close()
    groups = [g for g in report["gaps"]["clusters"] if set(g["case_ids"]) & set(lift)]
    assert [(g["count"], g["case_ids"]) for g in groups] == [(3, sorted(lift))]


def test_weeks_are_the_teams_on_its_own_clock(tmp_path: Path) -> None:
    """Monday 01:00 in Shanghai is Sunday 17:00 UTC: the case belongs to the team's new
    week, not to the week before as a UTC calendar would have it."""
    engine = Engine(load_settings(str(tmp_path), model="hash:64", vector_backend="numpy",
                                  timezone="Asia/Shanghai"))
    try:
        boss = Users(engine.kb).add(SYSTEM, "boss", PASSWORD, "manager")
        case = Cases(engine).open(SYSTEM, "门禁刷卡没反应", received_at="2026-11-30 01:00")
        assert case.fields["received_at"] == "2026-11-29T17:00:00Z"
        weeks = Reports(engine).weekly(boss, "2026-11-23", "2026-12-07")
        assert [(w["week"], w["week_start"], w["opened"]) for w in weeks] == [
            ("2026-W48", "2026-11-23", 0), ("2026-W49", "2026-11-30", 1)]
    finally:
        engine.close()
