"""The endpoint table of docs/api.md, made from the OpenAPI document (a test checks
that the doc's table is this one, so the two cannot drift)."""

from __future__ import annotations

from service.auth import ROLES


def endpoint_table(openapi: dict) -> str:
    """| method | path | who may | what | for every operation, in document order."""
    lines = ["| method | path | who may (permission) | what |", "|---|---|---|---|"]
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            permission, roles = op.get("x-permission"), op.get("x-roles") or []
            if permission == "public":
                who = "anyone, no token"
            elif len(roles) == len(ROLES):
                who = f"every role (`{permission}`)"
            else:
                who = f"{', '.join(roles)} (`{permission}`)"
            lines.append(f"| {method.upper()} | `{path}` | {who} | {op.get('summary', '')} |")
    return "\n".join(lines)
