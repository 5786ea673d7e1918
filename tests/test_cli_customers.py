"""`knownfix customers …` and `knownfix assets …` through the CLI runner: import with its
report, list and search, show (an asset by id or serial, with warranty and history),
merge, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def records(kf, tmp_path: Path):
    """Two customers (one a duplicate) and two assets, imported from files."""
    customers = tmp_path / "客户.csv"
    customers.write_text("客户编号,客户名称,联系人,电话\nK1,华东物流,赵先生,13700001111\n"
                         "K2,华东物流公司,,\n,,孙经理,13811112222\n", encoding="utf-8")
    assets = tmp_path / "设备.csv"
    assets.write_text("设备编号,客户,型号,序列号,安装日期,三包期\n"
                      "D1,K1,NVR-4216,NVR4216-A1580,2025-01-01,2099-12-31\n"
                      "D2,K2,NVR-4216,A1580,2020-01-01,2021-01-01\n", encoding="utf-8")
    return kf, customers, assets


def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_import_list_show_and_merge(records, tmp_path: Path):
    kf, customers, assets = records
    rejects = tmp_path / "bad.csv"
    done = kf("customers", "import", customers, "--rejects", rejects)
    assert "imported 2 customers, rejected 1 rows" in done.stdout
    assert "row 3: a customer needs a name" in done.stderr
    assert "孙经理" in rejects.read_text(encoding="utf-8-sig")
    assert "imported 2 assets, rejected 0 rows" in kf("assets", "import", assets).stdout
    listed = kf("customers", "list", "--search", "赵先生").stdout.splitlines()
    assert listed == ["K1  华东物流  赵先生 13700001111"]
    rows = json.loads(kf("customers", "list", "--json").stdout)
    assert [r["id"] for r in rows] == ["K1", "K2"]
    shown = kf("customers", "show", "K1").stdout
    assert "contact: 赵先生 13700001111" in shown and "NVR4216-A1580" in shown
    assert "in warranty until 2099-12-31 (parts free)" in shown
    case = kf("case", "open", "--text", "NVR提示硬盘错误，录像回放查不到", "--asset-serial",
              "nvr4216-a1580", "--json")
    case_id = json.loads(case.stdout)["id"]
    by_serial = kf("assets", "show", "nvr4216-a1580").stdout
    assert by_serial.startswith("D1  NVR-4216  NVR4216-A1580  K1")
    assert case_id in by_serial
    old = json.loads(kf("assets", "show", "D2", "--json").stdout)
    assert old["in_warranty"] is False and old["history"] == []
    assert sorted(a["id"] for a in json.loads(kf("assets", "list", "--search", "A1580",
                                                 "--json").stdout)) == ["D1", "D2"]
    assert "merged customer K2 into K1" in kf("customers", "merge", "K2", "K1").stdout
    assert "merged asset D2 into D1" in kf("assets", "merge", "D2", "D1").stdout
    assert kf("customers", "show", "K2").stdout.startswith("K1  华东物流")
    assert [a["id"] for a in json.loads(kf("assets", "list", "--json").stdout)] == ["D1"]


def test_errors_are_one_line(records, tmp_path: Path):
    kf, customers, _assets = records
    kf("customers", "import", customers)
    one_line_error(kf("customers", "show", "K9", ok=False), "no customer", "K9")
    one_line_error(kf("assets", "show", "SN-NOWHERE", ok=False), "no asset")
    one_line_error(kf("customers", "merge", "K1", "K1", ok=False), "same customer")
    one_line_error(kf("assets", "import", tmp_path / "missing.csv", ok=False), "no such file")
    kf("user", "add", "li", "--role", "first_line", "--password-stdin", input="password-123\n")
    one_line_error(kf("customers", "merge", "K2", "K1", "--as", "li", ok=False),
                   "may not customer.merge")
    one_line_error(kf("customers", "import", customers, "--as", "li", ok=False),
                   "may not kb.import")
    bad = tmp_path / "bad.csv"
    bad.write_text("颜色\n红\n", encoding="utf-8")
    one_line_error(kf("assets", "import", bad, ok=False), "no column")
