"""Reports over a period: the summary as JSON, or the summary and the weekly table as a
CSV, XLSX or JSON file (as `knownfix report` writes them)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import Caller, DeskDep, needs
from api.schemas import Short

router = APIRouter(prefix="/reports", tags=["reports"])
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
Start = Annotated[Short, Query(description="First day (ISO-8601 date), included")]
End = Annotated[Short, Query(description="Day after the last (ISO-8601 date), excluded")]
Imported = Annotated[bool, Query(description="Count imported history (knownfix import, the "
                                 "demo) too; left out by default")]


@router.get("/summary", response_model=dict[str, Any], openapi_extra=needs("report.view"),
            summary="Volume, outcomes, timing, satisfaction, engineers, knowledge, gaps")
def summary(user: Caller, desk: DeskDep, start: Start, end: End,
            include_imported: Imported = False) -> dict[str, Any]:
    return desk.reports.summary(user, start, end, include_imported=include_imported)


@router.get("/export", openapi_extra=needs("report.view"),
            summary="The summary and the weekly table as a file",
            response_class=Response,
            responses={200: {"description": "The report file", "content": {
                m: {"schema": {"type": "string", "format": "binary"}} if k == "xlsx" else
                {"schema": {"type": "string"}} for k, m in MEDIA.items()}}})
def export(user: Caller, desk: DeskDep, start: Start, end: End,
           format: Annotated[Literal["csv", "xlsx", "json"], Query()] = "csv",
           include_imported: Imported = False) -> Response:
    name = f"knownfix-report-{start}-{end}.{format}"
    if format == "xlsx":
        with tempfile.TemporaryDirectory(prefix="knownfix-report-") as tmp:
            path = Path(tmp) / "report.xlsx"
            desk.reports.export(user, start, end, "xlsx", path,
                                include_imported=include_imported)
            data = path.read_bytes()
    else:
        out = io.StringIO()
        desk.reports.export(user, start, end, format, out, include_imported=include_imported)
        data = ("\ufeff" if format == "csv" else "").encode() + out.getvalue().encode()
    return Response(data, media_type=MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="{_safe(name)}"'})


def _safe(name: str) -> str:
    """A file name fit for a quoted header value (the dates are the caller's text)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
