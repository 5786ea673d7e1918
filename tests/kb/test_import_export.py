"""kb/importer.py, kb/reader.py, kb/exporter.py: files in, rejects reported, CSV out."""

from __future__ import annotations

import csv
import io
import json

import pytest

import kb.importer as importer
from errors import BadInput, MissingColumn
from kb.exporter import export_csv, safe_cell
from kb.importer import ColumnMapping, import_file, write_rejects
from kb.reader import open_table
from kb.records import Record
from kb.store import KnowledgeBase
from tests.helpers import ZH_CSV, ZH_LEVELS, zh_mapping

LEVELS = ZH_LEVELS.split(",")


@pytest.fixture
def kb(tmp_path):
    store = KnowledgeBase(tmp_path / "kb.db", LEVELS)
    yield store
    store.close()


def fixture_rows() -> list[dict[str, str]]:
    with ZH_CSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path, header, rows, encoding="utf-8"):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def assert_fixture_imported(kb: KnowledgeBase) -> None:
    rows = fixture_rows()
    assert kb.counts()["case"] == len(rows)
    for row in rows:
        rec = kb.get("case", row["工单号"])
        assert rec.text == row["故障表述"]
        assert rec.fix == row["处理记录"]
        assert rec.labels == {"category": row["类别"]}
        assert rec.severity == row["严重程度"]
        assert rec.extra == {"出单时间": row["出单时间"], "客户信息": row["客户信息"]}


@pytest.mark.parametrize(("encoding", "reported"), [
    ("utf-8", "utf-8"),
    ("utf-8-sig", "utf-8-sig"),
    ("gbk", "gb18030"),
])
def test_csv_in_each_encoding_reads_the_same(kb, tmp_path, encoding, reported):
    path = tmp_path / "工单.csv"
    path.write_bytes(ZH_CSV.read_text(encoding="utf-8").encode(encoding))
    report = import_file(kb, path, zh_mapping())
    assert report.rejected == []
    assert report.taken == len(fixture_rows())
    assert report.encoding == reported
    assert_fixture_imported(kb)


def test_small_gbk_file_is_detected(kb, tmp_path):
    path = write_csv(tmp_path / "one.csv", ["故障表述", "类别"],
                     [["摄像机离线", "网络"]], encoding="gbk")
    report = import_file(kb, path, ColumnMapping(text=["故障表述"], labels={"category": "类别"}))
    assert report.taken == 1
    assert kb.records()[0].text == "摄像机离线"


def test_forced_encoding_is_used(kb, tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes(ZH_CSV.read_text(encoding="utf-8").encode("gbk"))
    report = import_file(kb, path, zh_mapping(), encoding="gbk")
    assert report.encoding == "gbk"
    assert_fixture_imported(kb)


def test_excel_file(kb, tmp_path):
    from openpyxl import Workbook

    rows = fixture_rows()
    wb = Workbook()
    sheet = wb.active
    header = list(rows[0])
    sheet.append(header)
    for row in rows:
        sheet.append([row[c] for c in header])
    sheet.append([None] * len(header))  # an empty row at the end is skipped
    path = tmp_path / "工单.xlsx"
    wb.save(path)
    report = import_file(kb, path, zh_mapping())
    assert (report.taken, report.rejected) == (len(rows), [])
    assert_fixture_imported(kb)


def test_excel_numbers_become_text(kb, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["编号", "故障表述", "数量"])
    wb.active.append([1001, "摄像机离线", 3])
    path = tmp_path / "n.xlsx"
    wb.save(path)
    import_file(kb, path, ColumnMapping(text=["故障表述"], id="编号"))
    assert kb.get("case", "1001").extra == {"数量": "3"}


def test_json_lines(kb, tmp_path):
    rows = fixture_rows()
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines.insert(2, "")  # blank lines are skipped
    path = tmp_path / "工单.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_file(kb, path, zh_mapping())
    assert report.taken == len(rows)
    assert_fixture_imported(kb)


def test_json_lines_values_that_are_not_strings(kb, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": 7, "text": "UPS报警", "tags": ["ups", "电池"],
                                "note": None}, ensure_ascii=False), encoding="utf-8")
    import_file(kb, path, ColumnMapping(text=["text"], id="id"))
    assert kb.get("case", "7").extra == {"tags": '["ups", "电池"]'}


