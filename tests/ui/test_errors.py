"""Service errors reach the user in the user's language: every key a service raises has
a catalogue entry whose placeholders it fills, and real refusals read right in both
languages (states, roles and kinds translated too)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from errors import BadInput, InvalidTransition, NotFound, PermissionDenied
from service.auth import SYSTEM
from ui import i18n
from ui.i18n import MESSAGES, error_text

ROOT = Path(__file__).resolve().parents[2]
ERRORS = {"KnownFixError", "BadInput", "MissingColumn", "UnknownLabel", "NotFound",
          "ModelMismatch", "IndexCorrupt", "PermissionDenied", "InvalidTransition",
          "SettingsError"}


def keyed_raises() -> list[tuple[str, str, set[str]]]:
    """(where, key, keyword names) of every `SomeError(message, "key", ...)` made, whether
    raised where it is made or returned to be raised by the caller."""
    found = []
    for path in [*ROOT.glob("service/*.py"), *ROOT.glob("kb/*.py"), ROOT / "settings.py"]:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ERRORS
                    and len(node.args) >= 2):
                key = node.args[1]
                assert isinstance(key, ast.Constant), f"{path.name}:{node.lineno}"
                names = {k.arg for k in node.keywords}
                assert None not in names, f"{path.name}:{node.lineno}: name the params"
                found.append((f"{path.name}:{node.lineno}", key.value, names))
    return found


def test_every_error_key_has_both_languages_and_its_placeholders():
    raises = keyed_raises()
    assert len(raises) >= 25
    for where, key, names in raises:
        assert f"err.{key}" in MESSAGES, f"{where}: err.{key} is not in the catalogue"
        for text in MESSAGES[f"err.{key}"]:
            wanted = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            assert wanted == names, f"{where}: err.{key} uses {wanted}, the raise gives {names}"


def test_every_workflow_action_has_a_name_in_both_languages():
    from service.cases import TRANSITIONS

    for action in TRANSITIONS:
        assert f"workflow.{action}" in MESSAGES, action


@pytest.fixture
def speak(monkeypatch):
    def use(lang: str) -> None:
        monkeypatch.setattr(i18n, "lang", lambda: lang)
    return use


def test_refusals_from_the_services_read_right_in_both_languages(ui_desk, speak):
    case = ui_desk.cases.open(SYSTEM, "门禁读卡器刷卡没反应", channel="phone")
    with pytest.raises(InvalidTransition) as moved:
        ui_desk.cases.close(SYSTEM, case.id)
    with pytest.raises(PermissionDenied) as wrong:
        ui_desk.users.sign_in("agent", "not-the-password")
    with pytest.raises(NotFound) as missing:
        ui_desk.cases.get("KF-19990101-9")
    agent = ui_desk.users.get("agent")
    draft = ui_desk.knowledge.review_queue()[0]
    with pytest.raises(PermissionDenied) as forbidden:
        ui_desk.knowledge.validate(agent, draft.id)

    speak("zh")
    assert error_text(moved.value) == f"{case.id} 当前为“已分诊”，不能转为“已结案”。"
    assert error_text(wrong.value) == "用户名或密码错误。"
    assert error_text(missing.value) == "没有编号为 KF-19990101-9 的工单。"
    assert error_text(forbidden.value).startswith("agent（一线客服）无权执行此操作")
    resolved = ui_desk.cases.resolve(SYSTEM, case.id, "换了读卡器")
    with pytest.raises(InvalidTransition) as back:
        ui_desk.cases.start(SYSTEM, resolved.id)
    with pytest.raises(BadInput) as nobody:
        ui_desk.cases.reopen(SYSTEM, case.id, "又坏了")
        ui_desk.cases.escalate(SYSTEM, case.id, "王工 (工程师)", "需要上门")

    speak("zh")
    assert error_text(back.value) == (f"{case.id} 当前为“已解决”，请先填写原因重新打开，"
                                      "再执行“开始处理”。")
    assert error_text(nobody.value) == ("“王工 (工程师)”是用户 engineer 的显示名，"
                                        "请填写用户名 engineer。")
    speak("en")
    assert error_text(back.value) == (f"{case.id} is Resolved; reopen it (with a reason) "
                                      "before “start work”.")
    assert error_text(moved.value) == f"{case.id} is Triaged; it cannot go to Closed."
    assert error_text(wrong.value) == "Wrong user name or password."
    assert error_text(missing.value) == "There is no Case KF-19990101-9."


def test_an_error_without_a_key_keeps_its_words_behind_a_translated_lead(speak):
    exc = BadInput("column 'problem' not found")
    speak("zh")
    assert error_text(exc) == "输入有误：column 'problem' not found"
    speak("en")
    assert error_text(exc) == "column 'problem' not found"
