"""What the rules found on one detector pass. Times are monotonic seconds, like
the tracker's: the caller turns them into wall-clock times for events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent.detect.geometry import Box
from agent.track.tracker import Track

Direction = Literal["in", "out"]
Reason = Literal["entered", "dwell"]


@dataclass(frozen=True)
class Cross:
    """A confirmed object's bottom centre crossed a counting line whose `events` is on."""

    line: str
    dir: Direction
    track: Track
    ts: float  # the pass that saw it on the far side


@dataclass(frozen=True)
class Alert:
    """A watched object in a guarded zone: `entered` at once, `dwell` after the zone's dwell time."""

    zone: str
    reason: Reason
    track: Track
    ts: float
    since: float  # when its stay in the zone began
    clock_unsynced: bool  # the zone has a schedule, but the clock was not synchronised: guarded whatever the hour


@dataclass(frozen=True, slots=True)
class LeftObject:
    """Something new in ZONE that stayed still after the tracked object nearest it when it appeared went away."""

    zone: str
    box: Box  # the thing left behind
    appeared: float
    ts: float  # when it was judged left behind
    nearest_id: int
    nearest_label: str


@dataclass(frozen=True)
class Counts:
    """Crossings of one camera's lines in the window [start, end)."""

    start: float
    end: float
    lines: dict[str, dict[Direction, dict[str, int]]]  # line -> in/out -> label -> crossings; no label with none


Finding = Cross | Alert | Counts
