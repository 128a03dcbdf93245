"""Snapshots that may leave the hub: privacy masks painted over, JPEG size-capped."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from agent.annotate import draw_polygons

MAX_BYTES = 256 * 1024  # a snapshot must not clog a thin rural link
_QUALITIES = (85, 70, 55, 40)


def snapshot_jpeg(
    image: np.ndarray, masks: Sequence[Sequence[tuple[float, float]]], max_bytes: int = MAX_BYTES
) -> bytes:
    """A JPEG of IMAGE with MASKS filled black, at most MAX_BYTES: lower quality
    first, then smaller size."""
    picture = image.copy()
    draw_polygons(picture, masks, (0, 0, 0), fill=True)
    while True:
        for quality in _QUALITIES:
            ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(data) <= max_bytes:
                return data.tobytes()
        if min(picture.shape[:2]) < 64:
            raise ValueError(f"cannot fit a snapshot in {max_bytes} bytes")
        picture = cv2.resize(picture, (picture.shape[1] // 2, picture.shape[0] // 2), interpolation=cv2.INTER_AREA)
