"""Time zones (issue 12): the `timezone` setting and its default, reading a time typed
without a zone on the configured clock (service.cases.parse_time), a picked day and time
on the user's clock to UTC (zones.picked_utc), and the daylight-saving edges."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

import zones
from errors import BadInput
from service.cases import iso, parse_time
from settings import SettingsError, load_settings
from ui.i18n import error_message

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")


@pytest.fixture
def server_in(monkeypatch: pytest.MonkeyPatch):
    """server_in(name): make the machine's zone (read from $TZ first) `name`."""
    def move(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        zones.server_zone.cache_clear()

    yield move
    zones.server_zone.cache_clear()


def test_the_default_is_the_servers_own_zone(tmp_path, server_in):
    server_in("Asia/Shanghai")
    s = load_settings(str(tmp_path))
    assert s.timezone == ""  # nothing pinned: the README's default stays the same everywhere
    assert s.zone_name == "Asia/Shanghai"
    assert s.zone == SHANGHAI


def test_a_server_with_no_known_zone_counts_as_utc(tmp_path, server_in, monkeypatch):
    monkeypatch.setattr(zones, "Path", lambda _p: tmp_path / "absent")  # no /etc files
    server_in("Nowhere/Atlantis")
    assert zones.server_zone() == "UTC"
    assert load_settings(str(tmp_path)).zone == ZoneInfo("UTC")


def test_a_configured_zone_wins_over_the_servers(tmp_path, server_in, monkeypatch):
    server_in("Asia/Shanghai")
    (tmp_path / "settings.json").write_text(json.dumps({"timezone": "Europe/Berlin"}))
    assert load_settings(str(tmp_path)).zone == BERLIN
    monkeypatch.setenv("KNOWNFIX_TIMEZONE", "America/New_York")
    assert load_settings(str(tmp_path)).zone_name == "America/New_York"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "asia/shanghai", "../../etc/passwd",
                                 "/usr/share/zoneinfo/UTC", "UTC+8", "Asia/"])
def test_a_bad_zone_is_a_clear_one_line_settings_error(tmp_path, bad):
    with pytest.raises(SettingsError) as refused:
        load_settings(str(tmp_path), timezone=bad)
    text = str(refused.value)
    assert "\n" not in text and "timezone" in text and "IANA" in text
    assert refused.value.key == "setting_timezone"
    assert error_message(refused.value, "zh").startswith("时区设置")
    assert "\n" not in error_message(refused.value, "zh")


def test_parse_time_reads_a_time_without_zone_on_the_given_clock():
    assert iso(parse_time("2026-12-01 09:00", SHANGHAI)) == "2026-12-01T01:00:00Z"
    assert iso(parse_time("2026-12-01T09:00", SHANGHAI)) == "2026-12-01T01:00:00Z"
    assert iso(parse_time("2026-12-01", SHANGHAI)) == "2026-11-30T16:00:00Z"  # midnight there
    assert iso(parse_time("2026-12-01 09:00")) == "2026-12-01T09:00:00Z"  # default: UTC
    # a time that says its zone means what it says, whatever the clock
    assert iso(parse_time("2026-12-01T01:00:00Z", SHANGHAI)) == "2026-12-01T01:00:00Z"
    assert iso(parse_time("2026-12-01T09:00+08:00", BERLIN)) == "2026-12-01T01:00:00Z"
    assert parse_time("", SHANGHAI) is None


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01", "2026-12-01 25:00", "01/12/2026"])
def test_parse_time_refuses_what_is_no_time_in_one_line(bad):
    with pytest.raises(BadInput) as refused:
        parse_time(bad, SHANGHAI)
    assert refused.value.key == "bad_time" and "\n" not in str(refused.value)
    assert bad in error_message(refused.value, "zh")


def test_a_pick_on_the_users_clock_becomes_utc():
    assert zones.picked_utc(date(2026, 12, 1), time(9, 0), SHANGHAI) == "2026-12-01T01:00:00Z"
    assert zones.picked_utc(date(2026, 12, 1), None, SHANGHAI) == "2026-12-01T01:00:00Z"
    assert zones.picked_utc(date(2026, 12, 1), time(9, 0), ZoneInfo("UTC")) \
        == "2026-12-01T09:00:00Z"
    assert zones.day_start_utc(date(2026, 12, 1), SHANGHAI) == "2026-11-30T16:00:00Z"


@pytest.mark.parametrize(("day", "clock", "utc"), [
    # 29 March 2026: at 02:00 the clocks in Berlin go to 03:00 (CET +1 -> CEST +2)
    (date(2026, 3, 28), time(9, 0), "2026-03-28T08:00:00Z"),
    (date(2026, 3, 29), time(1, 30), "2026-03-29T00:30:00Z"),
    (date(2026, 3, 29), time(3, 30), "2026-03-29T01:30:00Z"),
    (date(2026, 3, 29), time(9, 0), "2026-03-29T07:00:00Z"),
    # 02:30 does not exist that night: read with the offset before the change (PEP 495)
    (date(2026, 3, 29), time(2, 30), "2026-03-29T01:30:00Z"),
    # 25 October 2026: at 03:00 the clocks go back to 02:00; 02:30 happens twice, the
    # first (still summer time) is taken
    (date(2026, 10, 25), time(2, 30), "2026-10-25T00:30:00Z"),
    (date(2026, 10, 25), time(9, 0), "2026-10-25T08:00:00Z"),
])
def test_daylight_saving_in_berlin(day, clock, utc):
    assert zones.picked_utc(day, clock, BERLIN) == utc
    assert iso(parse_time(f"{day} {clock:%H:%M}", BERLIN)) == utc


def test_the_offset_named_follows_daylight_saving():
    assert zones.offset_text(BERLIN, datetime(2026, 1, 15, tzinfo=UTC)) == "UTC+1"
    assert zones.offset_text(BERLIN, datetime(2026, 7, 15, tzinfo=UTC)) == "UTC+2"
    assert zones.offset_text(ZoneInfo("America/New_York"),
                             datetime(2026, 12, 1, tzinfo=UTC)) == "UTC-5"
    assert zones.offset_text(ZoneInfo("Asia/Kolkata")) == "UTC+5:30"
    assert zones.offset_text(ZoneInfo("UTC")) == "UTC"
    summer = zones.in_zone("2026-07-01T10:00:00Z", BERLIN)
    winter = zones.in_zone("2026-12-01T10:00:00Z", BERLIN)
    assert (summer.hour, winter.hour) == (12, 11)


def test_the_common_zones_come_first_then_every_other():
    names = zones.all_zones()
    assert names[:len(zones.COMMON_ZONES)] == list(zones.COMMON_ZONES)
    assert names[0] == "Asia/Shanghai" and "Europe/Paris" in names
    assert len(names) == len(set(names)) > 300
    assert all(zones.known_zone(n) for n in names[:20])
