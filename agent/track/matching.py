"""Pairing detections with tracks: duplicate suppression, a tolerant cost, and a
greedy assignment (cheapest pair first), all on small numpy arrays.

These run on every detector pass with about ten boxes: numpy's cost here is per
call, not per element, so each matrix is built once with as few calls as it takes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agent.detect.detector import Box

# Within a family, a weaker box overlapping a better one this much (IoU) is a second box of it,
DUPLICATE_IOU = 0.5
# and so is one lying this much on it (share of the smaller box inside the other), unless their
# areas differ more than MAX_NESTED_RATIO: a person inside a crowd-sized box is still a person.
DUPLICATE_CONTAINMENT = 0.5
MAX_NESTED_RATIO = 4.0


def boxes_array(boxes: Sequence[Box]) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every pair of rows of A and B: IoU, the share of A inside B, and B's area
    over A's."""
    # x and y together: [n, m, 2] arrays, then width x height.
    cut = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    np.maximum(cut, 0.0, out=cut)
    inter = cut[..., 0] * cut[..., 1]
    area_a = np.maximum(areas(a), 1e-9)[:, None]
    area_b = np.maximum(areas(b), 1e-9)[None, :]
    return inter / (area_a + area_b - inter), inter / area_a, area_b / area_a


def areas(boxes: np.ndarray) -> np.ndarray:
    size = boxes[:, 2:] - boxes[:, :2]
    return size[:, 0] * size[:, 1]


def duplicates(
    ious: np.ndarray, inside: np.ndarray, ratio: np.ndarray, scores: Sequence[float], families: Sequence[str]
) -> set[int]:
    """Indices of boxes to drop, given the boxes' overlaps() with each other: within a
    family, a box overlapping a better one (IoU), or lying mostly on it or around it when
    the two are of comparable size. The model often gives one person a full box and a
    torso box, a shifted second guess, or a box around two people; but a giant weak box
    around a whole crowd must not hide the people in it."""
    nested = (inside >= DUPLICATE_CONTAINMENT) | (inside.T >= DUPLICATE_CONTAINMENT)
    nested &= (ratio < MAX_NESTED_RATIO) & (ratio > 1 / MAX_NESTED_RATIO)
    covers = ((ious >= DUPLICATE_IOU) | nested).tolist()
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    dropped: set[int] = set()
    for rank, i in enumerate(order):
        if i not in dropped:
            dropped.update(j for j in order[rank + 1 :] if covers[i][j] and families[i] == families[j])
    return dropped


def association_cost(
    tracks: np.ndarray, dets: np.ndarray, ious: np.ndarray, ratio: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cost, centre distance in box sizes, centre distance in frame units, area ratio >= 1)
    for every track/detection pair, given their overlaps() IOUS and RATIO. Box sizes (square
    root of the mean area) let the same gate suit near and far objects; the cost adds 1 - IoU
    and the size mismatch so that, among near candidates, the best overlap of the right size wins."""
    scale = np.sqrt(np.maximum((areas(tracks)[:, None] + areas(dets)[None, :]) / 2, 1e-9))
    between = (tracks[:, None, :2] + tracks[:, None, 2:]) / 2 - (dets[None, :, :2] + dets[None, :, 2:]) / 2
    gap = np.hypot(between[..., 0], between[..., 1])
    distance = gap / scale
    change = np.maximum(ratio, 1 / ratio)
    return distance + (1 - ious) + 0.5 * np.log(change), distance, gap, change


def greedy_assign(cost: np.ndarray, allowed: np.ndarray, first: np.ndarray) -> list[tuple[int, int]]:
    """Cheapest allowed pair first until rows or columns run out, the rows marked FIRST
    before all others. With a handful of objects per frame this is almost always the
    optimal assignment, and it is simple."""
    rows, cols = np.nonzero(allowed)
    # Stable: among equal costs, the row-major order of np.nonzero decides.
    order = np.lexsort((cost[rows, cols], ~first[rows]))
    pairs = []
    used_r: set[int] = set()
    used_c: set[int] = set()
    for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs
