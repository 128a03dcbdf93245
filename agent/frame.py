"""The unit of data that flows from capture to detection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    camera: str
    seq: int  # per-camera, increasing for the life of its capture worker (also across reconnects)
    mono: float  # time.monotonic() at capture: for ages and rates
    wall: float  # time.time() at capture: for event timestamps
    image: np.ndarray  # BGR, HxWx3, uint8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]
