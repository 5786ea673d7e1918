"""Parts and charges to finance (issue 13): the parts catalogue is imported row by row
with reasons; a case's parts keep the price of the day they were used; parts are free
in warranty (the case's asset decides) and charged, saying why, otherwise; closing a
case bills what it charges in the close's own transaction, and a case reopened and
closed again bills only what was added; bad values are refused with clear errors; the
billing export for finance."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from openpyxl import Workbook, load_workbook

import service.auth
import service.cases
import service.charges
from errors import BadInput, InvalidTransition, MissingColumn, NotFound, PermissionDenied
from service.auth import SYSTEM, User
from service.charges import parse_money, parse_quantity
from service.desk import Desk
from settings import load_settings
from tests.helpers import Clock, small_kb_records

PASSWORD = "password-123"
FAULT = "NVR提示硬盘错误，录像回放查不到"
CATALOGUE = """备件编码,备件名称,单位,单价
HD-4T,4TB 监控硬盘,块,680
SATA-1,SATA 数据线,根,12.5
PSU-12V,12V 电源适配器,个,"1,050.00"
"""
RECEIVED = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Every stamp the cases and charges write, on a clock the test moves."""
    c = Clock(RECEIVED)
    monkeypatch.setattr(service.cases, "now_utc", c)
    monkeypatch.setattr(service.charges, "now_utc", c)
    return c


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Iterator[Desk]:
    monkeypatch.setattr(service.auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                                parallelism=1))
    d = Desk.open(load_settings(str(tmp_path / "data"), model="hash:256",
                                vector_backend="numpy"))
    d.engine.upsert(small_kb_records())
    yield d
    d.close()


@pytest.fixture
def people(desk: Desk) -> dict[str, User]:
    return {name: desk.users.add(SYSTEM, name, PASSWORD, role, display)
            for name, role, display in (("agent", "first_line", "李娜"),
                                        ("wang", "engineer", "王工"),
                                        ("boss", "manager", "陈主管"))}


@pytest.fixture
def catalogue(desk: Desk, tmp_path: Path) -> Path:
    path = tmp_path / "备件.csv"
    path.write_text(CATALOGUE, encoding="utf-8")
    report = desk.charges.import_parts(SYSTEM, path)
    assert (report.taken, report.rejected) == (3, [])
    return path


def customer_with_asset(desk: Desk, warranty_end: str | None) -> tuple[str, str]:
    """A customer and an asset (warranty end as given) as the customer records hold
    them; returns their ids."""
    db = desk.engine.kb.db
    db["customers"].insert({"id": "CU-1", "name": "城西物流园", "created_at": "2026-01-01"})
    db["assets"].insert({"id": "AS-1", "customer_id": "CU-1", "product": "NVR",
                         "model": "DS-7716N", "serial": "NVR-001",
                         "warranty_end": warranty_end})
    return "CU-1", "AS-1"


def open_case(desk: Desk, people: dict[str, User], asset: str | None = None,
              customer_id: str | None = None) -> str:
    """A case received on RECEIVED, worked by wang, pointing at the asset if given."""
    case = desk.cases.open(people["agent"], FAULT, channel="phone", customer="城西物流园",
                           received_at=RECEIVED.isoformat())
    if asset or customer_id:  # as intake links them (the customer records' part)
        desk.engine.kb.update("case", case.id, {"asset_id": asset, "customer_id": customer_id},
                              "agent", "update")
    desk.cases.start(people["wang"], case.id)
    return case.id


def resolve_and_close(desk: Desk, people: dict[str, User], case_id: str) -> None:
    desk.cases.resolve(people["wang"], case_id, "更换硬盘")
    desk.cases.close(people["wang"], case_id)


