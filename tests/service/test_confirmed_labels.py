"""Only confirmed labels teach (issue 9): resolve and close store the resolver's labels
and severity, or triage's prediction when the resolver confirms it; an unconfirmed case
teaches the classifiers nothing; each confirmation is an event counted in the reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from errors import UnknownLabel
from service.auth import SYSTEM, Users
from service.desk import Desk
from service.engine import Engine
from settings import load_settings
from tests.helpers import small_kb_records
from triage.learner import labelled

FAULT = "NVR提示硬盘错误，回放查不到录像"


@pytest.fixture
def desk(tmp_path) -> Iterator[Desk]:
    d = Desk(Engine(load_settings(str(tmp_path), model="hash:256", vector_backend="numpy")))
    d.engine.upsert(small_kb_records())
    yield d
    d.close()


@pytest.fixture
def agent(desk):
    return Users(desk.engine.kb).add(SYSTEM, "li", "password-123", "first_line")


def teaching_keys(desk: Desk) -> set[str]:
    records, _ = labelled(desk.engine.kb, desk.engine._index)
    return {r.key for r in records}


def opened(desk: Desk, actor) -> str:
    case = desk.cases.open(actor, FAULT, channel="phone")
    assert case.predicted, "triage predicted labels for the case"
    return case.id


def test_a_resolve_without_confirmation_teaches_nothing(desk, agent):
    case_id = opened(desk, agent)
    version = desk.engine.kb.label_version
    case = desk.cases.resolve(agent, case_id, "更换3号硬盘")
    assert case.labels == {} and case.severity is None
    assert f"case:{case_id}" not in teaching_keys(desk)
    assert desk.engine.kb.label_version == version, "the classifiers have nothing to relearn"
    # its text and fix still serve search
    assert f"case:{case_id}" in [r.hit.key for r in desk.engine.search("NVR 硬盘错误", k=10)]
    closed = desk.cases.close(agent, case_id).case
    assert closed.labels == {} and f"case:{case_id}" not in teaching_keys(desk)


def test_confirming_stores_the_prediction_and_teaches_it(desk, agent):
    case_id = opened(desk, agent)
    predicted = desk.cases.get(case_id).predicted
    case = desk.cases.resolve(agent, case_id, "更换3号硬盘", confirm=True)
    assert case.labels == predicted
    assert case.severity == case.triage.severity
    assert f"case:{case_id}" in teaching_keys(desk)
    event = [e for e in desk.engine.kb.events(f"case:{case_id}") if e["action"] == "resolve"]
    assert '"corrected": []' in event[-1]["detail"]


def test_a_correction_teaches_the_corrected_value(desk, agent):
    case_id = opened(desk, agent)
    predicted = desk.cases.get(case_id).predicted
    assert predicted["category"] != "power"
    case = desk.cases.resolve(agent, case_id, "UPS输出异常导致NVR反复重启，更换UPS",
                              labels={"category": "power"}, severity="critical", confirm=True)
    assert case.labels["category"] == "power" and case.severity == "critical"
    assert case.labels["component"] == predicted["component"], "the rest is confirmed as is"
    records, _ = labelled(desk.engine.kb, desk.engine._index)
    taught = next(r for r in records if r.key == f"case:{case_id}")
    assert taught.labels["category"] == "power" and taught.severity == "critical"
    # the classifier now knows the corrected value from this case
    models = desk.engine._triage_with().learner.current(block=True)
    assert "power" in models.classifiers["category"].classes
    detail = [e for e in desk.engine.kb.events(f"case:{case_id}") if e["action"] == "resolve"]
    assert '"corrected": ["category"' in detail[-1]["detail"]


def test_only_the_given_fields_are_confirmed_without_confirm(desk, agent):
    case_id = opened(desk, agent)
    case = desk.cases.resolve(agent, case_id, "更换硬盘", labels={"category": "storage"})
    assert case.labels == {"category": "storage"} and case.severity is None


def test_labels_left_open_at_resolve_can_be_confirmed_at_close(desk, agent):
    case_id = opened(desk, agent)
    desk.cases.resolve(agent, case_id, "更换硬盘")
    case = desk.cases.close(agent, case_id, severity="high", confirm=True).case
    assert case.labels == desk.cases.get(case_id).predicted and case.severity == "high"
    assert f"case:{case_id}" in teaching_keys(desk)


def test_a_wrong_field_or_level_is_refused_and_nothing_changes(desk, agent):
    case_id = opened(desk, agent)
    with pytest.raises(UnknownLabel):
        desk.cases.resolve(agent, case_id, "更换硬盘", labels={"colour": "red"})
    with pytest.raises(UnknownLabel):
        desk.cases.resolve(agent, case_id, "更换硬盘", severity="urgent")
    assert desk.cases.get(case_id).state == "triaged"


def test_predictions_prefill_the_confirmed_value_first(desk, agent):
    case_id = opened(desk, agent)
    desk.cases.resolve(agent, case_id, "更换硬盘", labels={"category": "power"})
    asked = desk.cases.predictions(desk.cases.get(case_id))
    assert asked["category"]["value"] == "power"
    assert asked["category"]["predicted"] != "power"
    assert asked["severity"]["predicted"] in desk.engine.settings.levels


def test_reports_count_corrections_per_field_and_week(desk, agent):
    manager = Users(desk.engine.kb).add(SYSTEM, "wang", "password-123", "manager")
    for n in range(3):
        case_id = opened(desk, agent)
        labels = {"category": "power"} if n == 0 else {}
        desk.cases.resolve(agent, case_id, "更换硬盘", labels=labels, confirm=True)
    unconfirmed = opened(desk, agent)
    desk.cases.resolve(agent, unconfirmed, "更换硬盘")
    report = desk.reports.corrections(manager, "2000-01-01", "2100-01-01")
    category = report["by_field"]["category"]
    assert (category["confirmed"], category["corrected"]) == (3, 1)
    assert category["rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert report["by_field"]["component"]["corrected"] == 0
    week = [w for w in report["weeks"] if w["field"] == "category"]
    assert sum(w["confirmed"] for w in week) == 3 and sum(w["corrected"] for w in week) == 1