def test_articles_are_imported_as_articles(kb, tmp_path):
    path = write_csv(tmp_path / "kb.csv", ["标题", "现象", "解决方法"],
                     [["硬盘错误排查", "NVR提示硬盘错误", "1. 查看SMART\n2. 更换硬盘"]])
    import_file(kb, path, ColumnMapping(text=["现象"], title="标题", fix="解决方法",
                                        kind="article"))
    (rec,) = kb.records("article")
    assert (rec.title, rec.fix, rec.state) == ("硬盘错误排查", "1. 查看SMART\n2. 更换硬盘",
                                               "validated")
    assert kb.counts()["case"] == 0


def test_several_text_columns_are_joined(kb, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["现象", "补充"], [["录像断档", "夜间更明显"],
                                                         ["摄像机离线", ""]])
    import_file(kb, path, ColumnMapping(text=["现象", "补充"]))
    assert [r.text for r in kb.records()] == ["录像断档\n夜间更明显", "摄像机离线"]


def test_without_an_id_column_ids_come_from_file_and_row(kb, tmp_path):
    path = write_csv(tmp_path / "history.csv", ["故障表述"], [["甲"], ["乙"]])
    import_file(kb, path, ColumnMapping(text=["故障表述"]))
    assert sorted(r.id for r in kb.records()) == ["history-1", "history-2"]


def test_reimport_upserts_by_id(kb, tmp_path):
    import_file(kb, ZH_CSV, zh_mapping())
    rows = fixture_rows()
    rows[0]["故障表述"] = "NVR硬盘错误，已复发"
    rows[0]["类别"] = "硬件"
    path = write_csv(tmp_path / "again.csv", list(rows[0]), [list(r.values()) for r in rows[:2]])
    report = import_file(kb, path, zh_mapping())
    assert report.taken == 2
    assert kb.counts()["case"] == len(rows)
    rec = kb.get("case", rows[0]["工单号"])
    assert (rec.text, rec.labels) == ("NVR硬盘错误，已复发", {"category": "硬件"})


def test_empty_fix_row_is_a_labelled_case(kb):
    import_file(kb, ZH_CSV, zh_mapping())
    rec = kb.get("case", "SR-2405")
    assert rec.fix == ""
    assert rec.labels == {"category": "软件"} and rec.severity == "三级"
    counts = kb.counts()
    assert counts["labelled"] == counts["case"] == len(fixture_rows())
    assert counts["with_fix"] == counts["case"] - 1


def test_label_values_are_taken_as_given(kb, tmp_path):
    path = write_csv(tmp_path / "l.csv", ["d", "cat"],
                     [["x", "Network"], ["y", " network "], ["z", "网络/交换机"], ["w", ""]])
    import_file(kb, path, ColumnMapping(text=["d"], labels={"category": "cat"}))
    assert sorted(kb.label_values("category")) == sorted(["Network", "network", "网络/交换机"])
    assert kb.get("case", "l-4").labels == {}


def test_severity_matches_the_scale_ignoring_case(tmp_path):
    store = KnowledgeBase(tmp_path / "kb.db", ["low", "high"])
    path = write_csv(tmp_path / "s.csv", ["d", "sev"], [["x", "HIGH"], ["y", "Low"]])
    import_file(store, path, ColumnMapping(text=["d"], severity="sev"))
    assert [r.severity for r in store.records()] == ["high", "low"]
    store.close()


