"""The README says what the code does: its settings table is the settings list."""

from __future__ import annotations

import re
from pathlib import Path

from cli.main import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_settings_table_is_the_settings_list():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings -->\n(.*?)\n<!-- /settings -->", text, re.S)
    assert found, "README.md needs the settings table between <!-- settings --> markers"
    assert found.group(1).strip() == settings_table(), \
        "README settings table drifted: paste `knownfix settings --markdown` between the markers"
