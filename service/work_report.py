"""The per-case work report (工作报表): one row per case worked in a period, as a support
manager hands it in, and its CSV and Excel files.

Which cases: a case is in the report for [start, end) when one of its own work stamps
falls in the period: received (else created), first response, escalation, dispatch,
service record, delay, resolved, customer confirmation, closed or follow-up. So a case
received last month and closed this week is in this week's report, as is one still
being worked on. (The summary statistics count the cases *received* in the period.)
Imported history (cases that came in through `knownfix import` or the demo loader, not
through the desk: they have no project, which `Cases.open` always sets) is left out
unless `include_imported`.

`work_rows` reads the rows; `cells` turns a row into what a person reads in a language
(catalogue names for channel, state and delay reason; times stay datetimes); `display`
is that as text for a table on screen; `write_csv` writes the CSV and `add_sheet` the
first sheet of the workbook (`service.reports.write_work_xlsx` adds the statistics).
Nothing here checks permissions: the `Reports` methods that call it do. `json_record`
reads stored JSON columns for the summary too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, TextIO

from errors import BadInput
from kb.exporter import safe_cell
from service.cases import CHANNELS, STATES, WORK_TYPES, work_condition
from ui.i18n import MESSAGES, message  # the catalogue alone: it does not need Streamlit
from zones import read_utc

if TYPE_CHECKING:
    from kb.store import KnowledgeBase

# A case that came through the desk has a project (Cases.open sets it); imported history
# has none.
DESK_CASE = "COALESCE(c.project, '') != ''"
RECEIVED = "COALESCE(NULLIF(c.received_at, ''), c.created_at)"


def _field(col: str, name: str) -> str:
    """SQL: field `name` of the JSON column `col`, NULL when the column is not JSON."""
    return f"(CASE WHEN json_valid(c.{col}) THEN json_extract(c.{col}, '$.{name}') END)"


# Every stamp of work a case keeps (columns, and the `at` of its JSON records).
_STAMPS = (RECEIVED, "c.first_response_at", "c.resolved_at", "c.confirmed_at",
           "c.closed_at", *(_field(col, "at") for col in (
               "escalation", "dispatch", "service_record", "delay", "follow_up")))
_COLS = ("id", "title", "customer", "channel", "product", "asset_model", "asset_serial",
         "assignee", "state", "work_type", "received_at", "created_at", "first_response_at",
         "resolved_at", "closed_at", "fix", "service_record", "delay", "satisfaction",
         "follow_up", "extra")
TIME_FORMAT = "%Y-%m-%d %H:%M"
# the catalogue parts a case used (service/charges.py): name × quantity, 、 between
_PARTS = ("(SELECT group_concat(i.name || '×' || i.quantity, '、') FROM case_items i "
          "WHERE i.case_id = c.id AND i.kind = 'part')")


@dataclass(frozen=True)
class WorkFilter:
    """Which cases of the period to list: assignee (a user name), customer (a part of
    the name, any case), channel (one of CHANNELS), state (one of STATES) and kind of
    work (one of WORK_TYPES: faults or maintenance); empty means any."""

    engineer: str = ""
    customer: str = ""
    channel: str = ""
    state: str = ""
    work: str = ""

    def check(self) -> WorkFilter:
        """The filter with blanks trimmed, or BadInput for an unknown channel, state or
        kind of work."""
        found = WorkFilter(*(v.strip() for v in (self.engineer, self.customer,
                                                 self.channel, self.state, self.work)))
        if found.work:
            work_condition(found.work)  # BadInput for an unknown kind
        if found.channel and found.channel not in CHANNELS:
            raise BadInput(f"unknown channel {found.channel!r} (use {', '.join(CHANNELS)})",
                           "work_channel", channel=found.channel,
                           channels=", ".join(CHANNELS))
        if found.state and found.state not in STATES:
            raise BadInput(f"unknown state {found.state!r} (use {', '.join(STATES)})",
                           "work_state", state=found.state, states=", ".join(STATES))
        return found


@dataclass(frozen=True)
class WorkRow:
    """One case as the work report shows it; codes (channel, state, delay) are stored
    values, times aware UTC datetimes (None when the case has no such stamp)."""

    case: str
    title: str
    customer: str
    channel: str
    product: str
    serial: str
    engineer: str  # the assignee's display name (the stored name if no such user)
    state: str
    work: str  # the kind of work (WORK_TYPES): "fault" or "maintenance"
    received: datetime | None
    responded: datetime | None
    resolved: datetime | None
    closed: datetime | None
    cause: str
    fix: str
    parts: str
    delay_code: str
    delay_note: str
    satisfaction: int | None
    follow_outcome: str  # the follow-up call's outcome (Cases.follow_up); "": none yet
    follow_note: str


# (field of WorkRow or a derived cell, catalogue key of its header, width in characters)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("case", "case.number", 20), ("title", "intake.title", 28),
    ("customer", "intake.customer", 18), ("channel", "intake.channel", 10),
    ("product", "intake.product", 18), ("serial", "intake.asset_serial", 18),
    ("engineer", "work.engineer", 14), ("state", "case.state", 10),
    ("received", "case.received", 17), ("responded", "work.responded", 17),
    ("resolved", "work.resolved", 17), ("closed", "work.closed", 17),
    ("cause", "service.cause", 30), ("fix", "work.fix", 40), ("parts", "work.parts", 20),
    ("delay", "delay.header", 24), ("satisfaction", "confirm.satisfaction", 8),
    ("follow_up", "follow.header", 20), ("work", "work.kind", 10))
TIME_COLUMNS = frozenset({"received", "responded", "resolved", "closed"})


def work_rows(kb: KnowledgeBase, names: dict[str, str], lo: str, hi: str,
              found: WorkFilter, include_imported: bool = False) -> list[WorkRow]:
    """The cases worked in [lo, hi) (UTC ISO-8601 bounds) that pass `found`, oldest
    received first. `names`: user name -> display name."""
    # the cheap tests first: SQLite stops at the first false one
    where = [] if include_imported else [DESK_CASE]
    args: dict[str, Any] = {"lo": lo, "hi": hi}
    if found.work:
        where.append(work_condition(found.work))
    for name, cond in (("engineer", "c.assignee = :engineer"),
                       ("channel", "c.channel = :channel"), ("state", "c.state = :state"),
                       ("customer", f"instr(lower(COALESCE(c.customer, "
                                    f"{_field('extra', 'customer')}, '')), "
                                    "lower(:customer)) > 0")):
        if getattr(found, name):
            where.append(cond)
            args[name] = getattr(found, name)
    where.append("(" + " OR ".join(f"({s} >= :lo AND {s} < :hi)" for s in _STAMPS) + ")")
    sql = (f"SELECT {', '.join(f'c.{c}' for c in _COLS)}, {_PARTS} AS parts FROM cases c "
           f"WHERE {' AND '.join(where)}")
    sql += f" ORDER BY {RECEIVED}, c.id"
    return [_row(r, names) for r in kb.db.query(sql, args)]


def _row(r: dict, names: dict[str, str]) -> WorkRow:
    """A WorkRow from a cases row; an imported case's own columns (customer, channel,
    product) stand in where the desk's are empty."""
    extra, record = json_record(r["extra"]), json_record(r["service_record"])
    delay, follow = json_record(r["delay"]), json_record(r["follow_up"])

    def text(col: str) -> str:
        return str(r[col] or extra.get(col) or "").strip()

    return WorkRow(
        case=r["id"], title=r["title"] or "", customer=text("customer"),
        channel=text("channel"), product=text("product") or text("asset_model"),
        serial=text("asset_serial"),
        engineer=names.get(r["assignee"], r["assignee"]) if r["assignee"] else "",
        state=r["state"] or "", work=r["work_type"] or WORK_TYPES[0],
        received=read_utc(r["received_at"] or r["created_at"]),
        responded=read_utc(r["first_response_at"]), resolved=read_utc(r["resolved_at"]),
        closed=read_utc(r["closed_at"]), cause=str(record.get("cause") or "").strip(),
        fix=r["fix"] or "", parts="、".join([*(str(p) for p in record.get("parts_used") or []),
                                             *filter(None, [r["parts"]])]),
        delay_code=str(delay.get("code") or ""), delay_note=str(delay.get("note") or ""),
        satisfaction=r["satisfaction"],
        follow_outcome=_outcome(follow), follow_note=str(follow.get("note") or ""))


