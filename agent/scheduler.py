"""Which camera the one shared detector serves next.

Round robin over cameras that have a frame newer than the last one processed
and whose fps cap allows another frame now: a busy or fast camera can never
starve a slow one, and a camera that stalls costs the others nothing (its
capture thread blocks, not the detector)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from agent.frame import Frame


class FrameFeed(Protocol):
    def latest(self, after_seq: int) -> Frame | None: ...


class FairScheduler:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._feeds: dict[str, tuple[FrameFeed, float]] = {}  # camera -> (feed, min period)
        self._last_seq: dict[str, int] = {}
        self._due: dict[str, float] = {}
        self._order: list[str] = []

    def add(self, camera: str, feed: FrameFeed, fps_cap: float) -> None:
        self._feeds[camera] = (feed, 1.0 / fps_cap)
        self._last_seq[camera] = -1
        self._due[camera] = 0.0
        self._order.append(camera)

    def remove(self, camera: str) -> None:
        for table in (self._feeds, self._last_seq, self._due):
            table.pop(camera, None)
        self._order = [c for c in self._order if c != camera]

    def next_frame(self) -> Frame | None:
        """The next frame to process, or None when no camera has one due."""
        now = self.clock()
        for i, camera in enumerate(self._order):
            feed, period = self._feeds[camera]
            if now < self._due[camera]:
                continue
            frame = feed.latest(self._last_seq[camera])
            if frame is None:
                continue
            self._last_seq[camera] = frame.seq
            # Schedule from the due time, not from now, so the cap is kept on average
            # without drifting; never bank more than one period of credit.
            self._due[camera] = max(self._due[camera] + period, now - period)
            # The camera just served goes to the back of the line.
            self._order.append(self._order.pop(i))
            return frame
        return None

    def idle_for(self, longest: float = 0.1) -> float:
        """How long no camera can become due: until the next one's cap allows a frame, at most
        LONGEST. A camera that is due but has no new frame is not counted: its next frame is
        announced (CameraWorker's on_frame), so callers wait for that instead of polling."""
        now = self.clock()
        return min([longest, *(self._due[c] - now for c in self._order if self._due[c] > now)])
