"""No traceback ever reaches a user (issue 12): every page body runs under one error
boundary — a one-line translated message on the page, the traceback in the server log —
and the two crashes the issue names are gone: saving a not-validated article that has
near-duplicate warnings, and Admin → Settings with a bad value (which also blanked the
other Admin tabs)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.ui.conftest import page_path
from tests.ui.test_pages import button, healthy, msg

DEMO = "DEMO-A-01"


def one_line_error(at, lang: str, key: str) -> str:
    """The page shows exactly one error, the catalogue's `key` text, and no traceback."""
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1, [e.value for e in at.error]
    text = at.error[0].value
    lead = msg(key, lang, ref="@@").split("@@")[0]
    assert text.startswith(lead), text
    assert "Traceback" not in text and ".py" not in text, text
    return text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_unexpected_failure_is_one_translated_line_and_a_logged_trace(
        open_app, ui_desk, monkeypatch, caplog, lang):
    def broken(*_args, **_kwargs):
        raise RuntimeError("boom in the reports service")

    monkeypatch.setattr(ui_desk.reports, "summary", broken)
    at = open_app("manager", lang)
    with caplog.at_level(logging.ERROR, logger="knownfix.ui"):
        at.switch_page(page_path("reports")).run()
    text = one_line_error(at, lang, "error.unexpected")
    assert "boom" not in text
    ref = text.split(msg("error.unexpected", lang, ref="@@").split("@@")[0])[1][:8]
    logged = [r for r in caplog.records if r.name == "knownfix.ui"]
    assert len(logged) == 1 and ref in logged[0].getMessage()
    assert logged[0].exc_info and "boom in the reports service" in str(logged[0].exc_info[1])
    # the header drew before the failure, and the sidebar is whole
    assert [h.value for h in at.header] == [msg("rep.header", lang)]
    assert at.sidebar.button(key="signout")


def test_a_service_error_escaping_a_page_is_its_translated_message(open_app, ui_desk,
                                                                  monkeypatch):
    from errors import NotFound

    def missing(*_args, **_kwargs):
        raise NotFound("no case 'X'", "not_found", kind="case", id="X")

    monkeypatch.setattr(ui_desk.queries, "queue", missing)
    at = open_app("agent", "zh")
    at.switch_page(page_path("queue")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["没有编号为 X 的工单。"]


def near_copy(ui_desk) -> str:
    """A not-validated article that nearly repeats demo article DEMO-A-01."""
    engineer = ui_desk.users.get("engineer")
    demo = ui_desk.knowledge.get(DEMO)
    article_id, dups = ui_desk.knowledge.create(engineer, demo.title, demo.symptoms,
                                                "重新插拔硬盘数据线，仍报错则更换硬盘。")
    ui_desk.knowledge.submit(engineer, article_id)
    assert DEMO in [d["id"] for d in dups], dups
    assert ui_desk.knowledge.get(article_id).state == "not_validated"
    return article_id


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_saving_a_not_validated_article_with_near_duplicates(open_app, ui_desk, lang):
    """Was: StreamlitDuplicateElementKey `merge-KA-…` (the merge buttons drawn twice)."""
    article_id = near_copy(ui_desk)
    at = open_app("engineer", lang)
    at.switch_page(page_path("knowledge")).run()
    healthy(at, "knowledge")
    merge = msg("kn.merge", lang, source=article_id, target=DEMO)
    assert [b.label for b in at.button].count(merge) == 1
    at.button(key=f"edit-{article_id}").click().run()  # the article editor
    healthy(at, "editor")
    assert [b.label for b in at.button].count(merge) == 1
    at.text_area(key=f"ed_resolution_{article_id}").input("1. 重新插拔硬盘。\n2. 更换硬盘。")
    at.button(key=f"ed_save_{article_id}").click().run()
    healthy(at, "after save")
    assert at.success[0].value == msg("kn.saved", lang, id=article_id)
    # the warning and its merge button are still there, once
    assert [b.label for b in at.button].count(merge) == 1
    assert ui_desk.knowledge.get(article_id).resolution.startswith("1. 重新插拔硬盘。")
    # and merging from there works
    button(at, merge).click().run()
    healthy(at, "after merge")
    assert ui_desk.knowledge.get(article_id).state == "archived"


def test_an_article_shown_in_two_places_draws_without_a_key_clash(open_app, ui_desk):
    """A not-validated article in the review queue and picked in the list at once."""
    article_id = near_copy(ui_desk)
    at = open_app("engineer", "en")
    at.switch_page(page_path("knowledge")).run()
    frame = at.dataframe(key="kn_table")
    row = list(frame.value["id"]).index(article_id)
    at.session_state["kn_table"] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    healthy(at, "knowledge, article twice")
    assert [b.label for b in at.button].count(msg("kn.validate", "en")) >= 2


@pytest.mark.parametrize(("lang", "key", "value", "expected"), [
    ("zh", "set_smtp_port", "abc", "设置 邮件服务器端口 的值“abc”无效：须为整数。"),
    ("en", "set_smtp_port", "abc", "Setting Mail server port: “abc” is not valid: it must be "
                                   "a whole number."),
    ("zh", "set_match_threshold", "高", "设置 可信匹配分数 的值“高”无效：须为数字。"),
    ("en", "set_match_threshold", "high", "Setting Confident match score: “high” is not "
                                          "valid: it must be a number."),
])
def test_a_bad_setting_is_refused_in_one_line_and_the_other_tabs_still_draw(
        open_app, ui_desk, lang, key, value, expected):
    """Was: AttributeError 'SettingsError' object has no attribute 'key', and the Users,
    Import, Index, Tuning and Backup tabs drew nothing."""
    at = open_app("admin", lang)
    at.switch_page(page_path("admin")).run()
    healthy(at, "admin")
    at.text_input(key=key).input(value)
    button(at, msg("admin.save", lang)).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [expected]
    # every other tab still drew: the user list, the index figures, tune and back up
    assert len(at.dataframe) >= 2
    assert button(at, msg("admin.tune_now", lang)) and button(at, msg("admin.backup_now", lang))
    assert button(at, msg("admin.add_user", lang))
    assert not (Path(ui_desk.engine.settings.data_dir) / "settings.json").exists()


def test_one_failing_admin_tab_leaves_the_others_drawn(open_app, ui_desk, monkeypatch):
    def broken():
        raise RuntimeError("index stats failed")

    monkeypatch.setattr(ui_desk.engine, "stats", broken)
    at = open_app("admin", "en")
    at.switch_page(page_path("admin")).run()
    one_line_error(at, "en", "error.unexpected")
    assert button(at, msg("admin.tune_now", "en")) and button(at, msg("admin.backup_now", "en"))
    assert button(at, msg("admin.add_user", "en")) and button(at, msg("admin.save", "en"))
