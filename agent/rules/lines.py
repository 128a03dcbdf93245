"""Counting lines: which way objects cross a named segment.

Facing from the line's first point to its second, `in` is the side on the right
hand and `out` the side on the left (picture coordinates, y down). An object's
side is taken at its bottom centre, and only once that point is clearly off the
line: beyond a band of BAND_SHARE of its own box height (MIN_BAND at least), so
box jitter on the line never flips it. A crossing counts when the side flips and
the path between the two sightings meets the segment itself, not its extension.
Each flip counts: an object that crosses and comes back is one `in` and one `out`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from agent.config import CountingLine
from agent.detect.geometry import Point, foot
from agent.rules.findings import Direction
from agent.track.tracker import Track

BAND_SHARE = 0.1  # detector boxes wobble by a few % of their size from frame to frame
MIN_BAND = 0.005  # fraction of the picture: a far, tiny object still needs a clear step


class LineWatch:
    def __init__(self, name: str, line: CountingLine) -> None:
        self.name = name
        self.events = line.events
        (ax, ay), (bx, by) = line.points
        self.a = (ax, ay)
        self.d = (bx - ax, by - ay)
        self.length = math.hypot(*self.d)
        self._last: dict[int, tuple[int, Point]] = {}  # track id -> last clear side (+1 in, -1 out) and where

    def update(self, tracks: Sequence[Track]) -> list[tuple[Track, Direction]]:
        """Crossings since the previous pass, by tentative tracks too (the caller
        holds those until the track is confirmed)."""
        crossed: list[tuple[Track, Direction]] = []
        for track in tracks:
            point = foot(track.box)
            side = self._side(point, max(MIN_BAND, BAND_SHARE * (track.box[3] - track.box[1])))
            if side == 0:
                continue
            last = self._last.get(track.id)
            if last is not None and last[0] != side and self._meets_segment(last[1], point):
                crossed.append((track, "in" if side > 0 else "out"))
            self._last[track.id] = (side, point)
        alive = {t.id for t in tracks}
        for gone in self._last.keys() - alive:
            del self._last[gone]
        return crossed

    def _distance(self, p: Point) -> float:
        """Signed distance from the line, positive on the `in` side."""
        return (self.d[0] * (p[1] - self.a[1]) - self.d[1] * (p[0] - self.a[0])) / self.length

    def _side(self, p: Point, band: float) -> int:
        distance = self._distance(p)
        return 0 if abs(distance) <= band else (1 if distance > 0 else -1)

    def _meets_segment(self, p0: Point, p1: Point) -> bool:
        d0, d1 = self._distance(p0), self._distance(p1)
        s = d0 / (d0 - d1)  # the sides differ, so d0 != d1
        x, y = p0[0] + s * (p1[0] - p0[0]), p0[1] + s * (p1[1] - p0[1])
        t = ((x - self.a[0]) * self.d[0] + (y - self.a[1]) * self.d[1]) / self.length**2
        return 0.0 <= t <= 1.0
