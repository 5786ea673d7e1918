"""Two versions of an article as text, and the unified diff between them (difflib),
for the article editor's history.  Pure functions: the page shows the diff with
st.code(language="diff"), which escapes it."""

from __future__ import annotations

import difflib
from collections.abc import Callable

# the article's parts in the order a reader meets them (keys of a stored version)
SECTIONS = ("title", "severity", "labels", "text", "cause", "environment", "fix")


def version_lines(version: dict, name: Callable[[str], str]) -> list[str]:
    """A stored version (Knowledge.versions row) as lines: each part under its name
    (`name(section)`, in the reader's language), parts it does not have left out."""
    extra = version.get("extra") or {}
    values = {"title": version.get("title") or "", "severity": version.get("severity") or "",
              "labels": "\n".join(f"{k} = {v}" for k, v in
                                  sorted((version.get("labels") or {}).items())),
              "text": version.get("text") or "", "cause": extra.get("cause", ""),
              "environment": extra.get("environment", ""), "fix": version.get("fix") or ""}
    lines: list[str] = []
    for section in SECTIONS:
        if values[section].strip():
            lines += [f"[{name(section)}]", *values[section].strip().splitlines(), ""]
    return lines


def unified(old: list[str], new: list[str], old_name: str, new_name: str) -> str:
    """The unified diff of two versions' lines (empty when they are the same)."""
    return "\n".join(difflib.unified_diff(old, new, old_name, new_name, lineterm="", n=2))
