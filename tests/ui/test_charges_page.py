"""Parts and charges on the case page (AppTest): an engineer finds a catalogue part by
code or name and records it with its quantity (free in warranty, said so), adds labour,
sees the running total, has a bad price refused in their language; the closed case shows
已转财务 with its total; an agent reads it all but records nothing.  The Reports page
offers the billing for finance as CSV and Excel."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from pathlib import Path

import pytest
from openpyxl import load_workbook

from service.auth import SYSTEM
from service.charges import money_text
from tests.ui.conftest import OPEN_FAULT, page_path
from tests.ui.test_pages import healthy, msg
from ui.views import charges as charges_view


@pytest.fixture
def case_id(ui_desk, tmp_path: Path) -> str:
    """The template's open case, for an asset in warranty, and a parts catalogue."""
    catalogue = tmp_path / "parts.csv"
    catalogue.write_text("code,name,unit,price\nHD-4T,4TB 监控硬盘,块,680\n"
                         "SATA-1,SATA 数据线,根,12.50\nCAM-2M,半球摄像机,台,399\n",
                         encoding="utf-8")
    ui_desk.charges.import_parts(SYSTEM, catalogue)
    [case] = [c for c in ui_desk.cases.list() if c.description == OPEN_FAULT]
    kb = ui_desk.engine.kb
    kb.db["assets"].insert({"id": "AS-UI", "product": "NVR", "serial": "NVR-UI-1",
                            "warranty_end": "2099-12-31"})
    kb.update("case", case.id, {"asset_id": "AS-UI"}, "system", "update")
    return case.id


def case_page(open_app, user: str, case_id: str, lang: str = "zh"):
    at = open_app(user, lang)
    at.session_state["case_id"] = case_id
    at.switch_page(page_path("case")).run()
    healthy(at, "case page")
    return at


def charges_table(at):
    [frame] = [d.value for d in at.dataframe if msg("charge.kind", "zh") in d.value.columns
               or msg("charge.kind", "en") in d.value.columns]
    return frame


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_engineer_records_parts_and_labour(open_app, ui_desk, case_id, lang) -> None:
    at = case_page(open_app, "engineer", case_id, lang)
    assert msg("charge.parts_now", lang, why=msg("charge.why.in_warranty", lang)) in [
        c.value for c in at.caption]
    at.text_input(key="charge_find").input("硬盘").run()  # by name
    assert at.selectbox(key="charge_part").options == ["HD-4T · 4TB 监控硬盘 · 680.00 / 块"]
    at.text_input(key="charge_find").input("sata").run()  # by code, any letter case
    at.selectbox(key="charge_part").select("SATA-1")
    at.number_input(key="charge_part_qty").set_value(3.0)
    at.button(key="charge_part_submit").click().run()
    healthy(at, "part added")
    assert at.success[0].value == msg("done.action", lang, id=case_id,
                                      action=msg("charge.add_part", lang))
    at.selectbox(key="charge_kind").select("labour")
    at.number_input(key="charge_item_qty").set_value(1.5)
    at.text_input(key="charge_item_price").input("120")
    at.button(key="charge_item_submit").click().run()
    healthy(at, "labour added")

    table = charges_table(at)
    assert list(table[msg("charge.kind", lang)]) == [msg("charge.kind.part", lang),
                                                     msg("charge.kind.labour", lang)]
    assert list(table[msg("charge.amount", lang)]) == ["0.00", "180.00"]
    assert table[msg("charge.note", lang)].iloc[0] == msg("charge.why.in_warranty", lang)
    assert list(table[msg("charge.state", lang)]) == [msg("charge.state_open", lang)] * 2
    total = "**" + msg("charge.total", lang, total="180.00", unbilled="180.00") + "**"
    assert total in [m.value for m in at.markdown]
    items = ui_desk.charges.of_case(SYSTEM, case_id).items
    assert [(i.code, str(i.quantity), i.unit_price) for i in items] == [
        ("SATA-1", "3", 1250), ("", "1.5", 12000)]