# -- the catalogue ------------------------------------------------------------------------------
def test_the_catalogue_is_imported_with_prices_in_cents(desk: Desk, catalogue: Path) -> None:
    parts = {p.code: p for p in desk.charges.parts(SYSTEM)}
    assert (parts["HD-4T"].name, parts["HD-4T"].unit, parts["HD-4T"].price) == (
        "4TB 监控硬盘", "块", 68000)
    assert parts["SATA-1"].price == 1250 and parts["PSU-12V"].price == 105000
    # found by a part of the code or of the name, any letter case
    assert [p.code for p in desk.charges.parts(SYSTEM, "hd-")] == ["HD-4T"]
    assert [p.code for p in desk.charges.parts(SYSTEM, "电源")] == ["PSU-12V"]
    assert desk.charges.parts(SYSTEM, "100%") == []
    assert desk.charges.part(SYSTEM, "sata-1").code == "SATA-1"


def test_each_row_is_taken_or_said_why_not(desk: Desk, tmp_path: Path) -> None:
    path = tmp_path / "parts.csv"
    path.write_text("code,name,unit,price\n"
                    "OK-1,好的备件,个,10\n"
                    "BAD-1,三位小数,个,12.345\n"
                    "BAD-2,不是数字,个,十二元\n"
                    "BAD-3,负数,个,-5\n"
                    ",没有编码,个,1\n"
                    "BAD-4,,个,1\n"
                    "ok-1,重复的编码,个,11\n"
                    "OK-2,零价备件,,0\n", encoding="utf-8")
    report = desk.charges.import_parts(SYSTEM, path)
    assert report.taken == 2
    why = {r.row: r.error.key for r in report.rejected}
    assert why == {2: "charge_money", 3: "charge_money", 4: "charge_money",
                   5: "parts_no_code", 6: "parts_no_name", 7: "parts_duplicate"}
    assert "12.345" in next(r.reason for r in report.rejected if r.row == 2)
    assert {p.code: p.price for p in desk.charges.parts(SYSTEM)} == {"OK-1": 1000, "OK-2": 0}
    assert desk.engine.kb.events("parts")[-1]["action"] == "parts:import"


def test_an_excel_catalogue_with_its_own_column_names(desk: Desk, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["2026 年备件价格表"])  # a title row above the header
    sheet.append(["料号", "物料描述", "计量单位", "含税单价"])
    sheet.append(["CAM-2M", "200万像素半球摄像机", "台", 399.9])
    sheet.append(["CBL-5", "超五类网线", "米", 2])
    path = tmp_path / "价格表.xlsx"
    book.save(path)
    report = desk.charges.import_parts(SYSTEM, path, {"name": "物料描述", "unit": "计量单位",
                                                      "price": "含税单价"})
    assert (report.taken, report.rejected, report.header_row) == (2, [], 2)
    assert {p.code: p.price for p in desk.charges.parts(SYSTEM)} == {"CAM-2M": 39990,
                                                                     "CBL-5": 200}


def test_a_file_without_a_price_column_is_refused_whole(desk: Desk, tmp_path: Path) -> None:
    path = tmp_path / "parts.csv"
    path.write_text("编码,名称\nA,甲\n", encoding="utf-8")
    with pytest.raises(MissingColumn) as missing:
        desk.charges.import_parts(SYSTEM, path)
    assert missing.value.key == "parts_columns" and "price" in str(missing.value)
    with pytest.raises(BadInput) as unknown:
        desk.charges.import_parts(SYSTEM, path, {"colour": "名称"})
    assert unknown.value.key == "parts_field"
    assert desk.charges.parts(SYSTEM) == []


