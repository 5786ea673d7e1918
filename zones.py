"""Time zones: the server's own, checking a name, and moving times between a zone and UTC.

Times are stored in UTC (ISO-8601 with a Z); people see and type them in a zone of their
own: the user's override, else the `timezone` setting, else the server's zone.  Names are
IANA names ("Asia/Shanghai"), read with the standard library's zoneinfo.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, date, datetime, time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# offered first where a user picks a zone (the rest follow in name order)
COMMON_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore",
                "Asia/Tokyo", "Europe/London", "Europe/Berlin", "America/New_York",
                "America/Los_Angeles", "UTC")

_UTC_ALIASES = frozenset({"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT",
                          "Universal", "Zulu"})


@cache
def _names() -> frozenset[str]:
    return frozenset(available_timezones())


def known_zone(name: str) -> ZoneInfo | None:
    """The zone called `name` (an IANA name that the zone database holds), or None."""
    if name not in _names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@cache
def server_zone() -> str:
    """The IANA name of this machine's zone: $TZ, else where /etc/localtime points, else
    /etc/timezone; "UTC" when none of them names a known zone."""
    found = [os.environ.get("TZ", "").lstrip(":")]
    local = Path("/etc/localtime")
    if local.is_symlink():
        target = str(local.resolve())
        if "zoneinfo/" in target:
            found.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        found.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    name = next((name for name in found if known_zone(name)), "UTC")
    return "UTC" if name in _UTC_ALIASES else name


def all_zones() -> list[str]:
    """Every zone name a user may pick: the common ones first, then the others by name."""
    return [*COMMON_ZONES, *sorted(_names() - set(COMMON_ZONES))]


def offset_text(zone: ZoneInfo, at: datetime | None = None) -> str:
    """The zone's offset from UTC at `at` (default: now), as "UTC+8", "UTC-4",
    "UTC+5:30" or "UTC"."""
    delta = (at or datetime.now(UTC)).astimezone(zone).utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta else 0
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def read_utc(value: str | None) -> datetime | None:
    """A stored time (ISO-8601; a time without a zone is UTC) as an aware datetime; None
    when it is empty or not a time."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def in_zone(value: str | None, zone: ZoneInfo) -> datetime | None:
    """A stored time as the clock in `zone` shows it (None when there is none)."""
    when = read_utc(value)
    return when.astimezone(zone) if when else None


def picked_utc(day: date, clock: time | None, zone: ZoneInfo) -> str:
    """A day and a time of day picked on the clock of `zone` (09:00 when no time is
    given), as the service takes it: ISO-8601 in UTC with a Z."""
    local = datetime.combine(day, clock or time(9, 0), tzinfo=zone)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_start_utc(day: date, zone: ZoneInfo) -> str:
    """Midnight at the start of `day` in `zone`, in UTC (a bound of a period of days)."""
    return picked_utc(day, time(0, 0), zone)
