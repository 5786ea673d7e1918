"""The loop closed (issue 12), through the app: the follow-up call's form on the case
page, and the full-page article editor (preview, history, diff, a stale save refused with
the typed text kept)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import CLOSED_FAULT, OPEN_FAULT, page_path
from tests.ui.test_pages import button, healthy, msg


@pytest.fixture
def resolved(ui_desk) -> str:
    [case] = [c for c in ui_desk.cases.list() if c.description == OPEN_FAULT]
    ui_desk.cases.resolve(ui_desk.users.get("engineer"), case.id, "打印机改用保留地址",
                          confirm=True)
    return case.id


def case_page(open_app, user: str, case_id: str, lang: str):
    at = open_app(user, lang)
    at.session_state["case_id"] = case_id
    at.switch_page(page_path("case")).run()
    healthy(at, "case page")
    return at


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_follow_up_with_a_note_shows_on_the_case_page(open_app, ui_desk, resolved, lang):
    at = case_page(open_app, "agent", resolved, lang)
    at.radio(key="follow_outcome").set_value("unhappy")
    at.text_area(key="follow_note").input("客户说**上门晚了**<script>x</script>")
    at.selectbox(key="follow_rating").set_value(2)
    button(at, msg("follow.submit", lang)).click().run()
    healthy(at, "followed up")
    call = ui_desk.cases.get(resolved).fields["follow_up"]
    assert (call["outcome"], call["by"]) == ("unhappy", "agent")
    assert ui_desk.cases.get(resolved).fields["satisfaction"] == 2
    shown = [m.value for m in at.markdown]
    [said] = [text for text in shown if text.startswith(f"**{msg('follow.header', lang)}:**")]
    assert msg("follow.outcome.unhappy", lang) in said
    assert ui_desk.users.get("agent").display_name.split()[0] in said
    note = [text for text in shown if "上门晚了" in text]
    assert note and "<strong>上门晚了</strong>" in note[0] and "<script>" not in note[0]
    assert "follow_rating" not in [s.key for s in at.selectbox]  # rated now: not asked


def test_came_back_reopens_the_case_and_the_form_goes(open_app, ui_desk, resolved):
    at = case_page(open_app, "agent", resolved, "zh")
    at.radio(key="follow_outcome").set_value("came_back")
    at.text_area(key="follow_note").input("又掉线了")
    button(at, msg("follow.submit", "zh")).click().run()
    healthy(at, "came back")
    assert ui_desk.cases.get(resolved).state == "in_progress"
    assert "follow_outcome" not in [r.key for r in at.radio]  # open again: no follow-up


def test_every_follow_up_call_shows_not_only_the_last(open_app, ui_desk, resolved):
    """A case that came back has had two follow-up calls: the page lists both."""
    agent, engineer = ui_desk.users.get("agent"), ui_desk.users.get("engineer")
    ui_desk.cases.follow_up(agent, resolved, "came_back", "第二天又掉线")
    ui_desk.cases.resolve(engineer, resolved, "更换交换机端口", confirm=True)
    ui_desk.cases.follow_up(agent, resolved, "solved", "客户说稳定了")
    at = case_page(open_app, "agent", resolved, "zh")
    head = f"**{msg('follow.header', 'zh')}:**"
    said = [m.value for m in at.markdown if m.value.startswith(head)]
    assert len(said) == 2
    assert msg("follow.outcome.came_back", "zh") in said[0]
    assert msg("follow.outcome.solved", "zh") in said[1]
    notes = [m.value for m in at.markdown]
    assert any("第二天又掉线" in n for n in notes) and any("客户说稳定了" in n for n in notes)


def editor(open_app, user: str, article_id: str, lang: str = "zh"):
    at = open_app(user, lang)
    at.session_state["kn_edit"] = article_id
    at.switch_page(page_path("knowledge")).run()
    healthy(at, "editor")
    return at


@pytest.fixture
def article(ui_desk) -> str:
    engineer = ui_desk.users.get("engineer")
    article_id, _ = ui_desk.knowledge.create(engineer, "门禁读卡器无响应", "刷卡没有反应",
                                             "1. 检查读卡器供电", cause="供电不足")
    return article_id


def test_the_editor_previews_saves_and_diffs(open_app, ui_desk, article):
    at = editor(open_app, "engineer", article)
    assert msg("kn.editor", "zh", id=article) in [h.value for h in at.header]
    at.text_area(key=f"ed_resolution_{article}").input(
        "1. 检查读卡器供电\n2. **更换读卡器**\n<img src=x onerror=alert(1)>").run()
    preview = " ".join(m.value for m in at.markdown)
    assert "<strong>更换读卡器</strong>" in preview and "<img" not in preview
    at.button(key=f"ed_save_{article}").click().run()
    healthy(at, "saved")
    assert "更换读卡器" in ui_desk.knowledge.get(article).resolution
    assert [s.value for s in at.success] == [msg("kn.saved", "zh", id=article)]
    [history] = [tb.value for tb in at.table]
    assert list(history[msg("kn.version", "zh")]) == [1, 2]
    [diff] = [c.value for c in at.code if c.language == "diff"]
    assert "+2. **更换读卡器**" in diff and "-1. 检查读卡器供电" not in diff


def test_the_editors_address_opens_the_article_again_after_a_refresh(open_app, ui_desk,
                                                                     article):
    at = editor(open_app, "engineer", article)
    assert (at.query_params["article"], at.query_params["edit"]) == (article, "1")
    refreshed = open_app("engineer", "zh")  # a new session: only the address is left
    refreshed.query_params.update(article=article, edit="1")
    refreshed.switch_page(page_path("knowledge")).run()
    healthy(refreshed, "refreshed")
    assert msg("kn.editor", "zh", id=article) in [h.value for h in refreshed.header]
    refreshed.button(key="ed_back").click().run()
    assert "article" not in refreshed.query_params  # closed: the address no longer says

@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_editor_sets_who_may_read_the_article(open_app, ui_desk, article, lang):
    at = editor(open_app, "engineer", article, lang)
    audience = at.radio(key=f"ed_audience_{article}")
    assert audience.label == msg("kn.audience", lang) and audience.value == "internal"
    audience.set_value("external").run()
    at.button(key=f"ed_save_{article}").click().run()
    healthy(at, "saved")
    assert ui_desk.knowledge.get(article).audience == "external"
    assert at.radio(key=f"ed_audience_{article}").value == "external"


def test_a_stale_editor_refuses_the_save_and_keeps_the_text(open_app, ui_desk, article):
    first = editor(open_app, "engineer", article)
    second = editor(open_app, "manager", article)
    second.text_input(key=f"ed_cause_{article}").input("读卡器主板损坏")
    second.button(key=f"ed_save_{article}").click().run()
    healthy(second, "manager saved")

    typed = "1. 检查读卡器供电\n2. 重新绑定门禁控制器"
    first.text_area(key=f"ed_resolution_{article}").input(typed)
    first.button(key=f"ed_save_{article}").click().run()
    [error] = [e.value for e in first.error]
    assert ui_desk.users.get("manager").display_name in error
    assert error.startswith(msg("stale.changed", "zh", kind=msg("kind.article", "zh"),
                                id=article, by="@@", at="", action="").split("@@")[0])
    stored = ui_desk.knowledge.get(article)
    assert stored.cause == "读卡器主板损坏" and stored.resolution == "1. 检查读卡器供电"
    assert typed in [c.value for c in first.code]  # kept, to copy
    assert first.text_area(key=f"ed_resolution_{article}").value == typed  # and in the field


def test_a_case_opens_its_article_in_the_editor(open_app, ui_desk):
    [case] = [c for c in ui_desk.cases.list() if c.description == CLOSED_FAULT]
    drafted = [lk["target"].partition(":")[2] for lk in ui_desk.engine.kb.links(case.id)
               if lk["relation"] in ("created-from", "used")
               and lk["target"].startswith("article:")]
    assert drafted
    at = case_page(open_app, "engineer", case.id, "zh")
    at.button(key=f"case_article_{drafted[0]}").click().run()
    healthy(at, "to the editor")
    assert msg("kn.editor", "zh", id=drafted[0]) in [h.value for h in at.header]
    assert "case_article_" not in " ".join(b.key or "" for b in at.button)
    agent = case_page(open_app, "agent", case.id, "zh")  # no Knowledge page: no button
    assert not [b for b in agent.button if (b.key or "").startswith("case_article_")]
