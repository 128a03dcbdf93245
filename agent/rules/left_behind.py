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
stands over it. Once most of a blob of such pixels has been still for the
zone's `after`, it is judged, once, and learnt into the background, so one
object makes at most one finding. It is left behind unless it is a tracked
object (it lines up with where one stood: a person whose detections faded, the
place a parked car drove away from), a light change or a shadow (the old
ground, times one factor, still explains it), or a ghost (the edges are in the
background, not in the frame: something taken away), and only if someone
tracked was near it when it appeared."""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from agent.config import LeftBehindConfig
from agent.detect.geometry import Box, Polygon, iou, to_pixels
from agent.rules.findings import LeftObject

SHORT_SECONDS = 2.0  # the short-term background's time constant: a set-down object joins it in ~2 s
LONG_SECONDS = 30.0  # the long-term one's, where it sees the ground: slow local light (sun, lamps)
MIN_STEP = 0.3  # seconds between frames looked at: stillness is counted in seconds, so 3 a second will do
MAX_STEP = 1.0  # seconds one frame may count for: a stalled stream is not time seen
GLOBAL_CHANGE = 0.5  # changed share of the picture, after the gain, that means the view itself changed
REBASE_AFTER = 10.0  # seconds of such a change before the long-term background starts anew (IR switch, camera moved)
COVER_MARGIN = 0.15  # tracked boxes grow by this share of their size on each side: detector boxes are loose
SAME_PLACE = 0.4  # IoU with where a tracked object was that makes a blob that object, not something it left
MOVED = 0.7  # a tracked box is sampled again once its IoU with the last sample drops below this
LIGHT_RESIDUAL = 6.0  # grey levels: a blob the old ground times one factor explains this well is light or shadow
LIGHT_FACTORS = (0.25, 4.0)  # the brightness factors light and shadow can make
SEEN_SLACK = 1.0  # seconds around a tracked object's first and last sighting that it counts as there
REMEMBER = 600.0  # seconds (beyond twice the longest `after`) that where a tracked object stood is remembered


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
    points: Polygon
    rule: LeftBehindConfig


@dataclass
class _Place:
    label: str
    first_seen: float
    last_seen: float
    boxes: deque[tuple[float, Box]]  # (time, box), sampled as it moves


@dataclass(frozen=True, slots=True)
class _Near:
    id: int
    label: str
    distance: float  # in its box heights


class _Places:
    """Where each tracked object has been lately: who was near a thing when it
    appeared, and whether the thing is a tracked object itself, standing still
    untracked or the place it left."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._places: dict[int, _Place] = {}

    def add(self, tracked: Sequence[Tracked], ts: float) -> None:
        for obj in tracked:
            place = self._places.get(obj.id)
            if place is None:
                place = self._places[obj.id] = _Place(obj.label, ts, ts, deque())
            place.label, place.last_seen = obj.label, ts
            if not place.boxes or iou(place.boxes[-1][1], obj.box) < MOVED:
                place.boxes.append((ts, tuple(obj.box)))  # type: ignore[arg-type]
            if len(place.boxes) > 1 and place.boxes[1][0] < ts - self.horizon:
                place.boxes.popleft()
        for key in [k for k, p in self._places.items() if ts - p.last_seen > self.horizon]:
            del self._places[key]

    def was_there(self, box: Box) -> bool:
        return any(iou(box, seen) >= SAME_PLACE for p in self._places.values() for _, seen in p.boxes)

    def nearest(self, box: Box, when: float, aspect: float) -> _Near | None:
        """The object nearest to BOX at time WHEN; ASPECT: the picture's width / height."""
        best = None
        for obj_id, place in self._places.items():
            if not place.first_seen - SEEN_SLACK <= when <= place.last_seen + SEEN_SLACK:
                continue
            at = next((seen for t, seen in reversed(place.boxes) if t <= when), place.boxes[0][1])
            dx = max(at[0] - box[2], box[0] - at[2], 0.0) * aspect
            dy = max(at[1] - box[3], box[1] - at[3], 0.0)
            distance = math.hypot(dx, dy) / max(at[3] - at[1], 1e-6)
            if best is None or distance < best.distance:
                best = _Near(obj_id, place.label, distance)
        return best


