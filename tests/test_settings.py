"""settings.py: one documented list, and defaults < settings.json < environment < overrides."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from kb.store import KnowledgeBase
from settings import SETTINGS, Settings, SettingsError, load_settings, save_settings, shown_value


def test_every_setting_has_help_and_a_field():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert set(names) == {f.name for f in fields(Settings)} - {"pinned"}
    for s in SETTINGS:
        assert len(s.help.strip()) >= 10, f"setting {s.name} has no help text"


def test_defaults_match_the_list(tmp_path):
    loaded = load_settings(str(tmp_path))
    for s in SETTINGS:
        if s.name != "data_dir":
            assert getattr(loaded, s.name) == s.default
    assert loaded.data_dir == str(tmp_path)


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("top_k", "9", 9),
    ("fusion_weight", "1", 1.0),
    ("match_threshold", "0.6", 0.6),
    ("model", "hash:64", "hash:64"),
    ("vector_backend", "numpy", "numpy"),
    ("severity_levels", "三级,二级,一级", "三级,二级,一级"),
    ("escalate_at_severity", "", ""),
    ("severity_rules", '{"high": ["宕机"]}', {"high": ["宕机"]}),
])
def test_environment_overrides_each_kind_of_setting(monkeypatch, tmp_path, name, raw, expected):
    monkeypatch.setenv(f"KNOWNFIX_{name.upper()}", raw)
    value = getattr(load_settings(str(tmp_path)), name)
    assert value == expected
    assert type(value) is type(expected)


def test_every_setting_can_be_set_from_the_environment(monkeypatch, tmp_path):
    for s in SETTINGS:
        if s.name == "data_dir":
            continue
        raw = s.default if isinstance(s.default, str) else json.dumps(s.default)
        monkeypatch.setenv(f"KNOWNFIX_{s.name.upper()}", raw)
    loaded = load_settings(str(tmp_path))
    assert all(getattr(loaded, s.name) == s.default for s in SETTINGS if s.name != "data_dir")


def test_data_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().data_dir == str(tmp_path / "elsewhere")


def test_priority_file_then_environment_then_overrides(monkeypatch, tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"top_k": 3, "label_boost": 0.1}),
                                            encoding="utf-8")
    assert load_settings(str(tmp_path)).top_k == 3
    monkeypatch.setenv("KNOWNFIX_TOP_K", "7")
    loaded = load_settings(str(tmp_path))
    assert (loaded.top_k, loaded.label_boost) == (7, 0.1)
    assert load_settings(str(tmp_path), top_k=11).top_k == 11


def test_save_then_load_round_trip(tmp_path):
    s = load_settings(str(tmp_path)).with_(top_k=8, severity_levels="三级,二级,一级")
    path = Path(save_settings(s))
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored == {"top_k": 8, "severity_levels": "三级,二级,一级"}
    assert load_settings(str(tmp_path)) == s


@pytest.mark.parametrize(("env", "message"), [
    ({"KNOWNFIX_TOP_K": "many"}, "top_k"),
    ({"KNOWNFIX_TOP_K": "2.5"}, "top_k"),
    ({"KNOWNFIX_FUSION_WEIGHT": "1.5"}, "fusion_weight"),
    ({"KNOWNFIX_VECTOR_BACKEND": "annoy"}, "vector_backend"),
    ({"KNOWNFIX_SEVERITY_LEVELS": "only"}, "two or more"),
    ({"KNOWNFIX_SEVERITY_LEVELS": "a,b,a"}, "distinct"),
    ({"KNOWNFIX_ESCALATE_AT_SEVERITY": "urgent"}, "urgent"),
    ({"KNOWNFIX_SEVERITY_RULES": '{"urgent": ["x"]}'}, "urgent"),
])
def test_bad_values_are_refused(monkeypatch, tmp_path, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=message):
        load_settings(str(tmp_path))


def test_unknown_or_broken_settings_file_is_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"colour": "blue"}', encoding="utf-8")
    with pytest.raises(SettingsError, match="colour"):
        load_settings(str(tmp_path))
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings(str(tmp_path))


@pytest.mark.parametrize(("scale", "name", "expected"), [
    ("low,medium,high,critical", "high", "high"),
    ("三级,二级,一级", "critical", "一级"),
    ("三级,二级,一级", "high", "二级"),
    ("三级,二级,一级", "medium", "三级"),
    ("三级,二级,一级", "low", None),
    ("三级,二级,一级", "二级", "二级"),
    ("minor,major", "critical", "major"),
    ("minor,major", "medium", None),
])
def test_default_level_names_count_from_the_top_of_another_scale(scale, name, expected):
    assert Settings(severity_levels=scale).level_named(name) == expected


def test_rules_and_escalation_level_resolve_on_a_chinese_scale(tmp_path):
    s = load_settings(str(tmp_path), severity_levels="三级,二级,一级")
    assert s.escalate_level == "一级"
    assert "宕机" in s.rules["一级"]
    assert "多台" in s.rules["二级"]
    assert set(s.rules) == {"一级", "二级"}


def test_on_postgresql_saved_settings_are_shared_by_every_server(tmp_path, pg_cluster):
    """Saved on one server (its own data folder), taken by another at its start; the
    environment still wins, and the address is never shown with its password."""
    url = pg_cluster.new_database()
    KnowledgeBase(url).close()
    a = load_settings(str(tmp_path / "a"), database_url=url).with_(top_k=9)
    where = save_settings(a)
    assert "shared" in where and not (tmp_path / "a" / "settings.json").exists()
    b = load_settings(str(tmp_path / "b"), database_url=url)
    assert b.top_k == 9 and b.database_url == url
    assert load_settings(str(tmp_path / "b"), database_url=url, top_k=3).top_k == 3


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://kf:s3cret@db:5432/kf", "postgresql://kf:***@db:5432/kf"),
    ("postgresql://db/kf?user=kf&password=s3cret", "postgresql://db/kf?user=kf&password=***"),
    ("postgresql://kf@db/kf", "postgresql://kf@db/kf"),
])
def test_a_database_address_is_shown_without_its_password(url, shown):
    assert shown_value("database_url", url) == shown


def test_database_url_must_name_postgresql(tmp_path):
    with pytest.raises(SettingsError, match="postgresql://"):
        load_settings(str(tmp_path), database_url="mysql://db/kf")