def _outcome(follow: dict) -> str:
    """A stored follow-up's outcome; a call stored before outcomes has only came_back."""
    if follow.get("outcome"):
        return str(follow["outcome"])
    if "came_back" in follow:
        return "came_back" if follow["came_back"] else "solved"
    return ""


def cells(row: WorkRow, lang: str, tz: tzinfo = UTC) -> dict[str, Any]:
    """The row as a person reads it in `lang`, keyed by COLUMNS' names: channel, state
    and delay reason by their catalogue names; times as naive datetimes in `tz`."""
    def named(prefix: str, value: str) -> str:
        key = f"{prefix}.{value}"
        return message(key, lang) if value and key in MESSAGES else value

    delay = " ".join(p for p in (named("delay", row.delay_code), row.delay_note) if p)
    follow = " ".join(p for p in (named("follow.outcome", row.follow_outcome),
                                  row.follow_note) if p)
    out: dict[str, Any] = {name: getattr(row, name, None) for name, _, _ in COLUMNS}
    out.update(channel=named("channel", row.channel), state=named("state", row.state),
               work=named("work", row.work), delay=delay, follow_up=follow)
    for name in TIME_COLUMNS:
        out[name] = _local(out[name], tz)
    return out


def headers(lang: str, tz: tzinfo = UTC) -> list[str]:
    """The column headers in `lang`; time columns name their zone."""
    zone = _zone_name(tz)
    return [f"{message(key, lang)} ({zone})" if name in TIME_COLUMNS else message(key, lang)
            for name, key, _ in COLUMNS]


