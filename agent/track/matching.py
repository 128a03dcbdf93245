"""Pairing detections with tracks: duplicate suppression, a tolerant cost, and a
greedy assignment (cheapest pair first), all on small numpy arrays."""

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
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-9)
    area_b = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / union, inter / area_a[:, None], area_b[None, :] / area_a[:, None]


def duplicates(boxes: np.ndarray, scores: Sequence[float], families: Sequence[str]) -> set[int]:
    """Indices of boxes to drop: within a family, a box overlapping a better one
    (IoU), or lying mostly on it or around it when the two are of comparable size.
    The model often gives one person a full box and a torso box, a shifted second
    guess, or a box around two people; but a giant weak box around a whole crowd
    must not hide the people in it."""
    ious, inside, ratio = overlaps(boxes, boxes)
    nested = (inside >= DUPLICATE_CONTAINMENT) | (inside.T >= DUPLICATE_CONTAINMENT)
    nested &= (ratio < MAX_NESTED_RATIO) & (ratio > 1 / MAX_NESTED_RATIO)
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    dropped: set[int] = set()
    for rank, i in enumerate(order):
        if i in dropped:
            continue
        for j in order[rank + 1 :]:
            if j not in dropped and families[i] == families[j] and (ious[i, j] >= DUPLICATE_IOU or nested[i, j]):
                dropped.add(j)
    return dropped


def centre_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between the centres of every pair of rows of A and B, in frame units."""
    ac = (a[:, :2] + a[:, 2:]) / 2
    bc = (b[:, :2] + b[:, 2:]) / 2
    return np.hypot(ac[:, None, 0] - bc[None, :, 0], ac[:, None, 1] - bc[None, :, 1])


def association_cost(tracks: np.ndarray, dets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost, centre distance, area ratio >= 1) for every track/detection pair. The
    distance is in box sizes (square root of the mean area), so the same gate suits
    near and far objects; the cost adds 1 - IoU and the size mismatch so that,
    among near candidates, the best overlap of the right size wins."""
    ious, _, ratio = overlaps(tracks, dets)
    t_area = np.prod(tracks[:, 2:] - tracks[:, :2], axis=1)
    d_area = np.prod(dets[:, 2:] - dets[:, :2], axis=1)
    scale = np.sqrt(np.maximum((t_area[:, None] + d_area[None, :]) / 2, 1e-9))
    distance = centre_gaps(tracks, dets) / scale
    change = np.maximum(ratio, 1 / ratio)
    return distance + (1 - ious) + 0.5 * np.log(change), distance, change


def greedy_assign(cost: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Cheapest allowed pair first until rows or columns run out. With a handful of
    objects per frame this is almost always the optimal assignment, and it is simple."""
    rows, cols = np.nonzero(allowed)
    pairs = []
    used_r: set[int] = set()
    used_c: set[int] = set()
    for k in np.argsort(cost[rows, cols], kind="stable"):
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs
