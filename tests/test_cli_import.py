"""`knownfix import` on exports as teams have them: --header-row, --severity-map,
--last-wins, and KnownFix's own export back in."""

from __future__ import annotations

import csv

from openpyxl import Workbook

from tests.test_cli import assert_ok, assert_one_line_error, run

HEADER = ["工单号", "故障描述", "处理记录", "类别", "严重程度"]
ROWS = [["T-1", "NVR提示硬盘错误", "更换硬盘", "存储", "高"],
        ["T-2", "摄像机每天掉线", "改固定IP", "网络", "紧急"],
        ["T-1", "NVR硬盘错误（补充）", "更换3号硬盘", "存储", "高"]]
ARGS = ["--text", "故障描述", "--fix", "处理记录", "--label", "category=类别",
        "--severity", "严重程度", "--id", "工单号"]
ENV = {"KNOWNFIX_SEVERITY_LEVELS": "low,medium,high,critical"}


def export_xlsx(path):
    wb = Workbook()
    ws = wb.active
    ws.append(["2026年11月 工单导出"])
    ws.append([])
    for row in (HEADER, *ROWS):
        ws.append(row)
    ws.merge_cells("A1:E1")
    wb.save(path)
    return path


def test_title_row_chinese_severities_and_a_duplicate_id(tmp_path):
    src = export_xlsx(tmp_path / "工单.xlsx")
    data = tmp_path / "data"
    result = run("import", src, *ARGS, "--severity-map", "高=high,中=medium,低=low",
                 "--severity-map", "紧急=critical", "--data-dir", data, env=ENV)
    assert_ok(result)
    assert "row 3: duplicate id 'T-1' (also row 1); --last-wins keeps the later row" in \
        result.stderr
    assert result.stdout.startswith("imported 2 cases, rejected 1 rows (")
    assert "header in row 3" in result.stdout

    again = run("import", src, *ARGS, "--severity-map", "高=high,紧急=critical",
                "--last-wins", "--data-dir", data, env=ENV)
    assert_ok(again)
    assert again.stdout.startswith("imported 2 cases (1 later row(s) replaced an earlier one "
                                   "with the same id: --last-wins), rejected 0 rows")


def test_unknown_severity_says_how_to_accept_it(tmp_path):
    result = run("import", export_xlsx(tmp_path / "x.xlsx"), *ARGS, "--last-wins",
                 "--data-dir", tmp_path / "data", env=ENV)
    assert "row 1: unknown severity '高' (levels: low, medium, high, critical; map it with " \
        "--severity-map 高=LEVEL, or add it to the setting severity_levels)" in result.stderr


def test_bad_options_are_one_line(tmp_path):
    src = export_xlsx(tmp_path / "x.xlsx")
    assert_one_line_error(run("import", src, *ARGS, "--severity-map", "高", "--data-dir",
                              tmp_path / "data", env=ENV), "--severity-map 高=LEVEL")
    assert_one_line_error(run("import", src, *ARGS, "--severity-map", "高=urgent",
                              "--data-dir", tmp_path / "data", env=ENV),
                          "'urgent' is not a severity level")
    assert_one_line_error(run("import", src, *ARGS, "--header-row", "40", "--data-dir",
                              tmp_path / "data", env=ENV), "--header-row 40")


def test_export_comes_back_as_it_was(tmp_path):
    data = tmp_path / "data"
    src = export_xlsx(tmp_path / "x.xlsx")
    assert_ok(run("import", src, *ARGS, "--severity-map", "高=high,紧急=critical",
                  "--last-wins", "--data-dir", data, env=ENV))
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    assert_ok(run("export", first, "--data-dir", data, env=ENV))
    back = tmp_path / "back"
    assert_ok(run("import", first, "--text", "text", "--title", "title", "--fix", "fix",
                  "--severity", "severity", "--id", "id", "--label", "category=category",
                  "--data-dir", back, env=ENV))
    assert_ok(run("export", second, "--data-dir", back, env=ENV))
    with open(first, encoding="utf-8-sig") as a, open(second, encoding="utf-8-sig") as b:
        rows_a, rows_b = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert list(rows_a[0]) == list(rows_b[0])
    assert not [c for c in rows_b[0] if c.startswith("extra:")]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert {k: v for k, v in ra.items() if k != "updated_at"} == \
            {k: v for k, v in rb.items() if k != "updated_at"}
