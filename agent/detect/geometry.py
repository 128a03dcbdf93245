"""Small geometry on normalised coordinates: polygons (zones, masks) and boxes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]  # x, y, fractions of the picture: they survive a change of resolution
Box = tuple[float, float, float, float]  # x1, y1, x2, y2, fractions of the picture
Polygon = Sequence[Point]


def foot(box: Sequence[float]) -> Point:
    """Bottom centre of a box: where a person or vehicle touches the ground."""
    return (box[0] + box[2]) / 2, box[3]


def inside(point: Point, polygon: Polygon) -> bool:
    """Ray casting: is POINT inside POLYGON (points on the edge may go either way)."""
    x, y = point
    hit = False
    for (x0, y0), (x1, y1) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


def to_pixels(polygon: Polygon, width: int, height: int) -> np.ndarray:
    """POLYGON's corners in a WIDTH x HEIGHT picture, as OpenCV's fillPoly and polylines take them."""
    return np.array([(x * width, y * height) for x, y in polygon], np.float32).round().astype(np.int32)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
