"""Pictures that leave the hub: privacy masks painted over, then the best JPEG that fits a byte cap.
Snapshots on request and evidence pictures both go through here."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from agent.annotate import draw_polygons
from agent.detect.geometry import Polygon

MAX_BYTES = 256 * 1024  # a snapshot must not clog a thin rural link
SNAPSHOT_QUALITY = 85  # a whole frame: on a thin link its bytes count more than the last quality steps
MIN_QUALITY = 20
MIN_SIDE = 48  # below this a picture shows nothing useful: give up instead
SHRINK = 0.7  # each step when even MIN_QUALITY is too large


def masked(image: np.ndarray, masks: Sequence[Polygon]) -> np.ndarray:
    """A copy of IMAGE with MASKS filled black."""
    picture = image.copy()
    draw_polygons(picture, masks, (0, 0, 0), fill=True)
    return picture


def fit_jpeg(picture: np.ndarray, max_bytes: int, max_quality: int) -> bytes | None:
    """The best-quality JPEG of PICTURE within MAX_BYTES, made smaller when even the lowest quality does not fit;
    None once it would be smaller than MIN_SIDE."""
    while min(picture.shape[:2]) >= MIN_SIDE:
        data = _best_quality(picture, max_bytes, max_quality)
        if data is not None:
            return data
        picture = cv2.resize(picture, None, fx=SHRINK, fy=SHRINK, interpolation=cv2.INTER_AREA)
    return None


def _best_quality(picture: np.ndarray, max_bytes: int, max_quality: int) -> bytes | None:
    """Binary search over JPEG quality: size grows with quality, so a few encodes find the best that fits."""
    best: bytes | None = None
    low, high = MIN_QUALITY, max_quality
    while low <= high:
        quality = (low + high) // 2
        ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(data) <= max_bytes:
            best, low = data.tobytes(), quality + 1
        else:
            high = quality - 1
    return best


def snapshot_jpeg(image: np.ndarray, masks: Sequence[Polygon], max_bytes: int = MAX_BYTES) -> bytes:
    """A JPEG of IMAGE with MASKS filled black, at most MAX_BYTES."""
    data = fit_jpeg(masked(image, masks), max_bytes, SNAPSHOT_QUALITY)
    if data is None:
        raise ValueError(f"cannot fit a snapshot in {max_bytes} bytes")
    return data
