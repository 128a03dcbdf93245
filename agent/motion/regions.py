"""Squares around motion for the detector to look at, at the model's input size.

A far person 25 px wide in a 768 px frame is 10 px wide once the whole frame is
squeezed to 300x300, too small for SSD MobileNet; in a 300 px crop it keeps its
25 px. Squares are built per cluster of nearby motion, merged where they
overlap, and given up (whole frame) when motion is spread too wide."""

from __future__ import annotations

from agent.detect.detector import Region
from agent.motion.background import PixelBox

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2
# Overlapping squares merge only while the square over both stays within 4/3 of
# the model's size: on vtest.avi merging up to the frame's height shrank far
# people back to whole-frame scale and found fewer of them than not merging.
MERGE_MAX = 4 / 3


def motion_regions(boxes: list[PixelBox], frame: tuple[int, int], size: int, limit: int) -> list[Region]:
    """Up to LIMIT squares (at least SIZE px, inside FRAME=(width, height))
    covering BOXES; [] means "use the whole frame"."""
    width, height = frame
    if limit <= 0 or not boxes or min(width, height) <= size:
        return []  # a square of the model's size would not be sharper than the whole frame
    squares = [_square(rect, size, frame) for rect in _clusters(boxes, size)]
    squares = _merge_overlapping(squares, size, frame, max_side=min(width, height, int(size * MERGE_MAX)))
    if len(squares) > limit:
        return []
    return [Region(x1, y1, x2 - x1) for x1, y1, x2, y2 in squares]


def _clusters(boxes: list[PixelBox], size: int) -> list[Rect]:
    """Greedy, largest first: a box joins a cluster if both still fit in one square of SIZE."""
    clusters: list[Rect] = []
    for x, y, w, h in sorted(boxes, key=lambda b: b[2] * b[3], reverse=True):
        rect = (x, y, x + w, y + h)
        for i, cluster in enumerate(clusters):
            joined = _union(cluster, rect)
            if _side(joined) <= size:
                clusters[i] = joined
                break
        else:
            clusters.append(rect)
    return clusters


def _merge_overlapping(squares: list[Rect], size: int, frame: tuple[int, int], max_side: int) -> list[Rect]:
    """Two overlapping squares cost two invokes on partly the same pixels: one
    square over both costs one, if it still fits in the frame."""
    while (pair := _mergeable(squares, max_side)) is not None:
        i, j = pair
        joined = _square(_union(squares[i], squares[j]), size, frame)
        squares = [s for k, s in enumerate(squares) if k not in pair] + [joined]
    return squares


def _mergeable(squares: list[Rect], max_side: int) -> tuple[int, int] | None:
    for i, a in enumerate(squares):
        for j in range(i + 1, len(squares)):
            if _overlap(a, squares[j]) and _side(_union(a, squares[j])) <= max_side:
                return i, j
    return None


def _square(rect: Rect, size: int, frame: tuple[int, int]) -> Rect:
    """The square of at least SIZE centred on RECT, shifted (not cut) to stay inside FRAME."""
    width, height = frame
    side = min(max(size, _side(rect)), width, height)
    cx, cy = (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2
    x1 = min(max(cx - side // 2, 0), width - side)
    y1 = min(max(cy - side // 2, 0), height - side)
    return x1, y1, x1 + side, y1 + side


def _union(a: Rect, b: Rect) -> Rect:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _side(rect: Rect) -> int:
    return max(rect[2] - rect[0], rect[3] - rect[1])


def _overlap(a: Rect, b: Rect) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
