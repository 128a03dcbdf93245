"""One camera's rules, run once per detector pass on the tracker's tracks."""

from __future__ import annotations

from collections.abc import Sequence

from agent.config import CameraConfig
from agent.rules.clock import WallClock
from agent.rules.counts import CountWindow
from agent.rules.findings import Cross, Direction, Finding
from agent.rules.lines import LineWatch
from agent.rules.schedule import Schedule
from agent.rules.zones import ZoneGuard
from agent.track.tracker import Track


class RuleEngine:
    """TIMEZONE: a zoneinfo name for the schedules, None for the system's local
    time. CLOCK says whether the wall clock can be believed (tests inject one)."""

    def __init__(self, camera: CameraConfig, timezone: str | None = None, clock: WallClock | None = None) -> None:
        self.lines = [LineWatch(name, line) for name, line in camera.lines.items()]
        self.counts = CountWindow(camera.counts_interval, list(camera.lines)) if camera.lines else None
        self.zones = [
            (ZoneGuard(name, zone), Schedule(zone.schedule, timezone))
            for name, zone in camera.zones.items()
            if zone.guarded
        ]
        self.clock = clock or WallClock()
        self._guarded_since: dict[str, float | None] = {}
        self._held: dict[int, list[tuple[str, Direction]]] = {}  # crossings of tentative tracks, until confirmed

    def update(self, tracks: Sequence[Track], mono: float, wall: float) -> list[Finding]:
        """TRACKS: the tracker's active tracks after the pass at MONO (monotonic
        seconds); WALL: the same moment on the wall clock, for the schedules."""
        findings: list[Finding] = []
        if self.counts is not None:
            summary = self.counts.update(mono)
            findings += [summary] if summary else []
            findings += self._crossings(self.counts, tracks, mono)
        findings += self._alerts(tracks, mono, wall)
        return findings

    def flush(self, mono: float) -> list[Finding]:
        """At a stop: the crossings counted since the last summary."""
        summary = self.counts.flush(mono) if self.counts is not None else None
        return [summary] if summary else []

    def _crossings(self, counts: CountWindow, tracks: Sequence[Track], mono: float) -> list[Finding]:
        for line in self.lines:
            for track, direction in line.update(tracks):
                self._held.setdefault(track.id, []).append((line.name, direction))
        out: list[Finding] = []
        by_name = {line.name: line for line in self.lines}
        for track in tracks:
            if track.confirmed and track.id in self._held:
                for name, direction in self._held.pop(track.id):
                    counts.add(name, direction, track.label)
                    if by_name[name].events:
                        out.append(Cross(name, direction, track, mono))
        alive = {t.id for t in tracks}
        for gone in self._held.keys() - alive:
            del self._held[gone]  # a flicker that never became an object counts nothing
        return out

    def _alerts(self, tracks: Sequence[Track], mono: float, wall: float) -> list[Finding]:
        out: list[Finding] = []
        for guard, schedule in self.zones:
            unsure = not schedule.always and not self.clock.trusted()
            guarded = unsure or schedule.guarded(wall)
            since = self._guarded_since.get(guard.name)
            since = (mono if since is None else since) if guarded else None
            self._guarded_since[guard.name] = since
            out += guard.update(tracks, mono, since, unsure)
        return out
