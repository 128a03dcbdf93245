"""Object identity across frames and the event lifecycle.

Each detector pass: drop duplicate boxes, predict every track to the pass's
time, pair tracks with detections (confirmed tracks choose first), update
the pairs, seed tentative tracks from strong leftovers, then decide events:
`new` once a track is confirmed (enough detections, good median score), `update`
on a meaningful change (zones, label, score step; rate-limited), `end` once a
confirmed track has gone unseen for `end_after` seconds (`exit_after` if it was
walking out of the frame). Tentative tracks unseen for `forget_after` seconds
are dropped silently. Each label has its own settings (TrackerConfig.rules).

Time comes from the passes' timestamps, never from frame counts: a motion gate
may run the detector at irregular intervals, and cameras run at 5 to 25 fps."""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from agent.config import TrackerConfig, TrackRules
from agent.detect.detector import Box, Detection
from agent.track.families import family_of
from agent.track.kinematics import MAX_SPEED, BoxFilter
from agent.track.matching import association_cost, boxes_array, duplicates, greedy_assign, overlaps

ZonesOf = Callable[[Detection], list[str]]  # the named zones a detection stands in

RECENT_SCORES = 15  # hits whose median is a track's score: smooths flicker, still follows change
MAX_SIZE_CHANGE = 3.0  # area ratio beyond which a box is not the same object (nor a usable box of it)
GATE_GROWTH = 1.0  # per second unseen, the gate widens by this many times `match_distance`
STILL = 0.5  # box sizes: an object never farther than this from where it was first seen is still
STILL_PATIENCE = 0.1  # a still object may go unseen this share of the time it has been there,
MAX_STILL_PATIENCE = 60.0  # up to this many seconds, before `end`
END_MISSES = 2  # passes missed before `end`: with a motion gate, passes may be 10 s apart
EDGE_MARGIN = 0.02  # a box this close to the border is cut by it
LEAVING_SPEED = 0.02  # frame sizes per second towards the border: walking out, not jitter


@dataclass
class Track:
    """What an event is built from: a snapshot, detached from the tracker."""

    id: int  # unique per Tracker, increasing
    label: str  # the label with the most score over the track's life
    score: float  # median of recent detection scores
    box: Box  # smoothed, normalised x1, y1, x2, y2
    zones: list[str]
    start: float  # monotonic time first seen (before `new`, which waits for confirmation)
    last_seen: float
    confirmed: bool = False


PresenceType = Literal["new", "update", "end"]  # what the tracker tells of an object's life


@dataclass
class TrackEvent:
    type: PresenceType
    track: Track
    ts: float  # the pass that confirmed or changed it; for `end`, when it was last seen


@dataclass(eq=False)  # identity semantics: states are dictionary keys
class _State:
    """A track's working memory."""

    id: int
    family: str
    motion: BoxFilter
    start: float
    last_seen: float = 0.0
    seen_box: Box = (0.0, 0.0, 1.0, 1.0)  # the last detection's own box: only it shows the border cutting it
    misses: int = 0  # passes since last seen
    hits: int = 0  # detections so far
    moved: float = 0.0  # farthest it has been from where it was first seen, in box sizes
    votes: dict[str, float] = field(default_factory=dict)
    label: str = ""  # the label with the most votes, kept up to date by hit()
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_SCORES))
    strong: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_SCORES))  # of hits >= seed_score
    zones: list[str] = field(default_factory=list)
    confirmed: bool = False
    published: Track | None = None  # as last told in an event
    published_at: float = 0.0

    def hit(self, det: Detection, ts: float, zones_of: ZonesOf | None, strong: bool) -> None:
        if self.scores:  # the first sighting is the filter's starting point
            self.motion.update(det.box, ts)
        self.last_seen = ts
        self.seen_box = det.box
        self.misses = 0
        self.hits += 1
        if strong:
            self.strong.append(det.score)
        self.votes[det.label] = self.votes.get(det.label, 0.0) + det.score
        self.label = max(self.votes, key=self.votes.__getitem__)
        self.scores.append(det.score)
        self.moved = max(self.moved, self.motion.distance_from_start())
        # Zones by the smoothed box, so that a jittery box on a zone's edge does not
        # enter and leave it every frame.
        if zones_of is not None:
            self.zones = zones_of(Detection(det.label, det.score, self.motion.box))

    @property
    def score(self) -> float:
        return round(statistics.median(self.scores), 2)

    def snapshot(self) -> Track:
        x1, y1, x2, y2 = (round(min(max(v, 0.0), 1.0), 4) for v in self.motion.box)
        return Track(
            id=self.id,
            label=self.label,
            score=self.score,
            box=(x1, y1, x2, y2),
            zones=list(self.zones),
            start=self.start,
            last_seen=self.last_seen,
            confirmed=self.confirmed,
        )


