"""Evidence pictures: a small JPEG of the object an event is about, with enough of its surroundings to be
recognised, under a daily byte budget that keeps pictures from eating a village's data plan.

A picture is encoded only once the budget has granted it, so the hub never spends CPU on a picture it would not
send. The budget reserves the end of each day's allowance for the more important kinds: an ordinary `new`
picture may use only the first part of it, a `left` picture more, an `alert` all of it. A day of busy traffic can
therefore never leave a night alert without its picture.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from agent.detect.geometry import Box, Polygon
from agent.snapshot import fit_jpeg, masked

KINDS = ("alert", "left", "new")  # most important first
SHARES = {"alert": 1.0, "left": 0.8, "new": 0.5}  # the part of a day's budget each kind may reach
MAX_QUALITY = 90  # a small crop, already held to evidence.target_kb


@dataclass(frozen=True, slots=True)
class Picture:
    """The evidence of the event EVENT_ID: a JPEG for `…/{camera}/evidence/{event_id}`."""

    camera: str
    event_id: str
    jpeg: bytes


def crop_with_context(image: np.ndarray, box: Box, context: float) -> np.ndarray:
    """The part of IMAGE around BOX (normalised), widened by CONTEXT box sizes on every side, never smaller than
    a quarter of the picture's width, so a small far object keeps the scene that makes it meaningful."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    half_w = max((x2 - x1) * (0.5 + context), 0.125)
    half_h = max((y2 - y1) * (0.5 + context), 0.125 * width / height)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, right = int(max(cx - half_w, 0.0) * width), int(min(cx + half_w, 1.0) * width)
    top, bottom = int(max(cy - half_h, 0.0) * height), int(min(cy + half_h, 1.0) * height)
    return image[top : max(bottom, top + 1), left : max(right, left + 1)]


def evidence_jpeg(
    image: np.ndarray,
    box: Box,
    masks: Sequence[Polygon],
    target_bytes: int,
    context: float = 1.0,
    max_side: int = 480,
) -> bytes | None:
    """A JPEG of BOX in IMAGE with MASKS painted black, the best quality that fits TARGET_BYTES; None if not even
    a tiny low-quality picture fits."""
    picture = crop_with_context(masked(image, masks), box, context)  # masked first: a mask may cover part of it
    scale = max_side / max(picture.shape[:2])
    if scale < 1.0:
        picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return fit_jpeg(picture, target_bytes, MAX_QUALITY)


class EvidenceBudget:
    """Picture bytes per calendar day in the hub's time zone (TIMEZONE, a zoneinfo name; None: the system's),
    shared by kind of event (see SHARES)."""

    def __init__(
        self, daily_bytes: int, timezone: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.daily_bytes = daily_bytes
        self._zone = ZoneInfo(timezone) if timezone else None
        self._clock = clock
        self._day = self._today()
        self.used = 0
        self.refused = dict.fromkeys(KINDS, 0)

    def _today(self) -> str:
        return datetime.fromtimestamp(self._clock(), self._zone).strftime("%Y-%m-%d")

    def room(self, kind: str) -> int:
        """Bytes a picture of KIND may still take today."""
        today = self._today()
        if today != self._day:
            self._day, self.used = today, 0
        return max(int(self.daily_bytes * SHARES[kind]) - self.used, 0)

    def spend(self, nbytes: int) -> None:
        self.used += nbytes

    def refuse(self, kind: str) -> None:
        self.refused[kind] += 1

    def stats(self) -> dict[str, object]:
        return {"day": self._day, "bytes": self.used, "budget": self.daily_bytes, "refused": dict(self.refused)}
