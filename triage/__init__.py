"""Triage: classify, rate severity, match known fixes, decide escalation."""

from triage.result import TriageResult
from triage.triager import Triager

__all__ = ["TriageResult", "Triager"]
