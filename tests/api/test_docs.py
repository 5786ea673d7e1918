"""docs/api.md says what the server does: its endpoint table is made from the OpenAPI
document the running server serves."""

from __future__ import annotations

import re
from pathlib import Path

from api.reference import endpoint_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_the_endpoint_table_is_the_served_document(api_server):
    with api_server.client() as c:
        served = c.get("/api/v1/openapi.json").json()
    found = re.search(r"<!-- endpoints -->\n(.*?)\n<!-- /endpoints -->",
                      DOC.read_text("utf-8"), re.S)
    assert found, "docs/api.md needs the endpoint table between <!-- endpoints --> markers"
    assert found.group(1).strip() == endpoint_table(served), \
        "docs/api.md endpoint table drifted: paste api.reference.endpoint_table(openapi)"


def test_every_example_path_is_an_endpoint(api_server):
    """The curl examples use paths the server has (a typo in the docs fails here)."""
    with api_server.client() as c:
        paths = set(c.get("/api/v1/openapi.json").json()["paths"])
    templates = [re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$")
                 for p in paths]
    text = DOC.read_text("utf-8")
    used = set(re.findall(r"\$K(/[\w/{}-]*)", text))
    used |= {"/cases/KF-20261202-1" + m for m in re.findall(r"\$C(/[\w-]+)?", text)}
    used |= {"/articles/KA-000001" + m for m in re.findall(r"\$A(/[\w-]+)?", text)}
    assert len(used) > 20
    for path in used:
        full = "/api/v1" + path.rstrip("/")
        assert any(t.match(full) for t in templates), f"docs/api.md uses {full}"
