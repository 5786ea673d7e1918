"""Display names of label values and severity levels (service/display_names.py) and
`knownfix labels names`: stored per language, all or nothing, audited, refused for
unknown fields or levels, seen by a second process."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app
from errors import BadInput, PermissionDenied
from service.auth import SYSTEM
from service.desk import Desk
from service.display_names import DisplayName, DisplayNames
from service.engine import Engine
from settings import load_settings
from tests.helpers import small_kb_records


@pytest.fixture
def desk(small_engine: Engine) -> Desk:
    return Desk(small_engine)


def test_a_value_has_no_name_until_one_is_given(desk: Desk):
    names = desk.names
    assert names.name("category", "storage", "zh") is None
    n = names.set_many(SYSTEM, [DisplayName("category", "storage", "存储", "Storage"),
                                DisplayName("severity", "high", "严重", "")])
    assert n == 3
    assert names.name("category", "storage", "zh") == "存储"
    assert names.name("category", "storage", "en") == "Storage"
    assert names.name("severity", "high", "zh") == "严重"
    assert names.name("severity", "high", "en") is None
    event = desk.engine.kb.events(target="labels")[0]
    assert event["action"] == "display-names"


def test_entries_list_every_level_and_value_with_its_names(desk: Desk):
    desk.names.set_many(SYSTEM, [DisplayName("component", "nvr", "录像机", "")])
    entries = desk.names.entries(SYSTEM)
    pairs = [(e.field, e.value) for e in entries]
    assert pairs[:4] == [("severity", lv) for lv in ("low", "medium", "high", "critical")]
    assert ("category", "licence") in pairs and ("component", "ups") in pairs
    assert DisplayName("component", "nvr", "录像机", "") in entries


def test_an_empty_name_removes_it_and_an_unchanged_one_writes_nothing(desk: Desk):
    names = desk.names
    names.set_many(SYSTEM, [DisplayName("category", "power", "供电", "power")])
    before = len(desk.engine.kb.events(target="labels"))
    assert names.set_many(SYSTEM, [DisplayName("category", "power", "供电", "power")]) == 0
    assert len(desk.engine.kb.events(target="labels")) == before
    assert names.set_many(SYSTEM, [DisplayName("category", "power", " ", "power")]) == 1
    assert names.name("category", "power", "zh") is None


@pytest.mark.parametrize("row, key", [
    (DisplayName("colour", "red", "红"), "names_field"),
    (DisplayName("severity", "紧急", "紧急"), "names_level"),
    (DisplayName("category", " ", "空"), "names_value"),
    (DisplayName("category", "storage", "存\n储"), "names_name"),
    (DisplayName("category", "storage", "", "x" * 61), "names_name"),
])
def test_a_bad_row_refuses_the_whole_save(desk: Desk, row: DisplayName, key: str):
    good = DisplayName("category", "network", "网络", "")
    with pytest.raises(BadInput) as caught:
        desk.names.set_many(SYSTEM, [good, row])
    assert caught.value.key == key
    assert desk.names.name("category", "network", "zh") is None  # nothing stored


def test_only_an_admin_names_values(desk: Desk):
    agent = desk.users.add(SYSTEM, "agent", "password-1", "first_line")
    with pytest.raises(PermissionDenied):
        desk.names.set_many(agent, [DisplayName("category", "network", "网络")])
    with pytest.raises(PermissionDenied):
        desk.names.entries(agent)


def test_a_change_by_another_process_is_seen(desk: Desk, settings):
    assert desk.names.name("category", "video", "zh") is None
    other = Engine(load_settings(settings.data_dir, model="hash:256", vector_backend="numpy",
                                 database_url=settings.database_url or None))
    try:
        DisplayNames(other.kb).set_many(SYSTEM, [DisplayName("category", "video", "视频")])
    finally:
        other.close()
    assert desk.names.name("category", "video", "zh") == "视频"


def test_the_demo_ships_chinese_names_for_its_values(demo_engine: Engine):
    from service.demo import DEMO_DIR, load_demo_names

    names = DisplayNames(demo_engine.kb)
    load_demo_names(names)
    values = [(f, v) for f in ("category", "component")
              for v in demo_engine.kb.label_values(f)]
    assert values and all(names.name(f, v, "zh") for f, v in values), \
        f"a demo value has no Chinese name in {DEMO_DIR / 'names.jsonl'}"
    assert names.name("category", "storage", "zh") == "存储"
    names.set_many(SYSTEM, [DisplayName("category", "storage", "存储设备", "")])
    assert load_demo_names(names) == 0  # a name the admin gave stays
    assert names.name("category", "storage", "zh") == "存储设备"
    names.set_many(SYSTEM, [DisplayName("category", "storage", "存储", "storage")])


def test_demo_names_skip_values_the_kb_does_not_hold(desk: Desk):
    from service.demo import load_demo_names

    assert load_demo_names(desk.names) > 0  # storage, nvr, … of small_kb_records
    assert desk.names.name("category", "storage", "zh") == "存储"
    assert desk.names.name("category", "installation", "zh") is None  # not in this KB


# -- the command line -----------------------------------------------------------------------
FAST = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "numpy"}


def run(*args: str):
    return CliRunner().invoke(app, list(args), env=FAST)


@pytest.fixture
def folder(settings) -> str:
    """A data folder holding small_kb_records(), closed again for the command line."""
    engine = Engine(settings)
    engine.upsert(small_kb_records())
    engine.close()
    return str(settings.data_dir)


def test_cli_sets_and_lists_names(folder: str):
    done = run("labels", "names", "--set", "category", "storage", "--zh", "存储",
               "--data-dir", folder)
    assert done.exit_code == 0, done.output
    assert "存储" in done.stdout
    done = run("labels", "names", "--set", "category", "storage", "--en", "Storage",
               "--data-dir", folder)
    assert done.exit_code == 0, done.output
    listed = run("labels", "names", "--data-dir", folder)
    line = next(x for x in listed.stdout.splitlines() if x.split()[:2] == ["category", "storage"])
    assert line.split()[2:] == ["存储", "Storage"]  # the Chinese name kept


@pytest.mark.parametrize("args, words", [
    (["--set", "colour", "red", "--zh", "红"], "unknown label field 'colour'"),
    (["--set", "category", "storage"], "--zh"),
    (["--zh", "存储"], "--set"),
])
def test_cli_bad_input_is_one_line(folder: str, args, words):
    done = run("labels", "names", *args, "--data-dir", folder)
    assert done.exit_code == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr
