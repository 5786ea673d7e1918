"""Streamlit's own chrome and what triage says, in the user's language (issue 12): no
Deploy button in the served config, Streamlit's placeholders and input hints in the
user's language or hidden, "—" for empty values, and triage's reasons, label values and
severities translated at the edge from structured data (the English words only for a
triage stored before the codes existed)."""

from __future__ import annotations

import re
import tomllib

import pytest

from cli.serve import STREAMLIT_FLAGS
from service.auth import SYSTEM
from tests.ui.conftest import OPEN_FAULT, ROOT, page_path
from tests.ui.test_concurrency import case_page, open_case_id
from tests.ui.test_pages import healthy, msg

ENGLISH_REASONS = re.compile(r"no confident|low confidence|learned from|at or above|"
                             r"recurrence of|no rated history|rule:")


def test_the_served_config_has_no_deploy_button_and_no_error_details():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["client"]["showErrorDetails"] == "none"
    flags = dict(zip(STREAMLIT_FLAGS[::2], STREAMLIT_FLAGS[1::2], strict=True))
    assert flags["--client.toolbarMode"] == "viewer"  # also when served from elsewhere
    assert flags["--client.showErrorDetails"] == "none"


def test_the_chinese_case_page_says_triage_in_chinese(open_app, ui_desk):
    # a fault nothing in the knowledge base is like: triage advises escalation
    case_id = ui_desk.cases.open(ui_desk.users.get("agent"), "月球基地量子通信模块握手失败",
                                 channel="phone").id
    stored = ui_desk.cases.get(case_id).triage
    assert stored.escalate and {c["code"] for c in stored.reason_codes} >= {"no_match"}
    assert len(stored.reason_codes) == len(stored.reasons)
    assert stored.severity_basis["code"] in ("learned", "no_history", "rule")
    at = case_page(open_app, "agent", case_id, "zh")
    said = [w.value for w in at.warning] + [c.value for c in at.caption]
    said += [at.text_input(key=f"esc_reason_{case_id}").value]
    assert not [s for s in said if ENGLISH_REASONS.search(s)], said
    labels = {m.label: m.value for m in at.metric}
    for name, pred in stored.labels.items():
        shown = labels[msg(f"label.{name}", "zh")]
        assert shown == ui_desk.names.name(name, pred.value, "zh"), (name, shown)  # the demo's
    if stored.severity:
        assert labels[msg("triage.severity", "zh")] == msg(f"severity.{stored.severity}",
                                                           "zh")

    at = case_page(open_app, "agent", case_id, "en")
    said = [w.value for w in at.warning] + [c.value for c in at.caption]
    assert any(ENGLISH_REASONS.search(s) for s in said), said


def test_a_triage_stored_before_the_codes_still_shows_its_words(open_app, ui_desk):
    case_id = open_case_id(ui_desk)
    kb = ui_desk.engine.kb
    triage = ui_desk.cases.get(case_id).triage.to_json()
    old = {k: v for k, v in triage.items() if k not in ("reason_codes", "severity_basis")}
    old.update(escalate=True, reasons=["an old reason"], severity_reason="an old basis")
    import json
    kb.update("case", case_id, {"triage": json.dumps(old, ensure_ascii=False)},
              SYSTEM.username, "update")
    at = case_page(open_app, "agent", case_id, "zh")
    assert any("an old reason" in w.value for w in at.warning)
    assert any("an old basis" in c.value for c in at.caption)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_streamlits_own_placeholders_and_hints(open_app, lang):
    at = open_app("engineer", lang)
    at.switch_page(page_path("queue")).run()
    healthy(at)
    placeholders = {m.key: m.proto.placeholder for m in at.multiselect}
    assert placeholders == dict.fromkeys(("queue_states", "queue_levels", "queue_deadline"),
                                         msg("queue.any", lang))
    # "Press Enter to submit form" and the like are English whatever the language: hidden
    styles = [m.value for m in at.markdown]
    assert any('[data-testid="InputInstructions"]' in b and "display: none" in b
               for b in styles), styles


def test_empty_values_are_a_dash_not_none(open_app, ui_desk):
    ui_desk.users.add(SYSTEM, "zhou", "long enough", "engineer")  # no team
    at = open_app("admin", "en")
    at.switch_page(page_path("reports")).run()
    healthy(at)
    at.switch_page(page_path("admin")).run()
    healthy(at)
    for frame in at.dataframe:
        data = frame.value
        assert not data.isna().any().any(), data
        assert "None" not in data.astype(str).to_numpy().ravel().tolist(), data
    [users] = [f.value for f in at.dataframe if "zhou" in f.value.astype(str).to_numpy()]
    assert "—" in users.astype(str).to_numpy().ravel().tolist()
    assert OPEN_FAULT  # (the template's open case is what the reports count)
