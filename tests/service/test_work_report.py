"""The per-case work report (工作报表): a scripted October of a support team goes through
the service loop, and the report must list exactly the cases worked in the period, with
what was recorded on each; imported history stays out of period statistics unless asked
for."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

import service.cases
from errors import BadInput, PermissionDenied
from service.auth import SYSTEM, User, Users
from service.cases import Cases
from service.demo import load_demo
from service.engine import Engine
from service.reports import Reports
from service.work_report import COLUMNS, WorkFilter
from settings import load_settings
from tests.helpers import Clock, run_cli, saved_for_cli
from ui.i18n import message

START, END = "2026-10-01", "2026-11-01"

NOW = datetime(2026, 11, 20, tzinfo=UTC)
PASSWORD = "correct horse"


@dataclass
class World:
    engine: Engine
    reports: Reports
    users: dict[str, User]
    ids: dict[str, str]


def _script(engine: Engine, clock: Clock) -> World:
    """Five cases: three worked in October (one received in September but resolved in
    October), one done in September and one received in November."""
    users = Users(engine.kb)
    people = {name: users.add(SYSTEM, name, PASSWORD, role, display) for name, role, display in (
        ("agent", "first_line", "李娜"), ("wang", "engineer", "王工"),
        ("zhao", "engineer", "赵工"), ("boss", "manager", "陈主管"))}
    agent, wang, zhao = people["agent"], people["wang"], people["zhao"]
    cases = Cases(engine)
    ids: dict[str, str] = {}

    def at(when: datetime) -> None:
        clock.t = when

    def open_(name: str, when: datetime, text: str, **intake: str) -> str:
        at(when)
        ids[name] = cases.open(agent, text, received_at=clock(), **intake).id
        return ids[name]

    oct5 = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
    k1 = open_("nvr", oct5, "NVR提示硬盘错误，最近两天的录像查不到", channel="phone",
               customer="城西物流园", product="DS-7716N 网络硬盘录像机",
               asset_serial="NVR-2025-00871", title="NVR硬盘错误")
    at(oct5 + timedelta(hours=1))
    cases.escalate(agent, k1, "wang", "需要上门更换硬盘")
    at(oct5 + timedelta(hours=20))
    cases.record_service(wang, k1, "硬盘坏道", "更换硬盘并重建录像计划",
                         ["4TB 监控硬盘", "SATA 数据线"], "录像恢复正常")
    cases.resolve(wang, k1, "更换4TB监控硬盘，重建录像计划", severity="high")
    cases.confirm(wang, k1, 5)
    at(oct5 + timedelta(days=1))
    cases.close(wang, k1)
    at(oct5 + timedelta(days=8))
    cases.follow_up(agent, k1, "solved", note="客户反馈一周内无异常")

    oct12 = datetime(2026, 10, 12, 14, 0, tzinfo=UTC)
    k2 = open_("switch", oct12, "更换交换机后三楼摄像机全部离线", channel="email",
               customer="华南酒店", product="PoE 交换机", asset_serial="SW-8844")
    at(oct12 + timedelta(hours=2))
    cases.dispatch(people["boss"], k2, "zhao", "2026-10-13T09:00:00Z", "华南酒店三楼弱电间")
    cases.set_delay(zhao, k2, "B", "备件未到")

    sep20 = datetime(2026, 9, 20, 8, 0, tzinfo=UTC)
    k3 = open_("licence", sep20, "平台授权到期，无法添加新摄像机", channel="web",
               customer="城西物流园二期")
    at(sep20 + timedelta(hours=3))
    cases.escalate(agent, k3, "wang", "需要研发重新签发授权")
    at(datetime(2026, 10, 3, 10, 0, tzinfo=UTC))
    cases.resolve(wang, k3, "研发重新签发授权文件并导入")

    sep10 = datetime(2026, 9, 10, 8, 0, tzinfo=UTC)
    k4 = open_("september", sep10, "客户端登录提示密码错误", channel="phone",
               customer="城西物流园")
    at(sep10 + timedelta(hours=1))
    cases.start(agent, k4)
    cases.resolve(agent, k4, "重置密码")
    cases.close(agent, k4)

    open_("november", datetime(2026, 11, 3, 8, 0, tzinfo=UTC), "门禁控制器离线，刷卡无反应",
          channel="onsite", customer="城西物流园")
    clock.t = NOW
    return World(engine, Reports(engine), people, ids)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("KNOWNFIX_"):
                mp.delenv(name)
        clock = Clock(NOW)
        mp.setattr(service.cases, "now_utc", clock)
        engine = Engine(load_settings(str(tmp_path_factory.mktemp("work")),
                                      model="hash:256", vector_backend="numpy"))
        load_demo(engine)  # 84 imported cases, received "today" as far as the KB knows
        yield _script(engine, clock)
        engine.close()


def _ids(rows) -> list[str]:
    return [r.case for r in rows]


def _today() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return today.isoformat(), (today + timedelta(days=1)).isoformat()


# -- rows ---------------------------------------------------------------------------------------
def test_every_case_worked_in_the_period_and_no_other(world: World) -> None:
    rows = world.reports.work_report(world.users["boss"], START, END)
    ids = world.ids
    # received in September, resolved in October: worked in October; oldest received first
    assert _ids(rows) == [ids["licence"], ids["nvr"], ids["switch"]]


def test_a_row_holds_what_was_recorded_on_the_case(world: World) -> None:
    row = next(r for r in world.reports.work_report(world.users["boss"], START, END)
               if r.case == world.ids["nvr"])
    assert (row.customer, row.channel, row.product, row.serial) == (
        "城西物流园", "phone", "DS-7716N 网络硬盘录像机", "NVR-2025-00871")
    assert (row.engineer, row.state, row.title) == ("王工", "closed", "NVR硬盘错误")
    assert row.received == datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
    assert row.responded == datetime(2026, 10, 5, 10, 30, tzinfo=UTC)
    assert row.resolved == datetime(2026, 10, 6, 5, 30, tzinfo=UTC)
    assert row.closed == datetime(2026, 10, 6, 9, 30, tzinfo=UTC)
    assert (row.cause, row.fix, row.parts) == ("硬盘坏道", "更换4TB监控硬盘，重建录像计划",
                                               "4TB 监控硬盘、SATA 数据线")
    assert (row.satisfaction, row.follow_outcome, row.follow_note) == (5, "solved",
                                                                  "客户反馈一周内无异常")
    switch = next(r for r in world.reports.work_report(world.users["boss"], START, END)
                  if r.case == world.ids["switch"])
    assert (switch.engineer, switch.delay_code, switch.delay_note) == ("赵工", "B", "备件未到")
    assert (switch.resolved, switch.closed, switch.satisfaction) == (None, None, None)


def test_cells_say_codes_in_the_language(world: World) -> None:
    from service.work_report import cells

    switch = next(r for r in world.reports.work_report(world.users["boss"], START, END)
                  if r.case == world.ids["switch"])
    zh, en = cells(switch, "zh"), cells(switch, "en")
    assert (zh["channel"], zh["state"]) == ("邮件", "已分诊")
    assert zh["delay"] == "人力配备或材料不足 备件未到"
    assert (en["channel"], en["state"]) == ("E-mail", "Triaged")
    assert zh["received"] == datetime(2026, 10, 12, 14, 0)  # naive, in the zone (UTC)


@pytest.mark.parametrize("found,names", [
    (WorkFilter(engineer="wang"), ["licence", "nvr"]),
    (WorkFilter(engineer="zhao"), ["switch"]),
    (WorkFilter(customer="城西"), ["licence", "nvr"]),
    (WorkFilter(customer="二期"), ["licence"]),
    (WorkFilter(channel="email"), ["switch"]),
    (WorkFilter(state="closed"), ["nvr"]),
    (WorkFilter(state="resolved"), ["licence"]),
    (WorkFilter(engineer="wang", channel="phone"), ["nvr"]),
    (WorkFilter(customer="华南", state="closed"), []),
    (WorkFilter(engineer="nobody"), []),
])
def test_filters(world: World, found: WorkFilter, names: list[str]) -> None:
    rows = world.reports.work_report(world.users["boss"], START, END, found)
    assert _ids(rows) == [world.ids[n] for n in names]


@pytest.mark.parametrize("found,key", [(WorkFilter(channel="fax"), "work_channel"),
                                       (WorkFilter(state="done"), "work_state")])
def test_unknown_channel_or_state_is_refused(world: World, found: WorkFilter,
                                            key: str) -> None:
    with pytest.raises(BadInput) as err:
        world.reports.work_report(world.users["boss"], START, END, found)
    assert err.value.key == key


# -- imported history -----------------------------------------------------------------------------
def test_imported_history_is_left_out_of_period_statistics_unless_asked(world: World) -> None:
    """The demo's 84 cases were imported today (no project): today's period holds none of
    the desk's cases, so every count is the imported ones' or nothing."""
    boss, reports = world.users["boss"], world.reports
    start, end = _today()
    assert reports.work_report(boss, start, end) == []
    assert reports.summary(boss, start, end)["period"]["cases"] == 0
    assert sum(w["opened"] for w in reports.weekly(boss, start, end)) == 0
    assert sum(w["cases"] for w in reports.coverage(boss, start, end)["weeks"]) == 0

    rows = reports.work_report(boss, start, end, include_imported=True)
    assert len(rows) == 84 and all(r.case.startswith("DEMO-C-") for r in rows)
    demo = next(r for r in rows if r.case == "DEMO-C-001")
    assert (demo.channel, demo.product) == ("phone", "DS-2CD2143G2-I")  # its own columns
    summary = reports.summary(boss, start, end, include_imported=True)
    assert summary["period"]["cases"] == 84
    assert sum(w["opened"] for w in reports.weekly(boss, start, end, True)) == 84
    assert sum(w["cases"] for w in reports.coverage(boss, start, end, True)["weeks"]) == 84


def test_the_desk_cases_count_alone_in_their_period(world: World) -> None:
    summary = world.reports.summary(world.users["boss"], START, END)
    assert summary["period"]["cases"] == 2  # received in October
    assert "(none)" not in summary["volume"]["by_channel"]


# -- permissions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["agent", "wang"])
def test_only_managers_and_admins_get_the_work_report(world: World, who: str,
                                                     tmp_path: Path) -> None:
    actor = world.users[who]
    with pytest.raises(PermissionDenied):
        world.reports.work_report(actor, START, END)
    with pytest.raises(PermissionDenied):
        world.reports.work_report_xlsx(actor, START, END, "zh", tmp_path / "w.xlsx")
    with pytest.raises(PermissionDenied):
        world.reports.work_report_csv(actor, START, END, "zh", tmp_path / "w.csv")
    assert list(tmp_path.iterdir()) == []


def test_bad_period_is_refused(world: World) -> None:
    with pytest.raises(BadInput):
        world.reports.work_report(world.users["boss"], "2026-10-01", "十月")


# -- files --------------------------------------------------------------------------------
def test_the_excel_workbook(world: World, tmp_path: Path) -> None:
    path = tmp_path / "工作报表.xlsx"
    rows = world.reports.work_report_xlsx(world.users["boss"], START, END, "zh", path)
    book = load_workbook(path)
    assert book.sheetnames[0] == "工作报表"
    assert book.sheetnames[1:] == [message(f"rep.sheet_{s}", "zh") for s in (
        "period", "volume", "outcomes", "timing", "satisfaction", "answers", "engineers",
        "knowledge", "gaps", "corrections", "maintenance", "self_service", "weekly")]
    sheet = book["工作报表"]
    header = [c.value for c in sheet[1]]
    assert header[:8] == ["工单号", "标题", "客户", "受理渠道", "产品", "设备序列号", "工程师",
                          "状态"]
    assert "出单时间 (UTC)" in header and "结案时间 (UTC)" in header
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "B2"
    assert sheet.column_dimensions["N"].width > sheet.column_dimensions["D"].width
    table = [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2,
                                                                       values_only=True)]
    assert [r["工单号"] for r in table] == _ids(rows) == [
        world.ids[n] for n in ("licence", "nvr", "switch")]
    nvr = table[1]
    assert nvr["出单时间 (UTC)"] == datetime(2026, 10, 5, 9, 30)
    assert isinstance(nvr["结案时间 (UTC)"], datetime)
    assert (nvr["受理渠道"], nvr["状态"], nvr["工程师"]) == ("电话", "已结案", "王工")
    assert nvr["满意度"] == 5
    assert nvr["所用备件"] == "4TB 监控硬盘、SATA 数据线"
    assert nvr["客服回访"] == "已解决 客户反馈一周内无异常"
    assert table[2]["结案时间 (UTC)"] is None
    assert book["工单量"]["A1"].value == "指标"


def test_the_excel_workbook_in_english(world: World, tmp_path: Path) -> None:
    path = tmp_path / "work.xlsx"
    world.reports.work_report_xlsx(world.users["boss"], START, END, "en", path,
                                   WorkFilter(engineer="zhao"))
    book = load_workbook(path)
    sheet = book["Work report"]
    assert [c.value for c in sheet[1]][:3] == ["Case number", "Title", "Customer"]
    assert sheet.max_row == 2 and sheet["A2"].value == world.ids["switch"]
    assert "Weekly" in book.sheetnames


def test_the_csv_has_a_bom_and_chinese_headers(world: World, tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    world.reports.work_report_csv(world.users["boss"], START, END, "zh", path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == [message(k, "zh") + (" (UTC)" if n in ("received", "responded",
                                                              "resolved", "closed") else "")
                        for n, k, _ in COLUMNS]
    assert [r[0] for r in table[1:]] == [world.ids[n] for n in ("licence", "nvr", "switch")]
    assert table[2][8] == "2026-10-05 09:30"


def test_text_a_spreadsheet_would_run_is_neutralised(world: World, tmp_path: Path) -> None:
    cases = Cases(world.engine)
    when = "2026-10-20T08:00:00Z"
    bad = cases.open(world.users["agent"], "=HYPERLINK(\"http://evil\",\"x\") 打印机离线",
                     customer="=cmd|' /C calc'!A0", received_at=when).id
    try:
        path = tmp_path / "w.xlsx"
        world.reports.work_report_xlsx(world.users["boss"], START, END, "zh", path)
        texts = [c for row in load_workbook(path)["工作报表"].iter_rows(values_only=True)
                 for c in row if isinstance(c, str)]
        assert "'=cmd|' /C calc'!A0" in texts
        assert not [t for t in texts if t[0] in "=+-@"]
        buf = io.StringIO()
        world.reports.work_report_csv(world.users["boss"], START, END, "zh", buf)
        assert "'=cmd|' /C calc'!A0" in buf.getvalue()
    finally:
        world.engine.kb.delete("case", bad)


def test_a_column_that_is_not_json_does_not_break_the_report(world: World) -> None:
    """A hand-edited or damaged row (received before the period, so its JSON columns are
    what decide): the report still answers."""
    case = Cases(world.engine).open(world.users["agent"], "硬盘录像机无法开机",
                                    received_at="2026-09-25T08:00:00Z").id
    world.engine.kb.db.execute("UPDATE cases SET delay = '{not json', escalation = '[', "
                               "extra = 'x' WHERE id = ?", [case])
    try:
        boss = world.users["boss"]
        assert _ids(world.reports.work_report(boss, START, END)) == [
            world.ids[n] for n in ("licence", "nvr", "switch")]
        assert world.reports.work_report(boss, START, END, WorkFilter(customer="城北")) == []
        assert sum(w["escalated"] for w in world.reports.weekly(boss, START, END)) == 1
    finally:
        world.engine.kb.delete("case", case)


# -- command line -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_dir(world: World) -> str:
    """The scripted data folder, with settings the command line will load."""
    return saved_for_cli(world.engine)


def test_cli_work_report_xlsx(world: World, cli_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "w.xlsx"
    result = run_cli(["report", "work", "--from", START, "--to", END, "--format", "xlsx",
                   "--out", str(out), "--as", "boss", "--data-dir", cli_dir])
    assert result.exit_code == 0, result.output
    assert "3 cases" in result.stdout
    sheet = load_workbook(out)["工作报表"]
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        world.ids[n] for n in ("licence", "nvr", "switch")]


def test_cli_work_report_csv_filtered_in_english(world: World, cli_dir: str,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "w.csv"
    result = run_cli(["report", "work", "--from", START, "--to", END, "--format", "csv",
                   "--engineer", "wang", "--customer", "城西", "--state", "closed",
                   "--lang", "en", "--out", str(out), "--data-dir", cli_dir])
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0][0] == "Case number"
    assert [r[0] for r in table[1:]] == [world.ids["nvr"]]


def test_cli_include_imported(cli_dir: str, tmp_path: Path) -> None:
    start, end = _today()
    out = tmp_path / "w.csv"
    base = ["report", "work", "--from", start, "--to", end, "--format", "csv",
            "--out", str(out), "--data-dir", cli_dir]
    assert "of 0 cases" in run_cli(base).stdout
    assert "of 84 cases" in run_cli([*base, "--include-imported"]).stdout


@pytest.mark.parametrize("args,said", [
    (["--as", "agent"], "may not report.view"),
    (["--channel", "fax"], "unknown channel 'fax'"),
    (["--state", "done"], "unknown state 'done'"),
    (["--format", "pdf"], "unknown format 'pdf'"),
    (["--lang", "fr"], "unknown language 'fr'"),
    (["--from", "yesterday"], "not an ISO date"),
])
def test_cli_work_report_errors_are_one_line(cli_dir: str, tmp_path: Path, args: list[str],
                                             said: str) -> None:
    out = tmp_path / "w.xlsx"
    result = run_cli(["report", "work", "--from", START, "--to", END, "--out", str(out),
                   "--data-dir", cli_dir, *args])
    assert result.exit_code == 1, result.output
    assert said in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
