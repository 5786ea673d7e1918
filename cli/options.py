"""What the `knownfix` commands share: the common options, declared once, and the
readers of option values (NAME=VALUE pairs, long text from stdin or a file).

Every command module takes `--data-dir`, `--as` and `--json` from here, so their names,
help and environment variables are the same everywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from errors import BadInput

# what every option taking a time says (service.cases.parse_time reads it)
TIME_HELP = ("ISO-8601 with a zone (2026-12-01T01:00:00Z), or 2026-12-01 09:00 / "
             "2026-12-01 on the clock of the `timezone` setting.")
DataDirOpt = Annotated[str | None, typer.Option(
    "--data-dir", help="Data folder holding the knowledge base (default: "
    "$KNOWNFIX_DATA_DIR or ./data).", show_default=False)]
AsOpt = Annotated[str | None, typer.Option(
    "--as", envvar="KNOWNFIX_USER", show_envvar=True,
    help="Act as this user; their role is checked as in the app (default "
         "$KNOWNFIX_USER; with neither, the built-in 'system' administrator).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TextFileOpt = Annotated[Path | None, typer.Option(
    "--text-file", help="Read the text from this UTF-8 file (for long text).",
    show_default=False)]
STDIN = "-"  # as the text: read it from standard input


def pairs(items: Iterable[str], option: str, form: str = "NAME=VALUE", example: str = "",
          split: bool = False, empty_ok: bool = False) -> dict[str, str]:
    """['a=1', 'b=2'] as {'a': '1', 'b': '2'}: the one reader of NAME=VALUE options
    (--label, --field, --severity-map).  `form` names the two sides for the error, e.g.
    "VALUE=LEVEL", and `example` shows one; with `split`, an item may hold several pairs
    separated by commas (also the full-width ，).  A bare NAME, an empty name, or (unless
    `empty_ok`) an empty value is refused with a one-line error showing the form."""
    out: dict[str, str] = {}
    for item in items:
        parts = item.replace("，", ",").split(",") if split else [item]
        for part in (p.strip() for p in parts):
            if split and not part:
                continue
            name, sep, value = (x.strip() for x in part.partition("="))
            if not sep or not name or not (value or empty_ok):
                left, right = form.split("=")
                raise BadInput(f"bad {option} {part!r}: give {option} {name or left}={right}"
                               + (f" (e.g. {option} {example})" if example else ""))
            out[name] = value
    return out


def text_input(text: str | None, text_file: Path | None, what: str = "the text") -> str:
    """The text a command works on: given as is, `-` for standard input, or read from
    `text_file` (UTF-8, a BOM allowed); surrounding blank space is dropped.  Refused
    when neither or both are given, or the file cannot be read as UTF-8 text."""
    if text is not None and text_file is not None:
        raise BadInput(f"give {what} or --text-file, not both")
    if text is None and text_file is None:
        raise BadInput(f"give {what} (or - to read standard input, or --text-file PATH)")
    if text_file is not None:
        return _read_utf8(text_file.read_bytes() if text_file.is_file() else
                          _not_a_file(text_file), str(text_file)).strip()
    if text == STDIN:
        return _read_utf8(sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer")
                          else sys.stdin.read().encode("utf-8"), "standard input").strip()
    return text


def _not_a_file(path: Path) -> bytes:
    if path.exists():
        raise BadInput(f"--text-file {path} is not a file")
    raise BadInput(f"--text-file {path}: no such file")


def _read_utf8(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{source} is not UTF-8 text (byte {exc.start}): save it as "
                       "UTF-8") from None