def write_csv(rows: Iterable[WorkRow], lang: str, fh: TextIO, tz: tzinfo = UTC) -> None:
    """The report as CSV (open `fh` with encoding utf-8-sig so Excel reads Chinese);
    times as YYYY-MM-DD HH:MM, text made formula-safe."""
    w = csv.writer(fh)
    w.writerow(headers(lang, tz))
    for row in rows:
        w.writerow([_text(v) for v in cells(row, lang, tz).values()])


def add_sheet(book: Any, rows: Sequence[WorkRow], lang: str, tz: tzinfo = UTC) -> None:
    """The report as the first sheet of an open xlsxwriter workbook: bold frozen header
    row (and case number column), column widths, times as Excel dates."""
    sheet = book.add_worksheet(message("work.sheet", lang)[:31])
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm", "valign": "top"})
    top = book.add_format({"valign": "top"})
    sheet.write_row(0, 0, headers(lang, tz), bold)
    for col, (_, _, width) in enumerate(COLUMNS):
        sheet.set_column(col, col, width)
    for n, row in enumerate(rows, start=1):
        for col, value in enumerate(cells(row, lang, tz).values()):
            if isinstance(value, datetime):
                sheet.write_datetime(n, col, value, when)
            elif isinstance(value, int):
                sheet.write_number(n, col, value, top)
            elif value:
                sheet.write_string(n, col, safe_cell(str(value)), top)
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, max(len(rows), 1), len(COLUMNS) - 1)


def display(rows: Iterable[WorkRow], lang: str, tz: tzinfo = UTC) -> list[dict[str, str]]:
    """The rows as text for a table on screen: headers in `lang`, times formatted, ""
    for empty cells."""
    names = headers(lang, tz)
    return [{h: _text(v, safe=False) for h, v in zip(names, cells(row, lang, tz).values(),
                                                      strict=True)} for row in rows]


# -- small readers and writers --------------------------------------------------------------------
def json_record(value: str | None) -> dict:
    """A JSON column's object; {} when empty, unreadable or not an object."""
    if not value:
        return {}
    try:
        found = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _local(value: datetime | None, tz: tzinfo) -> datetime | None:
    """An aware time as a naive one in `tz` (Excel has no zones)."""
    return value.astimezone(tz).replace(tzinfo=None) if value else None


def _zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or datetime.now(tz).tzname() or "UTC"


def _text(value: Any, safe: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    return safe_cell(str(value)) if safe and isinstance(value, str) else str(value)