def test_a_bad_price_is_refused_in_the_users_language(open_app, ui_desk, case_id) -> None:
    at = case_page(open_app, "engineer", case_id)
    at.selectbox(key="charge_kind").select("travel")
    at.text_input(key="charge_item_price").input("12.345")
    at.button(key="charge_item_submit").click().run()
    assert [e.value for e in at.error] == [msg("err.charge_money", "zh", value="12.345")]
    assert ui_desk.charges.of_case(SYSTEM, case_id).items == []


def test_no_part_matches(open_app, case_id) -> None:
    at = case_page(open_app, "engineer", case_id)
    at.text_input(key="charge_find").input("光纤").run()
    assert msg("charge.no_parts", "zh") in [c.value for c in at.caption]
    assert "charge_part_submit" not in [b.key for b in at.button]


def test_the_closed_case_shows_it_went_to_finance(open_app, ui_desk, case_id) -> None:
    engineer = ui_desk.users.get("engineer")
    ui_desk.charges.add_item(engineer, case_id, "travel", "80")
    ui_desk.charges.add_part(engineer, case_id, "HD-4T", 1)
    ui_desk.cases.resolve(engineer, case_id, "更换硬盘")
    ui_desk.cases.close(engineer, case_id)
    [bill] = ui_desk.charges.of_case(SYSTEM, case_id).billings
    at = case_page(open_app, "engineer", case_id)
    billed = [s.value for s in at.success if s.value.startswith("已转财务")]
    assert billed[0] == "已转财务，合计 80.00 元"  # at the top, by the case's facts
    assert billed[1].startswith(f"已转财务：80.00 元（结算单 {bill.id}，") and len(billed) == 2
    assert list(charges_table(at)[msg("charge.state", "zh")]) == ["已转财务"] * 2
    assert msg("charge.closed", "zh") in [i.value for i in at.info]
    assert "charge_item_submit" not in [b.key for b in at.button]


def test_an_agent_reads_but_records_nothing(open_app, ui_desk, case_id) -> None:
    ui_desk.charges.add_item(ui_desk.users.get("engineer"), case_id, "travel", "80")
    at = case_page(open_app, "agent", case_id)
    assert len(charges_table(at)) == 1
    keys = [b.key for b in at.button]
    assert not {"charge_part_submit", "charge_item_submit", "charge_remove"} & set(keys)


def test_an_item_not_billed_can_be_taken_back(open_app, ui_desk, case_id) -> None:
    ui_desk.charges.add_item(ui_desk.users.get("engineer"), case_id, "other", "30",
                             note="加急费")
    at = case_page(open_app, "engineer", case_id)
    at.button(key="charge_remove").click().run()
    healthy(at, "removed")
    assert ui_desk.charges.of_case(SYSTEM, case_id).items == []
    assert msg("charge.none", "zh") in [c.value for c in at.caption]


def test_the_reports_page_offers_the_billing(open_app, ui_desk, case_id) -> None:
    engineer = ui_desk.users.get("engineer")
    ui_desk.charges.add_item(engineer, case_id, "labour", "150", 2)
    ui_desk.cases.resolve(engineer, case_id, "更换硬盘")
    ui_desk.cases.close(engineer, case_id)
    at = open_app("manager", script=page_path("reports"))
    healthy(at, "reports")
    assert msg("bill.count", "zh", n=1, total=money_text(30000)) in [c.value for c in at.caption]
    labels = [b.proto.label for b in at.get("download_button")]
    assert msg("bill.csv", "zh") in labels and msg("bill.xlsx", "zh") in labels
    # what the two buttons hand over when pressed
    bills = ui_desk.charges.billing(ui_desk.users.get("manager"), "2000-01-01", "2100-01-01")
    table = list(csv.reader(io.StringIO(charges_view._csv(bills, "zh", UTC).decode("utf-8-sig"))))
    assert table[0][0] == "结算单号" and table[1][1] == case_id and table[1][5] == "300.00"
    book = load_workbook(io.BytesIO(charges_view._xlsx(bills, "en", UTC)))
    assert book["Billing"]["F2"].value == 300 and book["Billing items"]["J2"].value == 300
