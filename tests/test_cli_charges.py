"""`knownfix parts`, `knownfix charges` and `knownfix report --billing` through the CLI
runner: the catalogue imported with its rejects said, a case's parts and charges
recorded and refused with one-line errors, and the billing file finance gets."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook


def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err


@pytest.fixture
def case_id(kf, tmp_path: Path) -> str:
    """A catalogue of three parts (one bad row) and a case in progress."""
    parts = tmp_path / "备件.csv"
    parts.write_text("备件编码,备件名称,单位,单价\nHD-4T,4TB 监控硬盘,块,680\n"
                     "SATA-1,SATA 数据线,根,12.50\nBAD,坏价格,个,12元5角\n", encoding="utf-8")
    result = kf("parts", "import", str(parts))
    assert "imported 2 parts, rejected 1 rows" in result.stdout
    assert "row 3:" in result.stderr and "12元5角" in result.stderr
    cid = json.loads(kf("case", "open", "--text", "NVR提示硬盘错误", "--customer", "城西物流园",
                        "--json").stdout)["id"]
    kf("case", "start", cid)
    return cid


def test_parts_list(kf, case_id) -> None:
    lines = kf("parts", "list").stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["HD-4T", "680.00"], ["SATA-1", "12.50"]]
    found = json.loads(kf("parts", "list", "数据线", "--json").stdout)
    assert found == [{"code": "SATA-1", "name": "SATA 数据线", "unit": "根",
                      "price_cents": 1250}]
    assert "no parts matching" in kf("parts", "list", "光纤").stderr


def test_charges_recorded_listed_and_billed(kf, case_id, tmp_path: Path) -> None:
    said = kf("charges", "part", case_id, "hd-4t", "--qty", "2").stdout
    assert "= 1360.00" in said and "no_asset" in said
    kf("charges", "add", case_id, "labour", "120", "--qty", "1.5")
    kf("charges", "add", case_id, "other", "30", "--note", "加急费")
    listed = json.loads(kf("charges", "list", case_id, "--json").stdout)
    assert [i["amount"] for i in listed["items"]] == [136000, 18000, 3000]
    assert (listed["total"], listed["unbilled"], listed["billed"]) == (157000, 157000, 0)
    kf("charges", "remove", case_id, str(listed["items"][2]["id"]))
    kf("case", "resolve", case_id, "--fix", "更换硬盘")
    kf("case", "close", case_id)
    shown = kf("charges", "list", case_id).stdout
    assert "sent to finance 1540.00" in shown and "billing 1" in shown
    case = kf("case", "show", case_id).stdout
    assert "-- parts and charges" in case and "HD-4T 4TB 监控硬盘 × 2 块 @ 680.00" in case

    printed = kf("report", "--billing").stdout  # CSV, the acting user's language
    table = list(csv.reader(io.StringIO(printed)))
    assert table[0][:3] == ["结算单号", "工单号", "客户"]
    assert table[1][1:3] == [case_id, "城西物流园"] and table[1][5] == "1540.00"

    out = tmp_path / "billing.xlsx"
    today = re.search(r"-(\d{8})-", case_id)[1]
    since = f"{today[:4]}-{today[4:6]}-{today[6:]}"
    result = kf("report", "--billing", "--since", since, "--format", "xlsx", "--out",
                str(out), "--lang", "en")
    assert "wrote 1 billing lines, 1540.00 in all" in result.stdout
    sheet = load_workbook(out)["Billing"]
    assert [c.value for c in sheet[1]][:2] == ["Billing no.", "Case number"]
    assert sheet["F2"].value == 1540

    later = kf("report", "--billing", "--since", "2030-01-01", "--until", "2030-02-01").stdout
    assert len(list(csv.reader(io.StringIO(later)))) == 1  # the header alone


@pytest.mark.parametrize(("args", "words"), [
    (["charges", "part", "{case}", "NO-SUCH"], ["NO-SUCH", "catalogue"]),
    (["charges", "part", "{case}", "HD-4T", "--qty", "-1"], ["quantity", "-1"]),
    (["charges", "add", "{case}", "travel", "abc"], ["abc", "not an amount"]),
    (["charges", "add", "{case}", "labour", "99.999"], ["99.999"]),
    (["charges", "add", "{case}", "gift", "10"], ["gift"]),
    (["charges", "remove", "{case}", "99"], ["no charge 99"]),
    (["report", "--billing", "--format", "json"], ["csv or xlsx"]),
    (["report", "--billing", "--format", "xlsx"], ["--out"]),
    (["report", "--billing", "--lang", "fr"], ["fr"]),
    (["report", "--lang", "en"], ["--billing"]),
])
def test_bad_values_are_one_line_errors(kf, case_id, args, words) -> None:
    one_line_error(kf(*[a.replace("{case}", case_id) for a in args], ok=False), *words)


def test_an_engineer_records_an_agent_does_not(kf, case_id) -> None:
    for name, role in (("wang", "engineer"), ("li", "first_line")):
        kf("user", "add", name, "--role", role, "--password-stdin", input="password-123\n")
    kf("charges", "add", case_id, "travel", "50", "--as", "wang")
    one_line_error(kf("charges", "add", case_id, "travel", "50", "--as", "li", ok=False),
                   "li", "may not")
    one_line_error(kf("parts", "import", "x.csv", "--as", "wang", ok=False), "may not")
