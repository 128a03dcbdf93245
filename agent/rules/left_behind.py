"""Objects left behind in a zone: something new that appeared while a person or
vehicle was near it, and stayed still after they went (a bag of garbage, a box).

A dual background on the motion gate's small grey frame, as in the literature
on abandoned objects (Porikli, Ivanov and Haga, "Robust abandoned object
detection using dual foregrounds", 2008):

- the long-term background learns only where it sees the ground: not where
  the frame differs from it, not under tracked objects. Its brightness is
  compared after one gain for the whole picture, so exposure and daylight
  changes are not objects;
- the short-term background follows the frame within seconds.

A pixel that differs from the long-term background but not from the short-term
one holds something that arrived and stopped. Such pixels count seconds of
stillness outside the (slightly grown) boxes of tracked objects: a person or a
car standing there is not left behind, and the count starts again while anyone
stands over it. A blob whose pixels reach the zone's `after` is judged once and
then learnt into the background, so one object makes one finding. It is left
behind unless it is a tracked object (it lines up with where one stood: a
person whose detections faded, the place a parked car drove away from), a
light change or a shadow (the old ground, times one factor, still explains it),
or a ghost (the edges are in the background, not in the frame), and only if
someone tracked was near most of it when it appeared."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from agent.config import LeftBehindConfig
from agent.detect.geometry import iou

Box = tuple[float, float, float, float]  # x1, y1, x2, y2, normalised to the picture
Polygon = Sequence[tuple[float, float]]

SHORT_SECONDS = 2.0  # the short-term background's time constant: a set-down object joins it in ~2 s
LONG_SECONDS = 30.0  # the long-term one's, where it sees the ground: slow local light (sun, lamps)
MAX_STEP = 1.0  # seconds one frame may count for: a stalled or gated stream is not time seen
GLOBAL_CHANGE = 0.5  # changed share of the picture, after the gain, that means the view itself changed
REBASE_AFTER = 10.0  # seconds of such a change before the long-term background starts anew (IR switch, camera moved)
COVER_MARGIN = 0.15  # tracked boxes grow by this share of their size on each side: detector boxes are loose
SAME_PLACE = 0.4  # IoU with where a tracked object was that makes a blob that object, not something it left
MOVED = 0.7  # a tracked box is sampled again once its IoU with the last sample drops below this
LIGHT_RESIDUAL = 6.0  # grey levels: a blob the old ground times one factor explains this well is light or shadow
LIGHT_FACTORS = (0.25, 4.0)  # the brightness factors light and shadow can make
FAR = 5.0  # box heights beyond which nobody counts as near a pixel when it changed


class Tracked(Protocol):
    """What the watch needs of a tracked person or vehicle (agent.track.tracker.Track has it)."""

    @property
    def id(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def box(self) -> Box: ...


@dataclass(frozen=True, slots=True)
class WatchedZone:
    name: str
    points: Polygon  # fractions of the picture
    rule: LeftBehindConfig


@dataclass(frozen=True, slots=True)
class LeftObject:
    zone: str
    box: Box
    appeared: float  # when it appeared, on the clock of the frames' timestamps
    ts: float  # when it was judged left behind
    nearest_id: int  # the tracked object nearest to it when it appeared
    nearest_label: str


@dataclass
class _Place:
    label: str
    last_seen: float
    boxes: list[tuple[float, Box]] = field(default_factory=list)  # (time, box), sampled as it moves


class _Places:
    """Where each tracked object has been lately: to recognise it when it stands
    still untracked, and the place it left."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._places: dict[int, _Place] = {}

    def add(self, tracked: Sequence[Tracked], ts: float) -> None:
        for obj in tracked:
            place = self._places.setdefault(obj.id, _Place(obj.label, ts))
            place.label, place.last_seen = obj.label, ts
            if not place.boxes or iou(place.boxes[-1][1], obj.box) < MOVED:
                place.boxes.append((ts, tuple(obj.box)))
        for key in [k for k, p in self._places.items() if ts - p.last_seen > self.horizon]:
            del self._places[key]

    def label(self, obj_id: int) -> str | None:
        place = self._places.get(obj_id)
        return place.label if place else None

    def was_there(self, box: Box, ts: float) -> bool:
        since = ts - self.horizon
        return any(
            iou(box, seen) >= SAME_PLACE
            for place in self._places.values()
            for when, seen in place.boxes
            if when >= since or seen is place.boxes[-1][1]
        )


