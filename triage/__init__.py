"""Triage: classify, rate severity, match known fixes, decide escalation.

`Triager` and `TriageResult` are imported on first use, so that importing a light part
of the package (triage.params) does not load the classifiers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from triage.result import TriageResult
    from triage.triager import Triager

__all__ = ["TriageResult", "Triager"]


def __getattr__(name: str) -> object:
    if name == "Triager":
        from triage.triager import Triager

        return Triager
    if name == "TriageResult":
        from triage.result import TriageResult

        return TriageResult
    raise AttributeError(f"module 'triage' has no attribute {name!r}")
