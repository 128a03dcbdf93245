"""When a guarded zone's rules apply: periods of the week in the hub's local time.

A period is written `[DAYS ]HH:MM-HH:MM`: `22:00-05:00` (every night),
`mon-fri 18:00-06:00`, `sat,sun 00:00-24:00`. It belongs to the day it starts
on, so `fri 22:00-05:00` runs from Friday 22:00 to Saturday 05:00. Hours are
read on the local clock, so a daylight-saving change moves nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
FORMAT = "[DAYS ]HH:MM-HH:MM, e.g. '22:00-05:00' or 'mon-fri 18:00-06:00' (days: mon tue wed thu fri sat sun)"
_PERIOD = re.compile(r"^(?:(?P<days>\S+)\s+)?(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)$")


@dataclass(frozen=True)
class Period:
    days: frozenset[int]  # weekdays it starts on, 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight, up to 24:00; at or before `start`: the next day

    def covers(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        started_today = weekday in self.days and minute >= self.start
        started_yesterday = (weekday - 1) % 7 in self.days and minute < self.end
        return started_today or started_yesterday


def parse_period(text: str) -> Period:
    """Raises ValueError with what was expected."""
    match = _PERIOD.match(text.strip().lower())
    if not match:
        raise ValueError(f"got {text!r}; expected {FORMAT}")
    days = _days(match["days"]) if match["days"] else frozenset(range(7))
    start, end = _minutes(match["start"], text), _minutes(match["end"], text)
    if start == DAY_MINUTES:
        raise ValueError(f"got {text!r}: a period starts at 23:59 at the latest")
    if start == end:
        raise ValueError(f"got {text!r}: a period that ends when it starts is empty; a whole day is 00:00-24:00")
    return Period(days, start, end)


def check_period(text: str) -> str:
    """For the config schema: the text itself, once it parses."""
    parse_period(text)
    return text


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown day in {text!r}; expected {' '.join(DAYS)}, e.g. 'mon-fri' or 'sat,sun'")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(d % 7 for d in range(a, b + 1 if b >= a else b + 8))  # fri-mon wraps over the weekend
    return frozenset(days)


def _minutes(hhmm: str, text: str) -> int:
    hours, minutes = int(hhmm[:2]), int(hhmm[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"got {text!r}: {hhmm} is not a time of day; expected 00:00 to 24:00")
    return hours * 60 + minutes


class Schedule:
    """Guarded hours; no periods at all means always guarded."""

    def __init__(self, periods: Sequence[str] | None, timezone: str | None = None) -> None:
        self.periods = [parse_period(p) for p in periods or ()]
        self.zone = ZoneInfo(timezone) if timezone else None  # None: the system's local time

    @property
    def always(self) -> bool:
        return not self.periods

    def guarded(self, wall: float) -> bool:
        if self.always:
            return True
        local = datetime.fromtimestamp(wall, self.zone)
        minute = local.hour * 60 + local.minute
        return any(p.covers(local.weekday(), minute) for p in self.periods)