class Tracker:
    def __init__(self, config: TrackerConfig, zones_of: ZonesOf | None = None) -> None:
        """ZONES_OF: the named zones a detection stands in; None: the camera has none."""
        self.config = config
        self.zones_of = zones_of
        self._tracks: list[_State] = []
        self._next_id = 1
        self._rules: dict[str, TrackRules] = {}

    def update(self, detections: list[Detection], ts: float) -> list[TrackEvent]:
        """One detector pass at monotonic time TS (seconds); the events it caused."""
        n = len(detections)
        boxes = boxes_array([d.box for d in detections])
        predicted = boxes_array([s.motion.predict(ts) for s in self._tracks])
        # One computation serves both steps: detections with each other, then tracks with detections.
        ious, inside, ratio = overlaps(np.concatenate((boxes, predicted)), boxes)
        families = [family_of(d.label) for d in detections]
        scores = [d.score for d in detections]
        dropped = duplicates(ious[:n], inside[:n], ratio[:n], scores, families) if n > 1 else set()
        matched = self._associate(predicted, boxes, ious[n:], ratio[n:], families, dropped, ts)
        for state in self._tracks:
            if state in matched:
                det = detections[matched[state]]
                state.hit(det, ts, self.zones_of, det.score >= self.rules(state.label).seed_score)
            else:
                state.misses += 1
        unused = dropped.union(matched.values())
        self._seed([d for i, d in enumerate(detections) if i not in unused], ts)
        return self._lifecycle(ts)

    def flush(self, ts: float) -> list[TrackEvent]:
        """The stream ended or the agent stops: `end` for every confirmed track."""
        events = [TrackEvent("end", s.snapshot(), min(s.last_seen, ts)) for s in self._tracks if s.confirmed]
        self._tracks.clear()
        return events

    def active(self) -> list[Track]:
        """Tracks alive now, confirmed or not."""
        return [s.snapshot() for s in self._tracks]

    def __len__(self) -> int:
        """How many tracks are alive, without building their snapshots (asked every frame)."""
        return len(self._tracks)

    def _associate(
        self,
        predicted: np.ndarray,
        boxes: np.ndarray,
        ious: np.ndarray,
        ratio: np.ndarray,
        families: list[str],
        dropped: set[int],
        ts: float,
    ) -> dict[_State, int]:
        """Pairs track -> detection index (never one of DROPPED). Confirmed tracks choose first, cheapest
        pair first, then tentative ones: a cone's tentative track must not take the
        detection of a walker that is plainly there. Among confirmed tracks, one
        unseen for a pass competes on equal terms: when two cars pass each other
        and the model misses one, its prediction fits its own detection better
        than the neighbour's gate does."""
        tracks = self._tracks
        if not len(boxes) or not tracks:
            return {}
        cost, distance, gap, size_change = association_cost(predicted, boxes, ious, ratio)
        # An unseen object may have turned or stopped: the gate widens while it coasts.
        # Not for a tentative track: flicker here and there must not chain into one.
        unseen = np.array([ts - s.last_seen if s.confirmed else 0.0 for s in tracks])
        # Seen once, a track has no speed yet: a small fast motorbike may be several of
        # its sizes further on at the next pass, so it may be as far as anything we
        # track goes in the time.
        reach = np.array([MAX_SPEED * (ts - s.last_seen) if s.hits == 1 else 0.0 for s in tracks])
        near = (distance <= self.config.match_distance * (1.0 + GATE_GROWTH * unseen)[:, None]) | (
            gap <= reach[:, None]
        )
        allowed = (
            (np.array([s.family for s in tracks])[:, None] == np.array(families)[None, :])
            & near
            & (size_change <= MAX_SIZE_CHANGE)
        )
        if dropped:
            allowed[:, list(dropped)] = False
        confirmed = np.array([s.confirmed for s in tracks])
        return {tracks[t]: d for t, d in greedy_assign(cost, allowed, first=confirmed)}

    def _seed(self, leftovers: list[Detection], ts: float) -> None:
        """Tentative tracks from the strong unpaired detections."""
        for det in leftovers:
            if det.score < self.rules(det.label).seed_score:
                continue
            state = _State(self._next_id, family_of(det.label), BoxFilter(det.box, ts), ts)
            state.hit(det, ts, self.zones_of, True)
            self._next_id += 1
            self._tracks.append(state)

    def _lifecycle(self, ts: float) -> list[TrackEvent]:
        events: list[TrackEvent] = []
        alive: list[_State] = []
        for state in self._tracks:
            rules = self.rules(state.label)
            if not state.confirmed and self._unseen(state, ts) >= rules.forget_after:
                continue  # a flicker that never came back: forgotten without a word
            if self._gone(state, rules, ts):
                if state.confirmed:
                    events.append(TrackEvent("end", state.snapshot(), state.last_seen))
                continue
            alive.append(state)
            if not state.confirmed and _confirmable(state, rules):
                state.confirmed = True
                events.append(_publish(state, "new", ts))
            elif state.confirmed and state.misses == 0 and self._changed(state, ts):
                events.append(_publish(state, "update", ts))
        self._tracks = alive
        return events

    def rules(self, label: str) -> TrackRules:
        """LABEL's settings, resolved once."""
        if label not in self._rules:
            self._rules[label] = self.config.rules(label)
        return self._rules[label]

    @staticmethod
    def _unseen(state: _State, ts: float) -> float:
        """Seconds unseen, once at least END_MISSES passes missed it: a camera whose
        motion gate looks again only every few seconds has not lost what it did not look for."""
        return ts - state.last_seen if state.misses >= END_MISSES else 0.0

    def _gone(self, state: _State, rules: TrackRules, ts: float) -> bool:
        unseen = self._unseen(state, ts)
        patience = rules.end_after
        if state.moved < STILL:
            # Something that stood still for long is still there when a bus hides it or
            # dusk lowers its score; to leave, it has to move, and moving is seen.
            patience = max(patience, min(STILL_PATIENCE * (state.last_seen - state.start), MAX_STILL_PATIENCE))
        return unseen >= patience or (unseen >= rules.exit_after and _leaving(state, ts))

    def _changed(self, state: _State, ts: float) -> bool:
        last = state.published
        if last is None or ts - state.published_at < self.config.update_interval:
            return False
        return (
            state.label != last.label
            or set(state.zones) != set(last.zones)
            or abs(state.score - last.score) >= self.config.score_step
        )


