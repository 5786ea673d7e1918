"""The language walk's checker (tests/browser/leaks.py) fails on what it should: English
the Chinese catalogue does not say, a raw label value that has a Chinese name, a raw
column header, Chinese in the English UI; and lets user data through."""

from __future__ import annotations

from pathlib import Path

from service.auth import SYSTEM
from service.desk import Desk
from service.display_names import DisplayName
from service.engine import Engine
from tests.browser.leaks import UserData, leaks_in


def _data(engine: Engine, lang: str) -> UserData:
    desk = Desk(engine)
    if not desk.users.all():
        desk.users.add(SYSTEM, "wang", "password-123", "engineer", "王工 (Field team)")
    desk.names.set_many(SYSTEM, [DisplayName("category", "storage", "存储", "Storage")])
    return UserData(Path(engine.settings.data_dir), lang)


def _seen(*texts: str, headers: tuple[str, ...] = ()) -> dict[str, list[str]]:
    return {"texts": list(texts), "headers": list(headers)}


def test_chinese_walk_flags_english_that_is_neither_catalogue_nor_data(small_engine):
    data = _data(small_engine, "zh")
    assert leaks_in(_seen("选择", "Choose options"), "zh", data) == ["Choose", "options"]
    assert leaks_in(_seen("storage"), "zh", data) == ["storage"]  # 存储 belongs here
    assert leaks_in(_seen("类别", headers=("week_start",)), "zh", data) == ["week_start"]


def test_chinese_walk_lets_user_data_and_catalogue_words_through(small_engine):
    data = _data(small_engine, "zh")
    assert leaks_in(_seen("NVR beeps with HDD error and playback is empty", "C4",
                          "王工 (Field team)", "平台授权到期 E-1043", "KnownFix 故障知识助手",
                          "software", "存储"), "zh", data) == []
    assert leaks_in(_seen("Camera drops offline, IP address conf…"), "zh", data) == []


def test_english_walk_flags_chinese_outside_user_data(small_engine):
    data = _data(small_engine, "en")
    assert leaks_in(_seen("Case 工单", "Language 中文"), "en", data) == ["工单"]
    shown = _seen("NVR提示硬盘错误，录像回放查不到", "王工", "存储")
    assert leaks_in(shown, "en", data) == ["存储"]


def test_on_the_admin_page_stored_values_names_and_setting_values_are_data(small_engine):
    zh, en = _data(small_engine, "zh"), _data(small_engine, "en")
    assert leaks_in(_seen("storage", "Storage"), "zh", zh, admin=True) == []
    assert leaks_in(_seen("存储", "停运、宕机"), "en", en, admin=True) == []  # rules' phrases
    assert leaks_in(_seen("match_threshold"), "zh", zh, admin=True) == ["match_threshold"]
