"""Where a tracked box is going: a constant-velocity alpha-beta filter on the box
centre (normalised coordinates, units per second) with a smoothed size.

Fixed gains give the steady state of a Kalman filter at a fraction of the code;
the detector's jitter is about the same everywhere in the frame, so little is lost
by not adapting them. Plain floats: numpy costs more than it saves on 2-vectors."""

from __future__ import annotations

import math

from agent.detect.detector import Box

# Position follows a detection most of the way (boxes jitter, but lag costs matches
# when people turn); velocity learns slowly (one jittery box must not launch a track
# across the frame); size moves slowly (legs and heads come and go behind others).
POSITION_GAIN = 0.6
VELOCITY_GAIN = 0.15
SIZE_GAIN = 0.3
# Nothing we track crosses the frame faster than this (frame sizes per second); the
# cap keeps a bad velocity estimate from sending a coasting track away.
MAX_SPEED = 1.0
# Extrapolating a coasting track further than this only adds error: walkers stop and turn.
MAX_EXTRAPOLATION = 2.0
MIN_DT = 0.05  # seconds: two passes closer than this say little about speed
# The detector places a box to within a few of its input pixels (~1 % of the frame),
# whatever the box's size: distances are measured in sizes of at least this.
MIN_SCALE = 0.04


class BoxFilter:
    def __init__(self, box: Box, ts: float) -> None:
        self.cx, self.cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        self.w, self.h = box[2] - box[0], box[3] - box[1]
        self.start = (self.cx, self.cy)
        self.vx = self.vy = 0.0
        self.ts = ts
        self.updates = 0

    def predict(self, ts: float) -> Box:
        """The box expected at TS (the filter itself is not changed)."""
        dt = min(max(ts - self.ts, 0.0), MAX_EXTRAPOLATION)
        return _box(self.cx + self.vx * dt, self.cy + self.vy * dt, self.w, self.h)

    def update(self, box: Box, ts: float) -> None:
        dt = max(ts - self.ts, 0.0)
        seen_x, seen_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if self.updates == 0 or dt < MIN_DT:
            # Second sighting: the only velocity evidence there is, taken at half weight.
            if dt >= MIN_DT:
                self.vx, self.vy = 0.5 * (seen_x - self.cx) / dt, 0.5 * (seen_y - self.cy) / dt
            self.cx, self.cy = seen_x, seen_y
        else:
            ahead = min(dt, MAX_EXTRAPOLATION)
            px, py = self.cx + self.vx * ahead, self.cy + self.vy * ahead
            rx, ry = seen_x - px, seen_y - py
            self.vx += VELOCITY_GAIN * rx / dt
            self.vy += VELOCITY_GAIN * ry / dt
            self.cx, self.cy = px + POSITION_GAIN * rx, py + POSITION_GAIN * ry
        speed = math.hypot(self.vx, self.vy)
        if speed > MAX_SPEED:
            self.vx, self.vy = self.vx * MAX_SPEED / speed, self.vy * MAX_SPEED / speed
        self.w += SIZE_GAIN * (box[2] - box[0] - self.w)
        self.h += SIZE_GAIN * (box[3] - box[1] - self.h)
        self.ts = ts
        self.updates += 1

    def distance_from_start(self) -> float:
        """How far the box has gone from where it was first seen, in box sizes (at
        least MIN_SCALE: a tiny box jitters by its own size without going anywhere)."""
        return math.hypot(self.cx - self.start[0], self.cy - self.start[1]) / max(math.sqrt(self.w * self.h), MIN_SCALE)

    @property
    def box(self) -> Box:
        return _box(self.cx, self.cy, self.w, self.h)

    @property
    def velocity(self) -> tuple[float, float]:
        return self.vx, self.vy


def _box(cx: float, cy: float, w: float, h: float) -> Box:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
