"""Business hours for human handoff: when a request for a person can be picked up.

A pure parser and check, no Django: `HANDOFF_BUSINESS_HOURS` reads like
``"mon-fri 09:00-18:00; sat 10:00-14:00"`` in `HANDOFF_TIME_ZONE`. Empty means always open.
A range ending at 24:00 runs to midnight; days not named are closed.
"""

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLAUSE = re.compile(
    r"^\s*(?P<days>[a-z]{3}(?:\s*-\s*[a-z]{3})?(?:\s*,\s*[a-z]{3}(?:\s*-\s*[a-z]{3})?)*)"
    r"\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


class BusinessHoursInvalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Window:
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int  # exclusive; 1440 = midnight


def _minutes(value: str) -> int:
    hours, minutes = (int(part) for part in value.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise BusinessHoursInvalid(f"not a time of day: {value}")
    return hours * 60 + minutes


def _days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        first, _, last = (p.strip() for p in part.partition("-"))
        if first not in DAYS or (last and last not in DAYS):
            raise BusinessHoursInvalid(f"unknown day in {part.strip()!r} (use mon..sun)")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days += list(range(start, end + 1)) if start <= end else [*range(start, 7), *range(end + 1)]
    return days


def business_hours_parse(spec: str) -> tuple[Window, ...]:
    """The windows of a spec; () for an empty spec (always open)."""
    windows: list[Window] = []
    for clause in filter(str.strip, spec.lower().split(";")):
        match = _CLAUSE.match(clause)
        if not match:
            raise BusinessHoursInvalid(f"cannot read {clause.strip()!r}: 'mon-fri 09:00-18:00'")
        start, end = _minutes(match["start"]), _minutes(match["end"])
        if end <= start:
            raise BusinessHoursInvalid(f"{clause.strip()!r}: the end must come after the start")
        windows += [Window(day, start, end) for day in _days(match["days"])]
    return tuple(windows)


def is_open(windows: tuple[Window, ...], *, at: datetime, time_zone: str) -> bool:
    if not windows:
        return True
    local = at.astimezone(ZoneInfo(time_zone))
    minute = local.hour * 60 + local.minute
    return any(
        w.weekday == local.weekday() and w.start_minute <= minute < w.end_minute for w in windows
    )


def opening_time(windows: tuple[Window, ...], *, at: datetime, time_zone: str) -> time | None:
    """Today's next opening (local time), if any: for "we open at 09:00"."""
    local = at.astimezone(ZoneInfo(time_zone))
    minute = local.hour * 60 + local.minute
    later = sorted(
        w.start_minute for w in windows if w.weekday == local.weekday() and w.start_minute > minute
    )
    return time(later[0] // 60, later[0] % 60) if later else None