def test_rejected_rows_are_reported_with_reasons(kb, tmp_path):
    header = ["工单号", "故障表述", "处理记录", "类别", "严重程度"]
    path = write_csv(tmp_path / "bad.csv", header, [
        ["SR-1", "摄像机离线", "改IP", "网络", "三级"],
        ["SR-2", "   ", "无", "网络", "三级"],
        ["SR-3", "硬盘错误", "换盘", "存储", "紧急"],
        ["", "平台宕机", "重启", "软件", "一级"],
        ["SR-5", "授权到期", "", "授权", ""],
    ])
    report = import_file(kb, path, zh_mapping())
    assert report.taken == 2
    reasons = {rej.row: rej.reason for rej in report.rejected}
    assert set(reasons) == {2, 3, 4}
    assert "empty description" in reasons[2]
    assert "紧急" in reasons[3] and "severity" in reasons[3]
    assert "id" in reasons[4]
    assert {r.id for r in kb.records()} == {"SR-1", "SR-5"}

    out = tmp_path / "rejects.csv"
    write_rejects(report, out)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert [(int(r["row"]), r["工单号"]) for r in back] == [(2, "SR-2"), (3, "SR-3"), (4, "")]
    assert all(r["reason"] for r in back)
    assert back[1]["严重程度"] == "紧急"


def test_nul_byte_in_a_cell_is_rejected(kb, tmp_path):
    path = tmp_path / "nul.jsonl"
    path.write_text('{"d": "ok"}\n{"d": "bad\\u0000cell"}\n', encoding="utf-8")
    report = import_file(kb, path, ColumnMapping(text=["d"]))
    assert report.taken == 1
    assert [(r.row, r.reason) for r in report.rejected] == [(2, "NUL byte in a cell")]


def test_rows_are_written_in_batches(kb, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 3)
    path = write_csv(tmp_path / "b.csv", ["d"], [[f"故障{n}"] for n in range(8)])
    seen: list[int] = []
    report = import_file(kb, path, ColumnMapping(text=["d"]), progress=seen.append)
    assert report.taken == 8 == kb.counts()["case"]
    assert seen == [3, 6, 8]


