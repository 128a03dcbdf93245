"""Events as published: schema version 1, one compact JSON object each.

An event's `id` is made when the event is created and stored with it in the
spool, so retries after an outage carry the same id (consumers de-duplicate
by it). `obj` links the new/update/end events of one object."""

from __future__ import annotations

import json
import time
from typing import Any

from agent.track.tracker import TrackEvent

SCHEMA_VERSION = 1


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class EventFactory:
    """Turns tracker events of one camera into publishable event dicts.

    Object ids are the pipeline's start time in milliseconds (base 36), the camera
    and the tracker's id: unique on the hub across cameras, reloads and restarts
    without any stored counter."""

    def __init__(self, hub: str, camera: str, epoch: float | None = None) -> None:
        self.hub = hub
        self.camera = camera
        self._run = _base36(int((time.time() if epoch is None else epoch) * 1000))
        self._counts: dict[int, int] = {}

    def build(self, event: TrackEvent, wall_offset: float) -> dict[str, Any]:
        """WALL_OFFSET turns the tracker's monotonic times into wall-clock times
        (the Pi has no RTC: its wall clock may jump at boot, the tracker must not)."""
        track = event.track
        n = self._counts.get(track.id, 0)
        self._counts[track.id] = n + 1
        if event.type == "end":
            self._counts.pop(track.id, None)
        obj = f"{self._run}-{self.camera}-{track.id}"
        return {
            "v": SCHEMA_VERSION,
            "id": f"{obj}.{n}",
            "obj": obj,
            "hub": self.hub,
            "cam": self.camera,
            "type": event.type,
            "label": track.label,
            "score": round(track.score, 2),
            "box": [round(v, 3) for v in track.box],
            "zones": list(track.zones),
            "start": round(track.start + wall_offset, 2),
            "ts": round(event.ts + wall_offset, 2),
            "historical": False,
        }


def encode(event: dict[str, Any]) -> bytes:
    """The wire form: one line of JSON, no spaces."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