class LeftBehindWatch:
    """One camera's watch. Call `update` with every frame the motion gate measured."""

    def __init__(self, zones: Sequence[WatchedZone], threshold: int = 25) -> None:
        """THRESHOLD: the grey-level difference that counts as change (the motion gate's)."""
        self.zones = list(zones)
        self.threshold = threshold
        longest = max((z.rule.after for z in self.zones), default=0.0)
        self._places = _Places(horizon=600.0 + 2 * longest)
        self._long: np.ndarray | None = None
        self._unsettled_since: float | None = None

    def update(self, grey: np.ndarray, ts: float, tracked: Sequence[Tracked]) -> list[LeftObject]:
        """GREY: the gate's small grey frame (uint8); TS: its time in seconds;
        TRACKED: the persons and vehicles tracked now. Objects judged left behind."""
        self._places.add(tracked, ts)
        if self._long is None or grey.shape != self._long.shape:
            self._reset(grey, ts)  # first frame, or the camera came back at another resolution
            return []
        dt = min(max(ts - self._last_ts, 0.0), MAX_STEP)
        self._last_ts = ts
        frame = grey.astype(np.float32)
        gain = self._gain(frame)
        expected = self._long * gain
        changed = cv2.absdiff(frame, expected) > self.threshold
        moving = cv2.absdiff(frame, self._short) > self.threshold
        cv2.accumulateWeighted(frame, self._short, 1.0 - math.exp(-dt / SHORT_SECONDS))
        if np.count_nonzero(changed) > GLOBAL_CHANGE * changed.size:
            self._view_changed(frame, ts)
            return []
        self._unsettled_since = None
        covered = self._covered(tracked)
        self._note_arrivals(changed, ts, tracked)
        self._count(changed & ~moving, changed, covered, dt)
        ground = (~changed & ~covered).view(np.uint8)
        cv2.accumulateWeighted(frame / gain, self._long, 1.0 - math.exp(-dt / LONG_SECONDS), mask=ground)
        if not np.any(self._evidence >= self._after):
            return []
        return self._judge(frame, expected, gain, ts)

    def _reset(self, grey: np.ndarray, ts: float) -> None:
        height, width = grey.shape
        self._long = grey.astype(np.float32)
        self._short = self._long.copy()
        self._evidence = np.zeros_like(self._long)  # seconds of stillness, per pixel
        self._since = np.zeros(grey.shape, np.float64)  # when the pixel last changed from the ground
        self._owner = np.zeros(grey.shape, np.int32)  # the tracked object nearest then (0: none)
        self._owner_distance = np.zeros_like(self._long)  # how far it was, in its box heights
        self._changed = np.zeros(grey.shape, bool)
        self._zone_masks = [_raster(zone.points, width, height) for zone in self.zones]
        self._after = np.full(grey.shape, np.inf, np.float32)  # the shortest `after` of the zones a pixel is in
        for zone, mask in zip(self.zones, self._zone_masks, strict=True):
            self._after[mask] = np.minimum(self._after[mask], zone.rule.after)
        self._unwatched = ~np.isfinite(self._after)
        self._last_ts = ts
        self._unsettled_since = None

    def _gain(self, frame: np.ndarray) -> float:
        """The picture's brightness against the long-term background's: exposure, clouds, dusk.
        The median of a sparse grid ignores objects covering less than half the view."""
        assert self._long is not None
        ratio = (frame[::4, ::4] + 4.0) / (self._long[::4, ::4] + 4.0)
        return float(np.median(ratio))

    def _view_changed(self, frame: np.ndarray, ts: float) -> None:
        """Most of the picture changed beyond one gain: stillness is not counted; if it
        lasts, the view itself changed and the long-term background starts anew."""
        if self._unsettled_since is None:
            self._unsettled_since = ts
        elif ts - self._unsettled_since >= REBASE_AFTER:
            self._long = frame.copy()
            self._evidence[:] = 0.0
            self._changed[:] = False
            self._unsettled_since = None

    def _covered(self, tracked: Sequence[Tracked]) -> np.ndarray:
        assert self._long is not None
        height, width = self._long.shape
        covered = np.zeros((height, width), bool)
        for obj in tracked:
            x1, y1, x2, y2 = obj.box
            mx, my = (x2 - x1) * COVER_MARGIN, (y2 - y1) * COVER_MARGIN
            covered[
                max(int((y1 - my) * height), 0) : math.ceil((y2 + my) * height),
                max(int((x1 - mx) * width), 0) : math.ceil((x2 + mx) * width),
            ] = True
        return covered

    def _note_arrivals(self, changed: np.ndarray, ts: float, tracked: Sequence[Tracked]) -> None:
        """For pixels that just changed from the ground: when, and who was nearest."""
        arrived = changed & ~self._changed
        self._changed = changed
        ys, xs = np.nonzero(arrived)
        if not len(ys):
            return
        self._since[ys, xs] = ts
        owner, distance = _nearest(xs, ys, self._changed.shape, tracked)
        self._owner[ys, xs] = owner
        self._owner_distance[ys, xs] = distance

    def _count(self, still: np.ndarray, changed: np.ndarray, covered: np.ndarray, dt: float) -> None:
        # Stillness counts up; movement over it counts down (a crowd passing does not
        # reset a bag); back to the ground, or anyone standing over it, starts it anew.
        evidence = self._evidence
        evidence += np.where(still, dt, -dt).astype(np.float32)
        np.maximum(evidence, 0.0, out=evidence)
        evidence[~changed | covered | self._unwatched] = 0.0

    def _judge(self, frame: np.ndarray, expected: np.ndarray, gain: float, ts: float) -> list[LeftObject]:
        # An object is judged whole, once most of it has been still for `after`: a blob
        # is the still pixels joined together, whatever their count.
        assert self._long is not None
        _, labels, stats, _ = cv2.connectedComponentsWithStats((self._evidence > 0).view(np.uint8), connectivity=8)
        found = []
        for label in np.unique(labels[self._evidence >= self._after]):
            blob = labels == label
            if np.median(self._evidence[blob] - self._after[blob]) < 0:
                continue
            finding = self._verdict(blob, stats[label], frame, expected, ts)
            if finding is not None:
                found.append(finding)
            # Judged once: it is part of the scene now, whatever it was.
            self._long[blob] = frame[blob] / gain
            self._evidence[blob] = 0.0
            self._changed[blob] = False
        return found

    def _verdict(
        self, blob: np.ndarray, stat: np.ndarray, frame: np.ndarray, expected: np.ndarray, ts: float
    ) -> LeftObject | None:
        height, width = blob.shape
        x, y, w, h, area = (int(v) for v in stat)
        zone = max(zip(self.zones, self._zone_masks, strict=True), key=lambda zm: np.count_nonzero(zm[1] & blob))[0]
        if not zone.rule.min_size <= area / blob.size <= zone.rule.max_size:
            return None
        box = (x / width, y / height, (x + w) / width, (y + h) / height)
        if self._places.was_there(box, ts) or _is_light(blob, frame, expected):
            return None
        if _is_ghost(blob, frame, expected, (x, y, w, h)):
            return None
        owners = self._owner[blob][self._owner_distance[blob] <= zone.rule.near]
        owners = owners[owners > 0]
        if owners.size * 2 < area:
            return None  # nobody was near most of it when it appeared
        nearest = int(np.bincount(owners).argmax())
        label = self._places.label(nearest)
        if label is None:
            return None
        appeared = float(np.median(self._since[blob]))
        return LeftObject(zone.name, tuple(round(v, 4) for v in box), appeared, ts, nearest, label)  # type: ignore[arg-type]


