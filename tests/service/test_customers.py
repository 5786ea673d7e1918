"""Customer and asset records (issue 13), in the service layer: validation, finding,
merging, importing with a report, the case loop on them (intake fills from the asset, the
last service from its history, recurrence by asset), the service history, and personal
data in them redacted and reported like a case's."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

import service.auth
from errors import BadInput, MissingColumn, NotFound, PermissionDenied
from kb.exporter import export_csv
from service.auth import SYSTEM, User
from service.demo import load_demo, load_demo_customers
from service.desk import Desk
from service.privacy import personal_data_report
from settings import load_settings
from tests.helpers import small_kb_records

FAULT = "NVR提示硬盘错误，3号通道录像回放查不到"


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setattr(service.auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                                parallelism=1))
    d = Desk.open(load_settings(str(tmp_path / "data"), model="hash:256",
                                vector_backend="numpy", auto_tune=False))
    d.engine.upsert(small_kb_records())
    yield d
    d.close()


@pytest.fixture
def agent(desk: Desk) -> User:
    return desk.users.add(SYSTEM, "agent", "password-123", "first_line", "李娜")


@pytest.fixture
def boss(desk: Desk) -> User:
    return desk.users.add(SYSTEM, "boss", "password-123", "manager", "陈主管")


def day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


@pytest.fixture
def nvr(desk: Desk, agent: User):
    """A customer with one NVR in warranty."""
    c = desk.customers.add_customer(agent, "华东物流", [{"name": "赵先生", "phone": "13700001111",
                                                     "email": "zhao@example.com"}],
                                    address="上海市申港路88号", service_level="金牌")
    return desk.customers.add_asset(agent, c.id, "网络硬盘录像机", "NVR-4216", "NVR4216-A1580",
                                    "一楼弱电间", day(-300), day(65))


def events(desk: Desk, target: str) -> list[dict]:
    return [{**e, "detail": json.loads(e["detail"])} for e in desk.engine.kb.events(target)]


# -- writing and validation -------------------------------------------------------------------
def test_records_are_written_with_an_event_naming_fields_not_values(desk, agent, nvr):
    c = desk.customers.customer(nvr.customer_id)
    assert c.name == "华东物流" and c.contacts[0]["phone"] == "13700001111"
    assert (nvr.id, nvr.customer_id) == ("AS-1", "CU-1")
    added = events(desk, f"customer:{c.id}")
    assert [(e["actor"], e["action"]) for e in added] == [("agent", "customer:add")]
    assert "13700001111" not in json.dumps(added, ensure_ascii=False)
    desk.customers.edit_customer(agent, c.id, address="上海市浦东新区申港路88号")
    desk.customers.edit_customer(agent, c.id, address="上海市浦东新区申港路88号")  # no change
    edits = [e for e in events(desk, f"customer:{c.id}") if e["action"] == "customer:edit"]
    assert [e["detail"]["fields"] for e in edits] == [["address"]]
    assert desk.customers.customer(c.id).contacts == c.contacts  # kept when not given


@pytest.mark.parametrize(("change", "key"), [
    ({"installed_at": "2026-13-01"}, "record_date"),
    ({"warranty_end": "明年"}, "record_date"),
    ({"installed_at": "2026-05-01", "warranty_end": "2026-04-30"}, "asset_warranty_order"),
    ({"product": "", "model": "", "serial": ""}, "asset_empty"),
    ({"customer_id": "CU-404"}, "not_found"),
    ({"colour": "red"}, "record_fields"),
    ({"location": "x" * 501}, "record_too_long"),
])
def test_bad_asset_values_are_refused_and_nothing_changes(desk, agent, nvr, change, key):
    with pytest.raises((BadInput, NotFound)) as refused:
        desk.customers.edit_asset(agent, nvr.id, **change)
    assert refused.value.key == key
    assert desk.customers.asset(nvr.id) == nvr


@pytest.mark.parametrize(("contacts", "key"), [
    ([{"name": "赵", "phone": "call me"}], "contact_phone"),
    ([{"name": "赵", "email": "zhao-at-example"}], "contact_email"),
    ([{"name": "赵", "fax": "123456"}], "contact_form"),
])
def test_bad_contacts_and_names_are_refused(desk, agent, contacts, key):
    with pytest.raises(BadInput) as refused:
        desk.customers.add_customer(agent, "恒通超市", contacts)
    assert refused.value.key == key
    with pytest.raises(BadInput, match="needs a name"):
        desk.customers.add_customer(agent, "  ")
    assert desk.customers.find_customers() == []


def test_a_serial_belongs_to_one_live_asset(desk, agent, nvr):
    with pytest.raises(BadInput) as taken:
        desk.customers.add_asset(agent, nvr.customer_id, model="NVR-4216",
                                 serial=" nvr4216-a1580 ")
    assert taken.value.key == "asset_serial_taken" and taken.value.params["id"] == nvr.id
    twin = desk.customers.add_asset(agent, nvr.customer_id, model="NVR-4216", serial="TMP-1")
    boss = desk.users.add(SYSTEM, "boss2", "password-123", "manager")
    desk.customers.merge_assets(boss, twin.id, nvr.id)
    # the merged duplicate no longer holds its serial
    assert desk.customers.edit_asset(agent, nvr.id, serial="TMP-1").serial == "TMP-1"


def test_warranty_in_out_and_unknown(desk, agent, nvr):
    assert nvr.in_warranty(date.today()) is True
    assert nvr.in_warranty(date.today() + timedelta(days=66)) is False
    old = desk.customers.add_asset(agent, None, model="UPS-6KT")
    assert old.in_warranty(date.today()) is None


# -- finding ---------------------------------------------------------------------------------------
def test_find_by_serial_customer_and_model_name_or_contact(desk, agent, nvr):
    assert desk.customers.find_asset("nvr4216-a1580") == nvr
    assert desk.customers.find_asset("NVR4216") is None and desk.customers.find_asset("") is None
    assert desk.customers.find_assets(nvr.customer_id, "nvr-4216") == [nvr]
    assert desk.customers.find_assets(nvr.customer_id, "IPC-B420") == []
    other = desk.customers.add_customer(agent, "恒通超市", [{"name": "孙经理",
                                                            "phone": "13811112222"}])
    for text, expected in (("华东", ["华东物流"]), ("赵先生", ["华东物流"]),
                           ("1381111", ["恒通超市"]), ("zhao@EXAMPLE", ["华东物流"]),
                           ("%", []), ("", ["华东物流", "恒通超市"])):
        assert [c.name for c in desk.customers.find_customers(text)] == expected, text
    customers, assets = desk.customers.search(agent, "A1580")
    assert customers == [] and assets == [nvr]
    assert other.id in {c.id for c in desk.customers.search(agent, "")[0]}


# -- merging ------------------------------------------------------------------------------------
def test_merging_customers_moves_cases_and_assets_and_keeps_the_row(desk, agent, boss, nvr):
    dup = desk.customers.add_customer(agent, "华东物流公司")
    spare = desk.customers.add_asset(agent, dup.id, model="IPC-B420", serial="B420-1")
    case = desk.cases.open(agent, FAULT, customer_id=dup.id)
    with pytest.raises(PermissionDenied):
        desk.customers.merge_customers(agent, dup.id, nvr.customer_id)
    kept = desk.customers.merge_customers(boss, dup.id, nvr.customer_id)
    assert kept.id == nvr.customer_id
    assert desk.customers.customer(dup.id).id == kept.id  # old references still work
    assert desk.cases.get(case.id).fields["customer_id"] == kept.id
    assert desk.customers.asset(spare.id).customer_id == kept.id
    assert [c.id for c in desk.customers.find_customers("华东")] == [kept.id]
    row = desk.engine.kb.db.execute("SELECT merged_into FROM customers WHERE id = ?",
                                    [dup.id]).fetchone()
    assert row == (kept.id,)
    merge = events(desk, f"customer:{dup.id}")[-1]
    assert (merge["actor"], merge["action"], merge["detail"]) == (
        "boss", "customer:merge", {"into": kept.id, "cases": 1, "assets": 1})
    with pytest.raises(BadInput) as same:
        desk.customers.merge_customers(boss, dup.id, kept.id)  # dup is kept by now
    assert same.value.key == "merge_same"


def test_merging_assets_moves_their_cases(desk, agent, boss, nvr):
    dup = desk.customers.add_asset(agent, nvr.customer_id, model="NVR-4216", serial="A1580")
    case = desk.cases.open(agent, FAULT, asset_id=dup.id)
    desk.customers.merge_assets(boss, dup.id, nvr.id)
    assert desk.cases.get(case.id).fields["asset_id"] == nvr.id
    assert [h.case_id for h in desk.customers.history(nvr.id)] == [case.id]
    assert desk.customers.find_asset("A1580") is None


# -- the case loop ------------------------------------------------------------------------------
def test_intake_by_serial_fills_the_form_from_the_asset(desk, agent, nvr):
    case = desk.cases.open(agent, FAULT, channel="phone", asset_serial="nvr4216-a1580")
    f = case.fields
    assert (f["asset_id"], f["customer_id"]) == (nvr.id, nvr.customer_id)
    assert (f["product"], f["asset_model"], f["customer"]) == ("网络硬盘录像机", "NVR-4216",
                                                               "华东物流")
    assert f["asset_serial"] == "nvr4216-a1580"  # as typed
    typed = desk.cases.open(agent, FAULT, product="录像机", asset_serial="NVR4216-A1580")
    assert typed.fields["product"] == "录像机"  # what was typed stays
    unknown = desk.cases.open(agent, FAULT, asset_serial="SN-NOT-ON-RECORD")
    assert unknown.fields["asset_id"] is None and unknown.fields["customer_id"] is None


def test_intake_names_records_and_refuses_a_mismatch(desk, agent, nvr):
    other = desk.customers.add_customer(agent, "恒通超市")
    with pytest.raises(BadInput) as wrong:
        desk.cases.open(agent, FAULT, customer_id=other.id, asset_id=nvr.id)
    assert wrong.value.key == "intake_asset_customer"
    with pytest.raises(NotFound):
        desk.cases.open(agent, FAULT, asset_id="AS-404")
    case = desk.cases.open(agent, FAULT, asset_id=nvr.id)
    assert case.fields["customer_id"] == nvr.customer_id
    moved = desk.cases.update(agent, case.id, customer_id=nvr.customer_id, asset_id=nvr.id)
    assert moved.fields["asset_id"] == nvr.id


def test_history_newest_first_and_the_last_service_from_it(desk, agent, nvr):
    first = desk.cases.open(agent, "NVR风扇噪音大", asset_id=nvr.id,
                            received_at="2026-01-05 09:00")
    desk.cases.resolve(agent, first.id, "清理风扇灰尘")
    second = desk.cases.open(agent, "NVR前面板报警灯常亮", asset_id=nvr.id,
                             received_at="2026-02-01 09:00")
    history = desk.customers.history(nvr.id)
    assert [h.case_id for h in history] == [second.id, first.id]
    assert history[1].fix == "清理风扇灰尘" and history[1].resolved_at
    assert second.fields["last_service_at"] == history[1].resolved_at
    typed = desk.cases.open(agent, "NVR无法开机", asset_id=nvr.id,
                            last_service_at="2025-12-01 10:00")
    assert typed.fields["last_service_at"] == "2025-12-01T10:00:00Z"  # typed wins


def test_recurrence_follows_the_asset_not_the_typed_serial(desk, agent, nvr):
    first = desk.cases.open(agent, FAULT, asset_id=nvr.id)
    again = desk.cases.open(agent, FAULT + "，回放为空", asset_id=nvr.id,
                            asset_serial="A1580（客户口述）")
    assert again.fields["recurrence_of"] == first.id
    other = desk.customers.add_asset(agent, nvr.customer_id, model="NVR-4216", serial="B-77")
    elsewhere = desk.cases.open(agent, FAULT + "，回放为空", asset_id=other.id,
                                asset_serial=nvr.serial)
    assert elsewhere.fields["recurrence_of"] is None  # the same serial text, another asset
    plain = desk.cases.open(agent, FAULT, asset_serial="SN-X")
    plain2 = desk.cases.open(agent, FAULT + "，回放为空", asset_serial="SN-X")
    assert plain.fields["asset_id"] is None
    assert plain2.fields["recurrence_of"] == plain.id  # no record: the string match


# -- import --------------------------------------------------------------------------------------
def test_import_takes_good_rows_and_reports_the_rest(desk, boss, agent, tmp_path):
    customers = tmp_path / "客户.csv"
    customers.write_text(
        "客户编号,客户名称,联系人,电话,邮箱,地址,服务级别\n"
        "K1,华东物流,赵先生;值班室,13700001111;021-50001234,zhao@example.com,上海,金牌\n"
        "K2,,孙经理,13811112222,,杭州,\n"
        "K3,恒通超市,孙经理,not-a-phone,,杭州,\n"
        "K1,华东物流二,,,,,\n", encoding="utf-8")
    with pytest.raises(PermissionDenied):
        desk.customers.import_file(agent, customers, "customer")
    report = desk.customers.import_file(boss, customers, "customer")
    assert report.taken == 1
    assert [(r.row, r.error.key) for r in report.rejected] == [
        (2, "customer_name"), (3, "contact_phone"), (4, "import_duplicate")]
    k1 = desk.customers.customer("K1")
    assert [c["name"] for c in k1.contacts] == ["赵先生", "值班室"]
    assert k1.contacts[1] == {"name": "值班室", "phone": "021-50001234", "email": ""}
    assets = tmp_path / "设备.csv"
    assets.write_text(
        "序列号,型号,产品,客户,安装日期,三包期\n"
        "SN-1,NVR-4216,录像机,K1,2025-01-01,2027-01-01\n"
        "SN-2,IPC-B420,摄像机,华东物流,2025-01-01,2024-01-01\n"
        "SN-3,IPC-B420,摄像机,没有这个客户,,\n"
        "SN-1,NVR-4216,录像机,K1,,\n"
        "SN-4,IPC-B420,摄像机,K1,2025/03/01,\n", encoding="utf-8")
    report = desk.customers.import_file(boss, assets, "asset")
    assert report.taken == 2
    assert [(r.row, r.error.key) for r in report.rejected] == [
        (2, "asset_warranty_order"), (3, "import_customer"), (4, "asset_serial_taken")]
    assert desk.customers.find_asset("SN-4").installed_at == "2025-03-01"
    logged = desk.engine.kb.events(f"file:{assets.name}")
    assert [(e["actor"], e["action"]) for e in logged] == [("boss", "asset:import")]


def test_an_import_updates_known_ids_and_refuses_a_file_without_the_columns(desk, boss,
                                                                              tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,name,address\nK1,华东物流,上海\n", encoding="utf-8")
    desk.customers.import_file(boss, path, "customer")
    path.write_text("id,name,address\nK1,,浦东\n", encoding="utf-8")
    assert desk.customers.import_file(boss, path, "customer").taken == 1
    assert (desk.customers.customer("K1").name, desk.customers.customer("K1").address) == (
        "华东物流", "浦东")
    path.write_text("编号,颜色\n1,红\n", encoding="utf-8")
    with pytest.raises(MissingColumn):
        desk.customers.import_file(boss, path, "customer")


# -- personal data ----------------------------------------------------------------------------
def test_personal_data_of_records_is_redacted_and_reported(desk, agent, nvr):
    case = desk.cases.open(agent, "华东物流赵先生来电：NVR4216-A1580 报硬盘错误，"
                                  "地址上海市申港路88号", asset_id=nvr.id)
    desk.cases.resolve(agent, case.id, "赵先生确认更换硬盘后正常")
    closed = desk.cases.close(agent, case.id)
    article = desk.knowledge.get(closed.article_id)
    drafted = article.title + article.symptoms + article.resolution
    for leak in ("赵先生", "华东物流", "NVR4216-A1580", "申港路88号"):
        assert leak not in drafted, leak
    out = io.StringIO()
    export_csv(desk.engine.kb, out, "case", redact=True)
    assert "赵先生" not in out.getvalue() and "NVR4216-A1580" not in out.getvalue()
    by = {(r["table"], r["column"]): r for r in personal_data_report(desk.engine.kb)}
    assert by[("customers", "name")]["personal"] == "name"
    assert by[("customers", "contacts")]["phone"] == 1
    assert by[("customers", "contacts")]["email"] == 1
    assert by[("customers", "address")]["personal"] == "address"
    assert (by[("assets", "serial")]["personal"], by[("assets", "serial")]["with_value"]) == (
        "serial", 1)
    assert "13700001111" not in json.dumps(list(by.values()))


# -- demo ----------------------------------------------------------------------------------------
def test_the_demo_customers_and_assets_link_to_demo_cases(desk):
    load_demo(desk.engine, only_if_empty=False)
    reports = load_demo_customers(desk.customers)
    assert reports["customers"].taken == 5 and not reports["customers"].rejected
    assert reports["assets"].taken == 9 and not reports["assets"].rejected
    assert load_demo_customers(desk.customers) == {}  # once
    nvr = desk.customers.find_asset("NVR4216-A1580")
    assert [h.case_id for h in desk.customers.history(nvr.id)] == [
        "DEMO-C-022", "DEMO-C-004", "DEMO-C-003"]
    today = desk.customers.today()
    states = {a.in_warranty(today) for a in desk.customers.search_assets()}
    assert states == {True, False, None}


def test_assets_import_from_excel(desk, boss, nvr, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["设备档案（2026年）"])  # a title row above the header
    sheet.append(["客户", "型号", "序列号", "安装日期", "三包期截止"])
    sheet.append(["华东物流", "IPC-B420", "B420-1", date(2025, 3, 1), date(2027, 2, 28)])
    sheet.append(["华东物流", "IPC-B420", "", "2025-03-01", "去年"])
    path = tmp_path / "设备.xlsx"
    book.save(path)
    report = desk.customers.import_file(boss, path, "asset")
    assert report.taken == 1 and report.header_row == 2
    assert [(r.row, r.error.key) for r in report.rejected] == [(2, "record_date")]
    found = desk.customers.find_asset("b420-1")
    assert (found.customer_id, found.installed_at, found.warranty_end) == (
        nvr.customer_id, "2025-03-01", "2027-02-28")