class LeftBehindWatch:
    """One camera's watch. Call `update` with every frame the motion gate measured."""

    def __init__(self, zones: Sequence[WatchedZone], threshold: int = 25, masks: Sequence[Polygon] = ()) -> None:
        """THRESHOLD: the grey-level difference that counts as change (the motion gate's);
        MASKS: polygons never watched, whatever the zones say (the camera's masks)."""
        self.zones = list(zones)
        self.masks = list(masks)
        self.threshold = threshold
        longest = max((z.rule.after for z in self.zones), default=0.0)
        self._places = _Places(horizon=REMEMBER + 2 * longest)
        self._long: np.ndarray | None = None
        self._unsettled_since: float | None = None
        # Blobs judged, by verdict: left, or why not (size, tracked, light, ghost, alone).
        self.verdicts: Counter[str] = Counter()

    def update(self, grey: np.ndarray, ts: float, tracking: Callable[[], Sequence[Tracked]]) -> list[LeftObject]:
        """GREY: the gate's small grey frame (uint8); TS: its time in seconds;
        TRACKING: gives the persons and vehicles tracked now, asked only on the frames
        the watch looks at. Returns the objects judged left behind."""
        if self._long is None or grey.shape != self._long.shape:
            self._reset(grey, ts)  # first frame, or the camera came back at another resolution
            return []
        if 0.0 <= ts - self._last_ts < MIN_STEP:
            return []
        tracked = tracking()
        self._places.add(tracked, ts)
        dt = min(max(ts - self._last_ts, 0.0), MAX_STEP)
        self._last_ts = ts
        frame = grey.astype(np.float32)
        gain = self._gain(frame)
        expected = self._long * np.float32(gain)
        changed = cv2.compare(cv2.absdiff(frame, expected), self.threshold, cv2.CMP_GT)  # 255: changed
        moving = cv2.compare(cv2.absdiff(frame, self._short), self.threshold, cv2.CMP_GT)
        cv2.accumulateWeighted(frame, self._short, 1.0 - math.exp(-dt / SHORT_SECONDS))
        if cv2.countNonZero(changed) > GLOBAL_CHANGE * changed.size:
            self._view_changed(frame, ts)
            return []
        self._unsettled_since = None
        covered = self._covered(tracked)
        np.copyto(self._since, ts, where=(changed > self._changed))  # just changed from the ground
        self._changed = changed
        self._count(changed, moving, covered, dt)
        self._ground = cv2.bitwise_not(cv2.bitwise_or(changed, covered))
        learn = 1.0 - math.exp(-dt / LONG_SECONDS)
        cv2.accumulateWeighted(frame / np.float32(gain), self._long, learn, mask=self._ground)
        if not cv2.countNonZero(cv2.compare(self._evidence, self._after, cv2.CMP_GE)):
            return []
        return self._judge(frame, expected, gain, ts)

    @property
    def nbytes(self) -> int:
        """Memory held by the per-pixel maps."""
        if self._long is None:
            return 0
        maps = (self._long, self._short, self._evidence, self._since, self._changed, self._ground)
        return sum(a.nbytes for a in (*maps, self._after, self._watched, *self._zone_masks))

    def _reset(self, grey: np.ndarray, ts: float) -> None:
        height, width = grey.shape
        self._long = grey.astype(np.float32)
        self._short = self._long.copy()
        self._evidence = np.zeros_like(self._long)  # seconds of stillness, per pixel
        self._since = np.zeros(grey.shape, np.float64)  # when the pixel last changed from the ground
        self._changed = np.zeros(grey.shape, np.uint8)  # 255 where the frame differs from the long-term background
        self._ground = np.full(grey.shape, 255, np.uint8)  # 255 where the long-term background sees the ground
        hidden = np.zeros((height, width), bool)
        for polygon in self.masks:
            hidden |= _raster(polygon, width, height)
        self._zone_masks = [_raster(zone.points, width, height) & ~hidden for zone in self.zones]
        self._after = np.full(grey.shape, np.inf, np.float32)  # the shortest `after` of the zones a pixel is in
        for zone, mask in zip(self.zones, self._zone_masks, strict=True):
            self._after[mask] = np.minimum(self._after[mask], zone.rule.after)
        self._watched = np.isfinite(self._after).astype(np.uint8) * 255
        self._last_ts = ts
        self._unsettled_since = None

    def _gain(self, frame: np.ndarray) -> float:
        """The picture's brightness against the long-term background's, where it saw
        the ground last frame: exposure, clouds, dusk."""
        assert self._long is not None
        now, before = cv2.mean(frame, self._ground)[0], cv2.mean(self._long, self._ground)[0]
        return (now + 1.0) / (before + 1.0)

    def _view_changed(self, frame: np.ndarray, ts: float) -> None:
        """Most of the picture changed beyond one gain: stillness is not counted; if it
        lasts, the view itself changed and the long-term background starts anew."""
        if self._unsettled_since is None:
            self._unsettled_since = ts
        elif ts - self._unsettled_since >= REBASE_AFTER:
            self._long = frame.copy()
            self._evidence[:] = 0.0
            self._changed[:] = 0
            self._ground[:] = 255
            self._unsettled_since = None

    def _covered(self, tracked: Sequence[Tracked]) -> np.ndarray:
        assert self._long is not None
        height, width = self._long.shape
        covered = np.zeros((height, width), np.uint8)
        for obj in tracked:
            x1, y1, x2, y2 = obj.box
            mx, my = (x2 - x1) * COVER_MARGIN, (y2 - y1) * COVER_MARGIN
            covered[
                max(int((y1 - my) * height), 0) : math.ceil((y2 + my) * height),
                max(int((x1 - mx) * width), 0) : math.ceil((x2 + mx) * width),
            ] = 255
        return covered

    def _count(self, changed: np.ndarray, moving: np.ndarray, covered: np.ndarray, dt: float) -> None:
        # Stillness counts up; movement over it counts down (a crowd passing does not
        # reset a bag); back to the ground, or anyone standing over it, starts it anew.
        evidence = self._evidence
        cv2.add(evidence, dt, dst=evidence, mask=cv2.bitwise_and(changed, cv2.bitwise_not(moving)))
        cv2.subtract(evidence, dt, dst=evidence, mask=moving)
        keep = cv2.bitwise_and(cv2.bitwise_and(changed, self._watched), cv2.bitwise_not(covered))
        cv2.max(evidence, 0.0, dst=evidence)
        self._evidence = cv2.bitwise_and(evidence, evidence, mask=keep)  # 0 where not kept

    def _judge(self, frame: np.ndarray, expected: np.ndarray, gain: float, ts: float) -> list[LeftObject]:
        # An object is judged whole, once most of it has been still for `after`: a blob
        # is the still pixels joined together, whatever their count.
        assert self._long is not None
        counting = cv2.compare(self._evidence, 0.0, cv2.CMP_GT)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(counting, connectivity=8)
        found = []
        for label in np.unique(labels[self._evidence >= self._after]):
            blob = labels == label
            if np.median(self._evidence[blob] - self._after[blob]) < 0:
                continue
            verdict = self._verdict(blob, stats[label], frame, expected, ts)
            if isinstance(verdict, LeftObject):
                found.append(verdict)
            self.verdicts[verdict if isinstance(verdict, str) else "left"] += 1
            # Judged once: it is part of the scene now, whatever it was.
            self._long[blob] = frame[blob] / gain
            self._evidence[blob] = 0.0
            self._changed[blob] = 0
        return found

    def _verdict(
        self, blob: np.ndarray, stat: np.ndarray, frame: np.ndarray, expected: np.ndarray, ts: float
    ) -> LeftObject | str:
        """The object left behind, or why the blob is not one."""
        height, width = blob.shape
        x, y, w, h, area = (int(v) for v in stat)
        zone = max(zip(self.zones, self._zone_masks, strict=True), key=lambda zm: np.count_nonzero(zm[1] & blob))[0]
        if not zone.rule.min_size <= area / blob.size <= zone.rule.max_size:
            return "size"
        box = (x / width, y / height, (x + w) / width, (y + h) / height)
        if self._places.was_there(box):
            return "tracked"  # a tracked object standing still, or the place one left
        if _is_light(blob, frame, expected):
            return "light"
        if _is_ghost(blob, frame, expected, (x, y, w, h)):
            return "ghost"
        appeared = float(np.median(self._since[blob]))
        near = self._places.nearest(box, appeared, width / height)
        if near is None or near.distance > zone.rule.near:
            return "alone"  # nobody was near when it appeared
        rounded = (round(box[0], 4), round(box[1], 4), round(box[2], 4), round(box[3], 4))
        return LeftObject(zone.name, rounded, appeared, ts, near.id, near.label)


def _raster(points: Polygon, width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [to_pixels(points, width, height)], 1)
    return mask.astype(bool)


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
