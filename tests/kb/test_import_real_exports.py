"""Imports of the files teams really have (issue 10): a title row above the header,
Chinese severities, duplicate ids in one file, and KnownFix's own export coming back
without losing anything."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook

from cli.options import pairs
from errors import BadInput, MissingColumn, UnknownLabel
from kb.exporter import export_csv
from kb.importer import ColumnMapping, import_file
from kb.records import Record
from kb.store import KnowledgeBase

LEVELS = ["low", "medium", "high", "critical"]
HEADER = ["工单号", "故障描述", "处理记录", "类别", "严重程度"]
ROWS = [["T-1", "NVR提示硬盘错误", "更换硬盘", "存储", "高"],
        ["T-2", "摄像机每天掉线", "改固定IP", "网络", "中"],
        ["T-3", "客户端安装报错", "", "软件", "低"]]


def mapping(**changes) -> ColumnMapping:
    base = {"text": ["故障描述"], "fix": "处理记录", "labels": {"category": "类别"},
            "id": "工单号"}
    return ColumnMapping(**{**base, **changes})


@pytest.fixture
def kb(tmp_path):
    store = KnowledgeBase(tmp_path / "kb.db", LEVELS)
    yield store
    store.close()


def xlsx(path, rows: list[list], merge: str | None = None):
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    if merge:
        ws.merge_cells(merge)
    wb.save(path)
    return path


def csv_file(path, rows: list[list], encoding: str = "utf-8-sig"):
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


# -- a title row above the header ------------------------------------------------------------------
@pytest.mark.parametrize("above", [
    [["2026年11月 工单导出"], []],             # a merged title and an empty row
    [[]],                                      # an empty first row
    [["导出人：张三", None, "导出时间：2026-11-30"]],  # a line of export details
])
def test_excel_header_below_a_title_row_is_found(kb, tmp_path, above):
    path = xlsx(tmp_path / "export.xlsx", [*above, HEADER, *ROWS],
                merge="A1:E1" if len(above) == 2 else None)
    report = import_file(kb, path, mapping())
    assert (report.taken, report.rejected, report.header_row) == (3, [], len(above) + 1)
    assert kb.get("case", "T-1").labels == {"category": "存储"}
    assert "2026年11月 工单导出" not in str(kb.get("case", "T-1").extra)


def test_csv_header_below_a_title_row_is_found(kb, tmp_path):
    path = csv_file(tmp_path / "export.csv", [["工单导出（2026年11月）"], HEADER, *ROWS])
    report = import_file(kb, path, mapping())
    assert (report.taken, report.header_row) == (3, 2)


def test_header_row_option(kb, tmp_path):
    """Rows above the header that look like data: only --header-row can say which it is."""
    junk = [["说明", "本表由系统导出", "请勿修改", "第1页", "共1页"],
            ["部门", "运维部", "负责人", "李四", "电话"]]
    path = csv_file(tmp_path / "export.csv", [*junk, HEADER, *ROWS])
    report = import_file(kb, path, mapping(), header_row=3)
    assert (report.taken, report.header_row) == (3, 3)
    with pytest.raises(BadInput, match="--header-row"):
        import_file(kb, path, mapping(), header_row=9)


def test_missing_columns_say_which_row_was_the_header(kb, tmp_path):
    path = csv_file(tmp_path / "export.csv", [["说明", "x", "y"], HEADER, *ROWS])
    with pytest.raises(MissingColumn, match=r"header taken from row 1.*--header-row"):
        import_file(kb, path, mapping(text=["描述"]))


# -- severities ------------------------------------------------------------------------------------
def test_severity_map_takes_chinese_severities(kb, tmp_path):
    path = csv_file(tmp_path / "s.csv", [HEADER, *ROWS, ["T-4", "机房冒烟", "", "电源", "紧急"]])
    severity_map = severity_map_of("高=high,中=medium,低=low,紧急=critical")
    report = import_file(kb, path, mapping(severity="严重程度", severity_map=severity_map))
    assert report.rejected == []
    assert [kb.get("case", f"T-{n}").severity for n in (1, 2, 3, 4)] == \
        ["high", "medium", "low", "critical"]


def test_unknown_severity_names_the_option_and_the_setting(kb, tmp_path):
    path = csv_file(tmp_path / "s.csv", [HEADER, *ROWS])
    report = import_file(kb, path, mapping(severity="严重程度",
                                           severity_map={"高": "high", "中": "medium"}))
    assert report.taken == 2
    (reason,) = [r.reason for r in report.rejected]
    assert "unknown severity '低'" in reason
    assert "--severity-map 低=LEVEL" in reason and "severity_levels" in reason


def severity_map_of(text: str) -> dict[str, str]:
    """--severity-map as the command line reads it."""
    return pairs([text], "--severity-map", "VALUE=LEVEL", "高=high", split=True)


@pytest.mark.parametrize(("text", "error"), [
    ("高=high,中", "give --severity-map 中=LEVEL"),
    ("高=urgent", "'urgent' is not a severity level"),
])
def test_bad_severity_map(kb, tmp_path, text, error):
    path = csv_file(tmp_path / "s.csv", [HEADER, *ROWS])
    with pytest.raises((BadInput, UnknownLabel), match=error):
        import_file(kb, path, mapping(severity="严重程度", severity_map=severity_map_of(text)))


# -- duplicate ids in one file -------------------------------------------------------------------
DUPLICATED = [HEADER, ROWS[0], ROWS[1], ["T-1", "NVR硬盘错误（补充）", "更换3号硬盘", "存储", "高"]]


def test_a_duplicate_id_in_one_file_is_rejected(kb, tmp_path):
    path = csv_file(tmp_path / "d.csv", DUPLICATED)
    report = import_file(kb, path, mapping())
    assert report.taken == 2
    (rej,) = report.rejected
    assert (rej.row, rej.reason) == (3, "duplicate id 'T-1' (also row 1); --last-wins "
                                        "keeps the later row")
    assert kb.get("case", "T-1").fix == "更换硬盘"
    assert kb.counts()["case"] == 2


def test_last_wins_keeps_the_later_row_and_says_so(kb, tmp_path):
    path = csv_file(tmp_path / "d.csv", DUPLICATED)
    report = import_file(kb, path, mapping(), last_wins=True)
    assert (report.taken, report.replaced, report.rejected) == (2, 1, [])
    assert kb.get("case", "T-1").fix == "更换3号硬盘"
    assert kb.counts()["case"] == 2


def test_reimporting_a_file_is_an_update_not_a_duplicate(kb, tmp_path):
    path = csv_file(tmp_path / "d.csv", [HEADER, *ROWS])
    import_file(kb, path, mapping())
    assert import_file(kb, path, mapping()).rejected == []


# -- export -> import ------------------------------------------------------------------------------
EXPORT_MAPPING = {"text": ["text"], "title": "title", "fix": "fix", "severity": "severity",
                  "id": "id", "labels": {"category": "category"}}


def export_text(kb: KnowledgeBase) -> str:
    buf = io.StringIO()
    export_csv(kb, buf)
    return buf.getvalue()


def test_export_then_import_loses_nothing_and_adds_nothing(kb, tmp_path):
    kb.upsert([
        Record("case", "C-1", title="=cmd|' /C calc'!A0", text="NVR提示硬盘错误",
               fix="-1 dB 调整后恢复", labels={"category": "存储"}, severity="high",
               state="resolved", extra={"客户信息": "远洋物流", "备注": "+86 21 5555"},
               created_at="2026-01-02T03:04:05Z"),
        Record("case", "C-2", text="@摄像机离线", state="in_progress",
               created_at="2026-02-03T04:05:06Z"),
        Record("article", "A-1", title="硬盘错误排查", text="NVR提示硬盘错误", fix="更换硬盘",
               labels={"category": "存储"}, state="not_validated",
               created_at="2026-03-04T05:06:07Z"),
    ])
    first = export_text(kb)
    path = tmp_path / "kb.csv"
    path.write_text(first, encoding="utf-8-sig")
    back = KnowledgeBase(tmp_path / "back.db", LEVELS)
    report = import_file(back, path, ColumnMapping(**EXPORT_MAPPING))
    assert (report.taken, report.rejected) == (3, [])
    for rec in kb.records():
        again = back.get(rec.kind, rec.id)
        assert (again.kind, again.title, again.text, again.fix, again.labels, again.severity,
                again.state, again.extra, again.created_at) == \
            (rec.kind, rec.title, rec.text, rec.fix, rec.labels, rec.severity, rec.state,
             rec.extra, rec.created_at)
    second = export_text(back)
    header = next(csv.reader(io.StringIO(second)))
    assert not [c for c in header if c.startswith("extra:")]
    assert header == next(csv.reader(io.StringIO(first)))
    # a second cycle changes nothing but the time of the write
    drop_updated = [[c for c, h in zip(row, header, strict=True) if h != "updated_at"]
                    for row in csv.reader(io.StringIO(second))]
    assert drop_updated == [[c for c, h in zip(row, header, strict=True) if h != "updated_at"]
                            for row in csv.reader(io.StringIO(first))]
    back.close()


def test_the_formula_guard_comes_off_on_the_way_in(kb, tmp_path):
    path = csv_file(tmp_path / "f.csv", [["id", "text", "fix"],
                                         ["F-1", "'=SUM(A1)", "'-1 dB"],
                                         ["F-2", "it's fine", "'quoted"]])
    import_file(kb, path, ColumnMapping(text=["text"], fix="fix", id="id"))
    assert (kb.get("case", "F-1").text, kb.get("case", "F-1").fix) == ("=SUM(A1)", "-1 dB")
    assert (kb.get("case", "F-2").text, kb.get("case", "F-2").fix) == ("it's fine", "'quoted")