def _confirmable(state: _State, rules: TrackRules) -> bool:
    """Enough detections, and a good median score of the strong ones (>= seed_score):
    a weak detection on the track's path shows the object is still there, but says
    little about what it is; a car seen from above scores 0.3-0.5 in most frames.
    Things mistaken for objects (cones and signs taken for people, road markings for
    cars) stay where they are, so an object that has not moved needs `still_score`;
    whatever moves needs `confirm_score`."""
    if state.hits < rules.confirm_hits or not state.strong:
        return False
    needed = rules.confirm_score if state.moved >= STILL else rules.still_score
    return statistics.median(state.strong) >= needed


def _publish(state: _State, kind: Literal["new", "update"], ts: float) -> TrackEvent:
    snap = state.snapshot()
    state.published = snap
    state.published_at = ts
    return TrackEvent(kind, replace(snap, zones=list(snap.zones)), ts)


def _leaving(state: _State, ts: float) -> bool:
    """Walked out of the frame: its predicted centre is outside, or its last box was
    cut by the border while it moved towards it. A newcomer there must not inherit
    its id. A parked car cut by the border does not move, so it keeps `end_after`."""
    px1, py1, px2, py2 = state.motion.predict(ts)
    if not (0.0 < (px1 + px2) / 2 < 1.0 and 0.0 < (py1 + py2) / 2 < 1.0):
        return True
    x1, y1, x2, y2 = state.seen_box
    vx, vy = state.motion.velocity
    return (
        (x1 < EDGE_MARGIN and vx < -LEAVING_SPEED)
        or (x2 > 1 - EDGE_MARGIN and vx > LEAVING_SPEED)
        or (y1 < EDGE_MARGIN and vy < -LEAVING_SPEED)
        or (y2 > 1 - EDGE_MARGIN and vy > LEAVING_SPEED)
    )