def test_only_managers_and_admins_import_the_catalogue(desk: Desk, people, tmp_path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(CATALOGUE, encoding="utf-8")
    with pytest.raises(PermissionDenied):
        desk.charges.import_parts(people["wang"], path)
    assert desk.charges.import_parts(people["boss"], path).taken == 3


# -- a case's parts and charges -----------------------------------------------------------------
def test_the_price_of_the_day_of_use_is_kept(desk: Desk, people, catalogue, tmp_path) -> None:
    case = open_case(desk, people)
    first = desk.charges.add_part(people["wang"], case, "HD-4T", 2)
    cheaper = tmp_path / "new.csv"
    cheaper.write_text("code,name,price\nHD-4T,4TB 监控硬盘（新款）,599\n", encoding="utf-8")
    desk.charges.import_parts(SYSTEM, cheaper)
    second = desk.charges.add_part(people["wang"], case, "hd-4t", "1")
    found = desk.charges.of_case(people["agent"], case)
    assert [(i.name, i.unit_price, i.amount) for i in found.items] == [
        ("4TB 监控硬盘", 68000, 136000), ("4TB 监控硬盘（新款）", 59900, 59900)]
    assert (first.quantity, second.code) == (Decimal(2), "HD-4T")
    assert second.unit == "块"  # a file without units leaves the catalogue's
    assert found.total == found.unbilled == 195900


def test_in_warranty_parts_are_free_and_labour_is_charged(desk: Desk, people, catalogue) -> None:
    customer, asset = customer_with_asset(desk, "2026-11-10")  # its last day: the day received
    case = open_case(desk, people, asset, customer)
    part = desk.charges.add_part(people["wang"], case, "HD-4T", 1)
    labour = desk.charges.add_item(people["wang"], case, "labour", "120", "1.5")
    travel = desk.charges.add_item(people["wang"], case, "travel", "35.50")
    assert (part.free, part.amount, part.why, part.unit_price) == (True, 0, "in_warranty", 68000)
    assert (labour.amount, labour.why, travel.amount) == (18000, "", 3550)
    assert desk.charges.of_case(people["wang"], case).total == 21550


@pytest.mark.parametrize(("warranty_end", "asset", "why"), [
    ("2026-11-09", True, "out_of_warranty"),  # ended the day before the case came in
    (None, True, "warranty_unknown"),
    ("not a date", True, "warranty_unknown"),
    (None, False, "no_asset"),
])
def test_parts_are_charged_outside_warranty_and_say_why(desk: Desk, people, catalogue,
                                                       warranty_end, asset, why) -> None:
    ids = customer_with_asset(desk, warranty_end) if asset else (None, None)
    case = open_case(desk, people, ids[1], ids[0])
    part = desk.charges.add_part(people["wang"], case, "SATA-1", 3)
    assert (part.free, part.amount, part.why) == (False, 3750, why)
    assert desk.charges.of_case(people["agent"], case).warranty == why


def test_an_asset_that_is_gone_counts_as_none(desk: Desk, people, catalogue) -> None:
    case = open_case(desk, people, "AS-NOWHERE")
    assert desk.charges.add_part(people["wang"], case, "SATA-1").why == "no_asset"


@pytest.mark.parametrize(("call", "key"), [
    (lambda d, u, c: d.charges.add_part(u, c, "NO-SUCH-PART", 1), "charge_unknown_part"),
    (lambda d, u, c: d.charges.add_part(u, c, "HD-4T", -1), "charge_quantity"),
    (lambda d, u, c: d.charges.add_part(u, c, "HD-4T", 0), "charge_quantity"),
    (lambda d, u, c: d.charges.add_part(u, c, "HD-4T", "两个"), "charge_quantity"),
    (lambda d, u, c: d.charges.add_part(u, c, "HD-4T", "0.0001"), "charge_quantity"),
    (lambda d, u, c: d.charges.add_part(u, c, "HD-4T", "inf"), "charge_quantity"),
    (lambda d, u, c: d.charges.add_item(u, c, "labour", "12.345", 1), "charge_money"),
    (lambda d, u, c: d.charges.add_item(u, c, "labour", "一百", 1), "charge_money"),
    (lambda d, u, c: d.charges.add_item(u, c, "travel", "-20"), "charge_money"),
    (lambda d, u, c: d.charges.add_item(u, c, "travel", "NaN"), "charge_money"),
    (lambda d, u, c: d.charges.add_item(u, c, "travel", "1e12"), "charge_money"),
    (lambda d, u, c: d.charges.add_item(u, c, "travel", ""), "charge_money"),
    (lambda d, u, c: d.charges.add_item(u, c, "labour", "100", "-2"), "charge_quantity"),
    (lambda d, u, c: d.charges.add_item(u, c, "part", "100"), "charge_kind"),
    (lambda d, u, c: d.charges.add_item(u, c, "gift", "100"), "charge_kind"),
    (lambda d, u, c: d.charges.add_item(u, c, "other", "100", note="  "), "charge_note"),
])
def test_bad_values_are_refused_with_their_reason(desk: Desk, people, catalogue, call,
                                                  key) -> None:
    case = open_case(desk, people)
    with pytest.raises((BadInput, NotFound)) as refused:
        call(desk, people["wang"], case)
    assert refused.value.key == key
    assert desk.charges.of_case(people["wang"], case).items == []


@pytest.mark.parametrize(("typed", "cents"), [
    ("12", 1200), ("12.5", 1250), ("12.50", 1250), ("1,234.56", 123456), ("¥8", 800),
    ("8元", 800), (" 0 ", 0), (7, 700), (Decimal("0.01"), 1), ("0.10", 10)])
def test_money_as_people_type_it(typed, cents) -> None:
    assert parse_money(typed) == cents


def test_quantities_keep_their_decimals() -> None:
    assert parse_quantity("1.5") == Decimal("1.5") and parse_quantity(2.0) == 2
    with pytest.raises(BadInput):
        parse_quantity(True)


def test_who_may_record_charges(desk: Desk, people, catalogue) -> None:
    case = open_case(desk, people)
    with pytest.raises(PermissionDenied):
        desk.charges.add_part(people["agent"], case, "HD-4T", 1)
    with pytest.raises(PermissionDenied):
        desk.charges.add_item(people["agent"], case, "travel", "20")
    desk.charges.add_part(people["boss"], case, "HD-4T", 1)
    item = desk.charges.add_item(people["wang"], case, "other", "30", note="加急费")
    with pytest.raises(PermissionDenied):
        desk.charges.remove(people["agent"], case, item.id)
    assert len(desk.charges.of_case(people["agent"], case).items) == 2  # everyone reads


def test_each_change_is_an_event_on_the_case(desk: Desk, people, catalogue) -> None:
    case = open_case(desk, people)
    item = desk.charges.add_part(people["wang"], case, "SATA-1", 2)
    desk.charges.remove(people["wang"], case, item.id)
    events = [e for e in desk.engine.kb.events(f"case:{case}")
              if e["action"].startswith("charge:")]
    assert [(e["action"], e["actor"]) for e in events] == [("charge:add", "wang"),
                                                          ("charge:remove", "wang")]
    assert json.loads(events[0]["detail"])["amount"] == 2500
    assert desk.charges.of_case(people["wang"], case).items == []
    with pytest.raises(NotFound) as gone:
        desk.charges.remove(people["wang"], case, item.id)
    assert gone.value.key == "charge_no_item"


# -- billing at close -----------------------------------------------------------------------------
def test_closing_bills_what_the_case_charges(desk: Desk, people, catalogue, clock) -> None:
    customer, asset = customer_with_asset(desk, "2027-12-31")
    case = open_case(desk, people, asset, customer)
    desk.charges.add_part(people["wang"], case, "HD-4T", 1)  # free in warranty
    desk.charges.add_item(people["wang"], case, "labour", "120", 2)
    clock.t = RECEIVED + timedelta(days=1)
    resolve_and_close(desk, people, case)
    found = desk.charges.of_case(people["agent"], case)
    [bill] = found.billings
    assert (bill.case_id, bill.customer_id, bill.customer, bill.total) == (
        case, "CU-1", "城西物流园", 24000)
    assert bill.created_at == "2026-11-11T09:00:00Z"
    assert [(line["kind"], line["amount"], line["free"]) for line in bill.lines] == [
        ("part", 0, True), ("labour", 24000, False)]
    assert all(i.billing_id == bill.id for i in found.items)
    assert (found.billed, found.unbilled) == (24000, 0)
    actions = [e["action"] for e in desk.engine.kb.events(f"case:{case}")]
    assert actions.index("billing") == actions.index("close") + 1


def test_reopened_and_closed_again_bills_only_what_was_added(desk: Desk, people,
                                                             catalogue) -> None:
    case = open_case(desk, people)
    desk.charges.add_part(people["wang"], case, "PSU-12V", 1)
    resolve_and_close(desk, people, case)
    with pytest.raises(InvalidTransition) as closed:
        desk.charges.add_item(people["wang"], case, "travel", "50")
    assert closed.value.key == "charge_closed"
    desk.cases.reopen(people["wang"], case, "电源又坏了")
    first = desk.charges.of_case(people["wang"], case).items[0]
    with pytest.raises(InvalidTransition) as billed:
        desk.charges.remove(people["wang"], case, first.id)
    assert billed.value.key == "charge_billed"
    desk.charges.add_item(people["wang"], case, "travel", "50")
    resolve_and_close(desk, people, case)
    bills = desk.charges.of_case(people["wang"], case).billings
    assert [b.total for b in bills] == [105000, 5000]
    assert [len(b.lines) for b in bills] == [1, 1]
    # reopened and closed once more with nothing new: nothing more to bill
    desk.cases.reopen(people["wang"], case, "客户要求复查")
    resolve_and_close(desk, people, case)
    assert len(desk.charges.of_case(people["wang"], case).billings) == 2


def test_a_close_with_nothing_to_charge_bills_nothing(desk: Desk, people, catalogue) -> None:
    customer, asset = customer_with_asset(desk, "2027-01-01")
    plain = open_case(desk, people)
    resolve_and_close(desk, people, plain)
    free = open_case(desk, people, asset, customer)
    desk.charges.add_part(people["wang"], free, "HD-4T")  # in warranty: 0
    resolve_and_close(desk, people, free)
    assert desk.charges.billing(people["boss"], "2026-01-01", "2027-01-01") == []
    assert desk.charges.of_case(people["wang"], free).items[0].billing_id is None


def test_the_close_and_its_billing_land_together(desk: Desk, people, catalogue) -> None:
    """A billing line that cannot be written (here: the database refuses it) leaves
    the case unclosed and its charges unbilled."""
    case = open_case(desk, people)
    desk.charges.add_item(people["wang"], case, "travel", "80")
    desk.cases.resolve(people["wang"], case, "重新接线")
    desk.engine.kb.db.execute("CREATE TRIGGER no_billing BEFORE INSERT ON billing "
                              "BEGIN SELECT RAISE(ABORT, 'finance is closed'); END")
    with pytest.raises(Exception, match="finance is closed"):
        desk.cases.close(people["wang"], case)
    assert desk.cases.get(case).state == "resolved"
    assert not desk.cases.get(case).fields["closed_at"]
    assert desk.charges.of_case(people["wang"], case).items[0].billing_id is None
    assert "close" not in [e["action"] for e in desk.engine.kb.events(f"case:{case}")]
    desk.engine.kb.db.execute("DROP TRIGGER no_billing")
    desk.cases.close(people["wang"], case)
    assert desk.charges.of_case(people["wang"], case).billed == 8000


# -- the old service record, and the billing export -------------------------------------------
def test_a_free_text_service_record_stays_readable(desk: Desk, people, catalogue) -> None:
    case = open_case(desk, people)
    desk.cases.record_service(people["wang"], case, "硬盘坏道", "更换硬盘", ["旧硬盘一块"])
    desk.charges.add_part(people["wang"], case, "HD-4T", 1)
    assert desk.cases.get(case).fields["service_record"]["parts_used"] == ["旧硬盘一块"]
    [row] = desk.reports.work_report(people["boss"], "2026-11-01", "2026-12-01")
    assert row.parts == "旧硬盘一块、4TB 监控硬盘×1"


def _billed_world(desk: Desk, people, clock) -> list[str]:
    """Two cases closed with charges on 11 and 20 November."""
    ids = []
    for day, amount in ((11, "120"), (20, "35.50")):
        case = open_case(desk, people)
        desk.charges.add_part(people["wang"], case, "SATA-1", 2)
        desk.charges.add_item(people["wang"], case, "travel", amount)
        clock.t = datetime(2026, 11, day, 8, 0, tzinfo=UTC)
        resolve_and_close(desk, people, case)
        ids.append(case)
    return ids


def test_the_billing_of_a_period(desk: Desk, people, catalogue, clock) -> None:
    ids = _billed_world(desk, people, clock)
    bills = desk.charges.billing(people["boss"], "2026-11-01", "2026-12-01")
    assert [(b.case_id, b.total) for b in bills] == [(ids[0], 14500), (ids[1], 6050)]
    assert [b.case_id for b in desk.charges.billing(people["boss"], "2026-11-15",
                                                    "2026-11-21")] == [ids[1]]
    with pytest.raises(PermissionDenied):
        desk.charges.billing(people["wang"], "2026-11-01", "2026-12-01")
    with pytest.raises(BadInput):
        desk.charges.billing(people["boss"], "2026-11-01", "十二月")


def test_the_billing_csv(desk: Desk, people, catalogue, clock) -> None:
    ids = _billed_world(desk, people, clock)
    buf = io.StringIO()
    desk.charges.billing_file(people["boss"], "2026-11-01", "2026-12-01", "csv", "zh", buf)
    table = list(csv.reader(io.StringIO(buf.getvalue())))
    assert table[0] == ["结算单号", "工单号", "客户", "转财务时间 (UTC)", "明细", "合计（元）"]
    assert table[1][1:4] == [ids[0], "城西物流园", "2026-11-11 08:00"]
    assert table[1][4] == ("备件 SATA-1 SATA 数据线 × 2 根 = 25.00 (工单未关联设备档案，"
                           "备件收费); 差旅费 × 1 = 120.00")
    assert [r[5] for r in table[1:]] == ["145.00", "60.50"]
    with pytest.raises(BadInput):
        desk.charges.billing_file(people["boss"], "2026-11-01", "2026-12-01", "pdf", "zh", buf)


def test_the_billing_workbook(desk: Desk, people, catalogue, clock, tmp_path: Path) -> None:
    ids = _billed_world(desk, people, clock)
    path = tmp_path / "billing.xlsx"
    desk.charges.billing_file(people["boss"], "2026-11-01", "2026-12-01", "xlsx", "en", path)
    book = load_workbook(path)
    assert book.sheetnames == ["Billing", "Billing items"]
    sheet = book["Billing"]
    header = [c.value for c in sheet[1]]
    assert header == ["Billing no.", "Case number", "Customer", "Sent to finance (UTC)",
                      "Items", "Total"]
    assert all(c.font.bold for c in sheet[1]) and sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["E"].width > sheet.column_dimensions["A"].width
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in rows] == ids
    assert rows[0][3] == datetime(2026, 11, 11, 8, 0)  # a date, not text
    assert rows[0][5] == 145 and rows[1][5] == 60.5  # money as numbers
    assert sheet.cell(2, 6).number_format == "#,##0.00"
    items = list(book["Billing items"].iter_rows(min_row=2, values_only=True))
    assert [(r[3], r[4], r[6], r[9]) for r in items] == [
        ("Part", "SATA-1", 2, 25), ("Travel", None, 1, 120),
        ("Part", "SATA-1", 2, 25), ("Travel", None, 1, 35.5)]
    assert items[0][10] == "no equipment record on the case: parts are charged"