@pytest.mark.parametrize(("mapping", "error", "message"), [
    (zh_mapping(text=["描述"]), MissingColumn, "描述"),
    (zh_mapping(labels={"category": "类别", "component": "部件"}), MissingColumn, "部件"),
    (zh_mapping(fix="解决方法"), MissingColumn, "解决方法"),
    (zh_mapping(text=[]), BadInput, "text column"),
    (zh_mapping(kind="ticket"), BadInput, "ticket"),
])
def test_bad_mapping_is_refused_before_anything_is_written(kb, mapping, error, message):
    with pytest.raises(error, match=message):
        import_file(kb, ZH_CSV, mapping)
    assert kb.counts()["case"] == 0


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "empty"),
    ("empty.jsonl", b"\n\n", "empty"),
    ("binary.csv", b"PK\x03\x04\x00\x00\x00binary", "binary"),
    ("notes.pdf", b"%PDF-1.4", "unsupported"),
    ("broken.xlsx", b"not a zip", "Excel"),
    ("broken.jsonl", b'{"d": "ok"}\n{"d": \n', "line 2"),
    ("list.jsonl", b'["d"]\n', "JSON object"),
])
def test_unreadable_files_raise_bad_input(kb, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        import_file(kb, path, ColumnMapping(text=["d"]))
    assert kb.counts()["case"] == 0


def test_missing_file(kb, tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        import_file(kb, tmp_path / "nope.csv", ColumnMapping(text=["d"]))


def test_semicolon_and_tab_separated_files(tmp_path):
    (tmp_path / "semi.csv").write_text("a;b\n1;摄像机\n", encoding="utf-8")
    (tmp_path / "tabs.tsv").write_text("a\tb\n1\t硬盘\n", encoding="utf-8")
    assert list(open_table(tmp_path / "semi.csv").rows) == [{"a": "1", "b": "摄像机"}]
    assert list(open_table(tmp_path / "tabs.tsv").rows) == [{"a": "1", "b": "硬盘"}]


# -- export -------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("E-1043 授权到期", "E-1043 授权到期"),
    ("1+1", "1+1"),
    ("", ""),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def read_export(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_writes_every_record_and_reimports(kb, tmp_path):
    import_file(kb, ZH_CSV, zh_mapping())
    kb.upsert([Record("article", "A-1", title="硬盘错误排查", text="NVR提示硬盘错误",
                      fix="1. 查看SMART\n2. 更换硬盘", labels={"category": "存储"})])
    out = tmp_path / "export.csv"
    assert export_csv(kb, out) == len(fixture_rows()) + 1
    rows = read_export(out)
    assert len(rows) == len(fixture_rows()) + 1
    header = list(rows[0])
    assert len(header) == len(set(header))
    for col in ("kind", "id", "title", "text", "fix", "severity", "category", "客户信息"):
        assert col in header

    back = KnowledgeBase(tmp_path / "back.db", LEVELS)
    mapping = dict(text=["text"], title="title", fix="fix", labels={"category": "category"},
                   severity="severity", id="id")
    for kind in ("case", "article"):
        kind_rows = [r for r in rows if r["kind"] == kind]
        path = write_csv(tmp_path / f"{kind}.csv", header, [list(r.values()) for r in kind_rows])
        assert import_file(back, path, ColumnMapping(**mapping, kind=kind)).rejected == []
    for rec in kb.records():
        again = back.get(rec.kind, rec.id)
        assert (again.title, again.text, again.fix, again.labels, again.severity) == \
            (rec.title, rec.text, rec.fix, rec.labels, rec.severity)
    back.close()


def test_export_of_one_kind(kb, tmp_path):
    kb.upsert([Record("case", "C-1", text="x"), Record("article", "A-1", text="y")])
    out = tmp_path / "a.csv"
    assert export_csv(kb, out, "article") == 1
    assert [r["id"] for r in read_export(out)] == ["A-1"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_export_neutralises_formula_cells(kb, start):
    kb.upsert([Record("case", "F-1", title=f"{start}cmd|' /C calc'!A0", text="正常描述",
                      fix=f"{start}1+2", labels={"category": f"{start}x"},
                      extra={"备注": f"{start}HYPERLINK(\"http://evil\")"})])
    buf = io.StringIO()
    export_csv(kb, buf)
    (row,) = list(csv.DictReader(io.StringIO(buf.getvalue())))
    for col in ("title", "fix", "category", "备注"):
        assert row[col].startswith("'" + start), col
    assert row["text"] == "正常描述"


def test_export_keeps_record_fields_when_a_column_has_the_same_name(kb, tmp_path):
    """An unmapped column called 'id' or 'title' is kept in extra; it must not overwrite
    the record's own id and title in the export, nor repeat a column name."""
    path = write_csv(tmp_path / "t.csv", ["id", "title", "description"],
                     [["X1", "外部标题", "摄像机离线"]])
    import_file(kb, path, ColumnMapping(text=["description"]))
    out = tmp_path / "e.csv"
    export_csv(kb, out)
    with open(out, encoding="utf-8-sig", newline="") as fh:
        header, row = list(csv.reader(fh))
    assert len(header) == len(set(header))
    values = dict(zip(header, row, strict=True))
    assert (values["id"], values["title"], values["text"]) == ("t-1", "", "摄像机离线")
    assert "X1" in row and "外部标题" in row  # the extra values are not lost


def test_export_extra_column_named_like_a_label_keeps_both(kb):
    kb.upsert([Record("case", "A", text="x", labels={"category": "网络"}),
               Record("case", "B", text="y", extra={"category": "旧分类"})])
    buf = io.StringIO()
    export_csv(kb, buf)
    header, *rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert len(header) == len(set(header))
    by_id = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_id["A"]["category"] == "网络"
    assert by_id["B"]["category"] == ""
    assert "旧分类" in by_id["B"].values()


def test_row_with_more_cells_than_the_header_is_rejected_not_cut(kb, tmp_path):
    path = tmp_path / "shifted.csv"
    path.write_text("工单号,故障表述,处理记录\n"
                    "T-1,摄像机离线,改IP\n"
                    "T-2,硬盘错误,录像查不到,更换硬盘\n"   # an unquoted comma in the text
                    "T-3,UPS冒烟,断电,,\n", encoding="utf-8")  # empty trailing cells are fine
    report = import_file(kb, path, ColumnMapping(text=["故障表述"], fix="处理记录", id="工单号"))
    assert [r.row for r in report.rejected] == [2]
    assert "more cells" in report.rejected[0].reason
    assert "更换硬盘" in report.rejected[0].reason
    assert {r.id for r in kb.records()} == {"T-1", "T-3"}
    assert kb.get("case", "T-3").extra == {}