def _raster(points: Polygon, width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    pixels = np.array([(px * width, py * height) for px, py in points], np.float32).round().astype(np.int32)
    cv2.fillPoly(mask, [pixels], 1)
    return mask.astype(bool)


def _nearest(
    xs: np.ndarray, ys: np.ndarray, shape: tuple[int, ...], tracked: Sequence[Tracked]
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the id of the nearest tracked object (0: none within FAR) and its
    distance in that object's box heights (0 inside its box)."""
    if not tracked:
        return np.zeros(len(xs), np.int32), np.full(len(xs), np.inf, np.float32)
    height, width = shape
    boxes = np.array([obj.box for obj in tracked], np.float32) * np.array([width, height, width, height], np.float32)
    px, py = xs[:, None] + 0.5, ys[:, None] + 0.5
    dx = np.maximum(np.maximum(boxes[None, :, 0] - px, px - boxes[None, :, 2]), 0.0)
    dy = np.maximum(np.maximum(boxes[None, :, 1] - py, py - boxes[None, :, 3]), 0.0)
    heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    distance = np.hypot(dx, dy) / heights[None, :]
    best = distance.argmin(axis=1)
    best_distance = distance[np.arange(len(xs)), best]
    ids = np.array([obj.id for obj in tracked], np.int32)[best]
    return np.where(best_distance <= FAR, ids, 0), best_distance.astype(np.float32)


def _is_light(blob: np.ndarray, frame: np.ndarray, expected: np.ndarray) -> bool:
    """Light and shadow scale the ground's brightness, texture and all; an object
    replaces it. So: does the old ground times one factor explain the blob? Its rim
    (up to 2 pixels, as far as the blob is big enough) is left out: there a shadow's
    soft edge, or a lamp's, mixes factors."""
    inside = blob
    for depth in (2, 1):
        core = cv2.erode(blob.view(np.uint8), np.ones((3, 3), np.uint8), iterations=depth).view(bool)
        if np.count_nonzero(core) >= 4:
            inside = core
            break
    now, before = frame[inside], expected[inside]
    factor = float(np.dot(now, before) / max(float(np.dot(before, before)), 1.0))
    residual = float(np.sqrt(np.mean((now - factor * before) ** 2)))
    return LIGHT_FACTORS[0] <= factor <= LIGHT_FACTORS[1] and residual < LIGHT_RESIDUAL


def _is_ghost(blob: np.ndarray, frame: np.ndarray, expected: np.ndarray, rect: tuple[int, int, int, int]) -> bool:
    """Something that left, not something that came: its outline has edges in the
    background but not in the frame."""
    x, y, w, h = rect
    height, width = blob.shape
    x0, y0, x1, y1 = max(x - 2, 0), max(y - 2, 0), min(x + w + 2, width), min(y + h + 2, height)
    region = blob[y0:y1, x0:x1].astype(np.uint8)
    outline = cv2.morphologyEx(region, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)
    return _edges(expected[y0:y1, x0:x1])[outline].mean() > _edges(frame[y0:y1, x0:x1])[outline].mean()


def _edges(image: np.ndarray) -> np.ndarray:
    return np.abs(cv2.Sobel(image, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(image, cv2.CV_32F, 0, 1))
