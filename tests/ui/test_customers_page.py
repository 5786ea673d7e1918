"""Customer and equipment records in the app (issue 13), with AppTest: the intake page's
serial lookup fills the form and shows the warranty and last service; the case page shows
the asset's earlier cases and a warranty badge; the customers page finds, adds, edits and
merges records, the merge shut (and saying who may) for agents."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from service.auth import SYSTEM
from tests.ui.conftest import page_path
from tests.ui.test_pages import button, healthy, msg

FAULT = "NVR提示硬盘错误，3号通道录像回放查不到"


@pytest.fixture
def records(ui_desk):
    """A customer with an NVR in warranty that has one closed case, and an old camera."""
    c = ui_desk.customers
    customer = c.add_customer(SYSTEM, "华东物流", [{"name": "赵先生", "phone": "13700001111"}],
                              service_level="金牌")
    until = (date.today() + timedelta(days=200)).isoformat()
    nvr = c.add_asset(SYSTEM, customer.id, "网络硬盘录像机", "NVR-4216", "NVR4216-A1580",
                      "一楼弱电间", "2025-01-01", until)
    old = c.add_asset(SYSTEM, customer.id, "筒型网络摄像机", "IPC-B420", "B420-77310",
                      installed_at="2020-01-01", warranty_end="2022-01-01")
    earlier = ui_desk.cases.open(SYSTEM, "NVR风扇噪音很大", asset_id=nvr.id)
    ui_desk.cases.resolve(SYSTEM, earlier.id, "清理风扇灰尘并更换风扇")
    return customer, nvr, old, earlier


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_serial_lookup_fills_intake_and_the_case_shows_the_history(open_app, ui_desk,
                                                                       records, lang):
    customer, nvr, _old, earlier = records
    at = open_app("agent", lang)
    at.text_input(key="in_lookup").input("nvr4216-a1580")
    at = at.button(key="in_lookup_go").click().run()
    healthy(at, "lookup")
    assert at.text_input(key="in_customer").value == "华东物流"
    assert at.text_input(key="in_contact").value == "赵先生 13700001111"
    assert at.text_input(key="in_asset_model").value == "NVR-4216"
    assert at.text_input(key="in_asset_serial").value == "NVR4216-A1580"
    assert msg("asset.in_warranty", lang, until=nvr.warranty_end) in markdown(at)
    last = ui_desk.cases.get(earlier.id).fields["resolved_at"]
    prefix = msg("intake.lookup_last", lang, at="")
    said = [c.value for c in at.caption if c.value.startswith(prefix)]
    assert said and said[0] != prefix + "—", said  # the earlier case's resolution
    at.text_area(key="in_description").input(FAULT)
    at = button(at, msg("intake.submit", lang)).click().run()
    healthy(at, "intake")
    case = ui_desk.cases.get(at.session_state["intake_case"])
    assert (case.fields["asset_id"], case.fields["customer_id"]) == (nvr.id, customer.id)
    assert case.fields["last_service_at"] == last

    at = at.button(key=f"goto_{case.id}").click().run()
    healthy(at, "case page")
    assert msg("asset.in_warranty", lang, until=nvr.warranty_end) in markdown(at)
    earlier_cases = [e for e in at.expander
                     if e.label == msg("asset.earlier", lang, n=1)]
    assert earlier_cases, [e.label for e in at.expander]
    shown = markdown(at)
    assert earlier.id.replace("-", "\\-") in shown and "清理风扇灰尘并更换风扇" in shown


def test_an_unknown_serial_says_so_and_leaves_the_form(open_app, records):
    at = open_app("agent")
    at.text_input(key="in_lookup").input("SN-NOT-ON-RECORD")
    at = at.button(key="in_lookup_go").click().run()
    healthy(at, "lookup")
    assert msg("intake.lookup_none", "zh") in [w.value for w in at.warning]
    assert at.text_input(key="in_customer").value == ""


def test_the_customers_page_finds_adds_edits_and_shuts_merging_for_agents(open_app, ui_desk,
                                                                            records):
    customer, _nvr, old, _earlier = records
    at = open_app("agent")
    at.switch_page(page_path("customers")).run()
    healthy(at, "customers page")
    assert [h.value for h in at.header] == [msg("cust.header", "zh")]
    at.text_input(key="cust_q").input("赵先生").run()
    at = at.button(key=f"cust_pick_{customer.id}").click().run()
    healthy(at, "customer")
    assert f"华东物流 · {customer.id}" in [s.value for s in at.subheader]
    assert at.button(key=f"cust_asset_{old.id}")
    barred = at.button(key=f"merge_barred_{customer.id}")
    assert barred.disabled
    assert barred.label == msg("cust.merge_barred", "zh", roles="技术支持主管、管理员")
    at.text_input(key=f"cust_edit_{customer.id}_address").input("上海市申港路88号")
    at = at.button(key=f"cust_edit_submit_{customer.id}").click().run()
    healthy(at, "edit")
    assert ui_desk.customers.customer(customer.id).address == "上海市申港路88号"
    assert msg("cust.saved", "zh") in [s.value for s in at.success]

    at = at.button(key=f"cust_asset_{old.id}").click().run()  # the old camera
    healthy(at, "asset")
    assert msg("asset.out_of_warranty", "zh", until="2022-01-01") in markdown(at)
    assert msg("asset.no_history", "zh") in [c.value for c in at.caption]

    at.text_input(key="cust_new_name").input("恒通超市")
    at.text_input(key="cust_new_phone").input("not a phone")
    at = at.button(key="cust_add_submit").click().run()
    assert at.error and msg("err.contact_phone", "zh", value="not a phone") in at.error[0].value
    assert ui_desk.customers.find_customers("恒通") == []
    at.text_input(key="cust_new_phone").input("13811112222")
    at = at.button(key="cust_add_submit").click().run()
    healthy(at, "added")
    added = ui_desk.customers.find_customers("恒通")
    assert [c.contacts for c in added] == [[{"name": "", "phone": "13811112222", "email": ""}]]


def test_a_manager_merges_a_duplicate_customer(open_app, ui_desk, records):
    customer, _nvr, _old, _earlier = records
    dup = ui_desk.customers.add_customer(SYSTEM, "华东物流公司")
    case = ui_desk.cases.open(SYSTEM, FAULT, customer_id=dup.id)
    at = open_app("manager", "en")
    at.switch_page(page_path("customers")).run()
    at = at.button(key=f"cust_pick_{dup.id}").click().run()
    healthy(at, "duplicate")
    at = at.button(key=f"merge_submit_{dup.id}").click().run()  # nothing chosen
    assert msg("cust.merge_pick", "en") in [e.value for e in at.error]
    at.selectbox(key=f"merge_into_{dup.id}").select(customer.id)
    at = at.button(key=f"merge_submit_{dup.id}").click().run()
    healthy(at, "merged")
    assert msg("cust.merged", "en", source=dup.id, into=customer.id) in [
        s.value for s in at.success]
    assert ui_desk.cases.get(case.id).fields["customer_id"] == customer.id
    assert ui_desk.customers.customer(dup.id).id == customer.id
    assert f"华东物流 · {customer.id}" in [s.value for s in at.subheader]
