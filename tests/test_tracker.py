"""The tracker on scripted box sequences: identity through occlusion and crossing,
the event lifecycle, and the model's habits (flicker, duplicate boxes, static
look-alikes, label confusion). Real footage is covered by the replay tests."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
import pytest
from pydantic import ValidationError

from agent.config import TrackerConfig
from agent.detect.detector import Detection
from agent.track.matching import greedy_assign
from agent.track.tracker import Tracker, TrackEvent

FPS = 10.0


def person(cx: float, foot: float, h: float = 0.2, score: float = 0.8) -> Detection:
    w = h * 0.4
    return Detection("person", score, (cx - w / 2, foot - h, cx + w / 2, foot))


def vehicle(cx: float, cy: float, w: float, h: float, score: float, label: str) -> Detection:
    return Detection(label, score, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))


def play(tracker: Tracker, passes: Iterable[tuple[float, list[Detection]]]) -> list[TrackEvent]:
    events: list[TrackEvent] = []
    for ts, dets in passes:
        events += tracker.update(dets, ts)
    return events


def frames(scene: Callable[[int], list[Detection]], n: int, start: int = 0) -> list[tuple[float, list[Detection]]]:
    """N passes at FPS: pass i sees scene(i)."""
    return [(i / FPS, scene(i)) for i in range(start, start + n)]


def kinds(events: list[TrackEvent]) -> Counter[str]:
    return Counter(e.type for e in events)


def test_a_walker_makes_one_new_then_one_end_when_gone() -> None:
    tracker = Tracker(TrackerConfig())
    events = play(tracker, frames(lambda i: [person(0.2 + 0.01 * i, 0.6)], 40))
    assert [e.type for e in events] == ["new"]
    assert events[0].track.label == "person" and events[0].track.start == 0.0
    events = play(tracker, frames(lambda i: [], 60, start=40))
    assert [e.type for e in events] == ["end"]
    assert events[0].track.id == 1
    assert events[0].ts == pytest.approx(3.9)  # when it was last seen, not when the tracker gave up
    assert tracker.active() == []


@pytest.mark.parametrize(("gap", "ids"), [(2.5, 1), (7.0, 2)])
def test_an_occlusion_shorter_than_end_after_keeps_the_id(gap: float, ids: int) -> None:
    """Walking behind a post: hidden for GAP seconds, reappearing where the walk leads
    (several box widths away)."""
    hidden = range(20, 20 + int(gap * FPS))

    def scene(i: int) -> list[Detection]:
        return [] if i in hidden else [person(0.05 + 0.01 * i, 0.5 + 0.002 * i, h=0.12)]

    events = play(Tracker(TrackerConfig(end_after=5.0)), frames(scene, 20 + len(hidden) + 20))
    assert kinds(events)["new"] == ids
    assert kinds(events)["end"] == ids - 1


def test_a_walker_who_turns_while_hidden_keeps_the_id() -> None:
    """Behind a post for 1.5 s, and out again walking down instead of right: more
    than a box size from where the walk led, but within the widened gate."""

    def scene(i: int) -> list[Detection]:
        if i < 20:
            return [person(0.2 + 0.01 * i, 0.5)]
        if i < 35:
            return []
        return [person(0.42, 0.62 + 0.01 * (i - 35))]

    events = play(Tracker(TrackerConfig()), frames(scene, 50))
    assert kinds(events) == {"new": 1}


def test_two_people_crossing_keep_their_ids() -> None:
    """Walking towards each other; while they overlap the model sees neither."""

    def scene(i: int) -> list[Detection]:
        a = person(0.2 + 0.01 * i, 0.62, h=0.12)  # walks right
        b = person(0.8 - 0.01 * i, 0.6, h=0.11)  # walks left
        return [] if abs(a.foot[0] - b.foot[0]) < 0.12 else [a, b]

    tracker = Tracker(TrackerConfig())
    events = play(tracker, frames(scene, 60))
    assert kinds(events) == {"new": 2}
    walks = {e.track.id: e.track.box[0] for e in events}
    final = {t.id: t.box[0] for t in tracker.active()}
    for track_id, x_at_new in walks.items():
        # The one first seen on the left is now on the right, and the other way round.
        assert (final[track_id] > 0.5) == (x_at_new < 0.5)


def test_a_walker_stopping_in_front_of_a_cone_keeps_its_id() -> None:
    """The cone's own (tentative) track sits exactly where the walker stands; the
    walker's confirmed track must keep the walker."""

    def scene(i: int) -> list[Detection]:
        jitter = 0.01 if i % 2 else -0.01
        cone = person(0.5, 0.6, score=0.55)
        if i < 25:
            return [person(0.2 + 0.01 * i, 0.6 + jitter), cone]
        if i < 35:  # standing in front of the cone: one box, where the cone was
            return [person(0.5, 0.6, score=0.8)]
        return [person(0.5 + 0.01 * (i - 35), 0.6 + jitter), cone]

    tracker = Tracker(TrackerConfig())
    events = play(tracker, frames(scene, 60))
    assert [(e.type, e.track.id) for e in events] == [("new", 1)]
    walker = next(t for t in tracker.active() if t.id == 1)
    assert walker.box[0] > 0.6


def test_rows_marked_first_pick_before_cheaper_pairs_of_the_other_rows() -> None:
    """One assignment pass does both stages: the confirmed row 0 takes detection 0 although
    the tentative row 1 fits it better; row 1 gets what is left; equal costs go in row order."""
    cost = np.array([[0.3, 0.9, 0.5], [0.1, 0.2, 0.5]])
    allowed = np.array([[True, True, False], [True, True, True]])
    assert greedy_assign(cost, allowed, first=np.array([True, False])) == [(0, 0), (1, 1)]
    assert greedy_assign(cost, allowed, first=np.array([False, False])) == [(1, 0), (0, 1)]
    ties = np.full((2, 2), 0.5)
    assert greedy_assign(ties, np.ones((2, 2), bool), first=np.array([False, True])) == [(1, 0), (0, 1)]


def test_a_parked_car_makes_one_new_and_nothing_more_until_it_leaves() -> None:
    """Half an hour at 1 pass/s, scores wandering, one pass in five missed, and 10 s
    hidden behind a bus."""
    rng = random.Random(7)
    tracker = Tracker(TrackerConfig())

    def car(ts: float, cx: float = 0.7) -> Detection:
        jitter = rng.uniform(-0.003, 0.003)
        return vehicle(cx + jitter, 0.6 + jitter, 0.2, 0.12, rng.uniform(0.6, 0.75), "car")

    parked = [(float(t), [] if t % 5 == 4 or 900 <= t < 910 else [car(t)]) for t in range(1800)]
    events = play(tracker, parked)
    assert [e.type for e in events] == ["new"]
    leaving = [(1800 + k / FPS, [car(0, cx=0.7 + 0.03 * k)]) for k in range(12)]
    gone = [(1802 + k / FPS, []) for k in range(80)]
    events = play(tracker, leaving + gone)
    assert [e.type for e in events] == ["end"]
    assert events[0].track.id == 1


def test_a_parked_car_survives_a_motion_gate_running_the_detector_every_10_s() -> None:
    """With no motion, passes come 10 s apart: one missed pass must not end the car."""
    car = vehicle(0.3, 0.7, 0.2, 0.1, 0.66, "car")
    passes = [(10.0 * k, [] if k == 5 else [car]) for k in range(30)]
    events = play(Tracker(TrackerConfig()), [(k / FPS, [car]) for k in range(5)] + passes[1:])
    assert [e.type for e in events] == ["new"]


def test_a_one_frame_false_positive_makes_no_event() -> None:
    rng = random.Random(3)
    tracker = Tracker(TrackerConfig())

    def scene(i: int) -> list[Detection]:
        # A confident box now and then, each time somewhere else.
        return [person(rng.uniform(0.1, 0.9), rng.uniform(0.3, 0.9), score=0.9)] if i % 7 == 0 else []

    events = play(tracker, frames(scene, 300))
    assert events == []
    assert tracker.flush(30.0) == []


def test_duplicate_boxes_on_one_person_make_one_track() -> None:
    """The model often gives a person a full box, a torso box and a shifted box."""

    def scene(i: int) -> list[Detection]:
        full = person(0.3 + 0.005 * i, 0.7)
        x1, y1, x2, y2 = full.box
        torso = Detection("person", 0.7, (x1 + 0.005, y1 + 0.02, x2 - 0.005, y1 + 0.11))
        shifted = Detection("person", 0.65, (x1 + 0.01, y1 + 0.01, x2 + 0.01, y2 + 0.02))
        return [full, torso, shifted] if i % 2 else [shifted, torso, full]

    tracker = Tracker(TrackerConfig())
    events = play(tracker, frames(scene, 50))
    assert kinds(events) == {"new": 1}
    assert len(tracker.active()) == 1


def test_a_box_lying_half_on_a_tracked_person_starts_no_track() -> None:
    """Neither a duplicate by IoU nor nested, but more than half on the person: the
    model's second guess at the same body, not a second person."""

    def scene(i: int) -> list[Detection]:
        body = person(0.3 + 0.005 * i, 0.7)
        x1, y1, x2, y2 = body.box
        return [body, Detection("person", 0.7, (x1 + 0.035, y1, x2 + 0.035, y2))]

    events = play(Tracker(TrackerConfig()), frames(scene, 50))
    assert kinds(events) == {"new": 1}


def test_a_giant_box_around_a_crowd_does_not_hide_the_people_in_it() -> None:
    """The model now and then boxes the whole scene as one "person", scoring above
    the people themselves."""
    crowd = Detection("person", 0.68, (0.05, 0.1, 0.95, 0.85))

    def scene(i: int) -> list[Detection]:
        people = [person(x + 0.004 * i, 0.7, score=0.65) for x in (0.2, 0.4, 0.6)]
        return [*people, crowd] if i % 3 else people

    events = play(Tracker(TrackerConfig()), frames(scene, 60))
    assert kinds(events) == {"new": 3}
    assert all(e.track.box[2] - e.track.box[0] < 0.1 for e in events)


def test_each_object_keeps_its_own_label() -> None:
    """A motorbike (now and then seen as a bicycle), its rider (a box mostly inside the
    bike's), and a car beside them."""

    def scene(i: int) -> list[Detection]:
        x = 0.1 + 0.01 * i
        bike_label = "bicycle" if i % 4 == 0 else "motorcycle"
        return [
            Detection(bike_label, 0.7, (x - 0.06, 0.62, x + 0.06, 0.82)),
            Detection("person", 0.65, (x - 0.03, 0.6, x + 0.03, 0.76)),
            vehicle(x + 0.3, 0.7, 0.22, 0.15, 0.8, "car"),
        ]

    tracker = Tracker(TrackerConfig(update_interval=1.0))
    # Two detections confirm a motorbike: the first two passes see a "motorcycle" (a
    # tie would be a coin toss); the last pass sees a "bicycle".
    events = play(tracker, frames(scene, 40, start=1))
    assert sorted(e.track.label for e in events if e.type == "new") == ["car", "motorcycle", "person"]
    assert "update" not in kinds(events)  # the odd "bicycle" is outvoted, not reported
    assert sorted(t.label for t in tracker.active()) == ["car", "motorcycle", "person"]


def test_entering_a_zone_earns_one_update_no_sooner_than_update_interval() -> None:
    def zones_of(det: Detection) -> list[str]:
        return ["yard"] if det.foot[0] > 0.5 else []

    tracker = Tracker(TrackerConfig(update_interval=3.0), zones_of)
    events = play(tracker, frames(lambda i: [person(0.45 + 0.005 * i, 0.6)], 100))
    assert [e.type for e in events] == ["new", "update"]
    new, update = events
    assert new.track.zones == [] and update.track.zones == ["yard"]
    assert update.ts - new.ts >= 3.0
    assert update.track.id == new.track.id


def test_flush_ends_confirmed_tracks_only() -> None:
    tracker = Tracker(TrackerConfig())
    play(tracker, frames(lambda i: [person(0.3, 0.6 + 0.002 * i)], 10))
    tracker.update([person(0.3, 0.6 + 0.002 * 10), person(0.8, 0.8)], 1.0)  # a second, unconfirmed object
    assert len(tracker.active()) == 2
    events = tracker.flush(1.5)
    assert [(e.type, e.track.id) for e in events] == [("end", 1)]
    assert events[0].ts == 1.0
    assert tracker.active() == []


def test_a_person_who_never_moves_needs_a_high_score() -> None:
    """A cone scoring like a person, a guard standing still, a parked car: only the
    cone stays silent."""
    cone = person(0.2, 0.4, h=0.05, score=0.62)
    guard = person(0.5, 0.7, score=0.8)
    car = vehicle(0.8, 0.6, 0.15, 0.1, 0.62, "car")
    events = play(Tracker(TrackerConfig()), frames(lambda i: [cone, guard, car], 600))
    assert sorted(e.track.label for e in events) == ["car", "person"]
    assert all(e.track.box[3] > 0.6 for e in events)  # the guard, not the cone


def test_someone_walking_out_ends_soon_and_a_newcomer_there_gets_a_new_id() -> None:
    tracker = Tracker(TrackerConfig(end_after=5.0, exit_after=1.0))

    def scene(i: int) -> list[Detection]:
        if i < 30:  # walks out through the right border
            x = 0.75 + 0.01 * i
            return [Detection("person", 0.8, (x - 0.04, 0.4, min(x + 0.04, 1.0), 0.6))] if x < 1.0 else []
        if i >= 45:  # 1.5 s later, someone else comes in there
            x = 0.99 - 0.01 * (i - 45)
            return [Detection("person", 0.8, (x - 0.04, 0.4, min(x + 0.04, 1.0), 0.6))]
        return []

    events = play(tracker, frames(scene, 80))
    assert [e.type for e in events] == ["new", "end", "new"]
    first, end, second = events
    assert first.track.id == end.track.id != second.track.id
    assert end.ts < 2.5


def test_weak_detections_keep_a_track_alive_but_never_start_one() -> None:
    tracker = Tracker(TrackerConfig(seed_score=0.5, end_after=2.0))
    strong = frames(lambda i: [person(0.3 + 0.005 * i, 0.6, score=0.8)], 10)
    weak = frames(lambda i: [person(0.3 + 0.005 * i, 0.6, score=0.35)], 50, start=10)
    events = play(tracker, strong + weak)
    assert [e.type for e in events] == ["new"]  # 5 s of weak boxes outlast end_after
    assert [e.type for e in play(tracker, frames(lambda i: [], 40, start=60))] == ["end"]
    loner = Tracker(TrackerConfig(seed_score=0.5))
    assert play(loner, weak) == [] and loner.active() == []


def test_irregular_and_sparse_passes_still_follow_a_walker() -> None:
    """A motion gate or a slow Pi: passes 0.1 to 0.6 s apart."""
    rng = random.Random(11)
    ts, passes = 0.0, []
    while ts < 12.0:
        passes.append((ts, [person(0.1 + 0.06 * ts, 0.5 + 0.02 * ts, score=rng.uniform(0.6, 0.9))]))
        ts += rng.uniform(0.1, 0.6)
    tracker = Tracker(TrackerConfig())
    events = play(tracker, passes) + tracker.flush(ts)
    assert [e.type for e in events] == ["new", "end"]


def test_events_carry_snapshots() -> None:
    tracker = Tracker(TrackerConfig())
    events = play(tracker, frames(lambda i: [person(0.2 + 0.01 * i, 0.6)], 10))
    box_at_new = events[0].track.box
    events[0].track.zones.append("tampered")
    play(tracker, frames(lambda i: [person(0.2 + 0.01 * i, 0.6)], 10, start=10))
    (now,) = tracker.active()
    assert now.box != box_at_new and now.zones == []
    assert now.last_seen == pytest.approx(1.9)


def crossing_car(fps: float, seed: int, x: float = 0.4, down: bool = True) -> list[tuple[float, list[Detection]]]:
    """Seen from above, a car crosses the picture in 2.5 s (top to bottom, or up); the
    model finds it half of the time (0.2 s on, 0.2 s off), at scores around 0.5."""
    rng = random.Random(seed)
    phase = rng.randrange(2)
    passes = []
    for i in range(int(3.0 * fps)):
        t = i / fps
        cy = -0.1 + 1.2 * t / 2.5
        cy = cy if down else 1.0 - cy
        seen = 0.05 < cy < 0.95 and (int(i * 5 / fps + 1e-9) + phase) % 2 == 0
        passes.append((t, [vehicle(x, cy, 0.2, 0.3, rng.uniform(0.45, 0.65), "car")] if seen else []))
    return passes


@pytest.mark.parametrize("fps", [5.0, 12.5, 25.0])
@pytest.mark.parametrize("seed", range(4))
def test_a_car_crossing_in_2_5_s_seen_in_half_the_frames_is_one_object_at_any_frame_rate(fps: float, seed: int) -> None:
    tracker = Tracker(TrackerConfig())
    events = play(tracker, crossing_car(fps, seed))
    events += tracker.flush(3.0)
    assert kinds(events) == {"new": 1, "end": 1}


@pytest.mark.parametrize("seed", range(4))
def test_two_cars_passing_each_other_in_opposite_directions_keep_their_ids(seed: int) -> None:
    """Side by side, their boxes close but apart, each seen in half the frames at 12.5 fps."""
    down, up = crossing_car(12.5, seed, x=0.38), crossing_car(12.5, seed + 100, x=0.6, down=False)
    tracker = Tracker(TrackerConfig())
    events = play(tracker, [(t, a + b) for (t, a), (_, b) in zip(down, up, strict=True)])
    events += tracker.flush(3.0)
    assert kinds(events) == {"new": 2, "end": 2}
    for end in (e for e in events if e.type == "end"):
        new = next(e for e in events if e.type == "new" and e.track.id == end.track.id)
        # Each ends on the side of the picture it drove to: the one going down is at the bottom.
        went_down = end.track.box[1] > new.track.box[1]
        assert went_down == (new.track.box[0] < 0.45)


def test_settings_per_family_and_label_with_keys_for_all_objects() -> None:
    config = TrackerConfig.model_validate(
        {"end_after": 7.0, "vehicle": {"end_after": 9.0}, "labels": {"bus": {"confirm_hits": 4}}}
    )
    person, car, bus, motorbike = (config.rules(label) for label in ("person", "car", "bus", "motorcycle"))
    assert (person.end_after, car.end_after, bus.end_after, motorbike.end_after) == (7.0, 9.0, 9.0, 7.0)
    assert (person.confirm_hits, car.confirm_hits, bus.confirm_hits) == (3, 2, 4)
    assert person.still_score > car.still_score  # a parked car is real; a "person" that never walks may be a cone
    # The sections hold what applies (check-config shows them), and survive a round trip.
    assert config.labels["bus"] == bus and config.vehicle == car
    again = TrackerConfig.model_validate(config.model_dump())
    assert all(again.rules(label) == config.rules(label) for label in ("person", "car", "bus", "motorcycle"))


def test_old_pass_counted_settings_are_migrated_to_seconds() -> None:
    """`confirm_window` counted detector passes, at the camera's default 5 fps."""
    config = TrackerConfig.model_validate({"confirm_window": 5, "still_person_score": 0.8})
    assert config.rules("person").forget_after == pytest.approx(1.0)
    assert config.rules("person").still_score == 0.8
    assert config.rules("car").forget_after == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="confirm_window: got 0; expected a positive number of detector passes"):
        TrackerConfig.model_validate({"confirm_window": 0})


def test_a_parked_car_is_reported_at_a_score_that_would_not_do_for_a_still_person() -> None:
    car = vehicle(0.7, 0.6, 0.2, 0.12, 0.55, "car")
    cone = person(0.2, 0.4, h=0.05, score=0.55)
    events = play(Tracker(TrackerConfig()), frames(lambda i: [car, cone], 100))
    assert [e.track.label for e in events] == ["car"]


def test_a_tiny_still_look_alike_whose_box_jitters_by_its_own_size_is_not_reported() -> None:
    """A far cone: its box, a few pixels wide, lands a few pixels off every frame."""
    rng = random.Random(2)

    def scene(i: int) -> list[Detection]:
        return [person(0.2 + rng.uniform(-0.006, 0.006), 0.4 + rng.uniform(-0.006, 0.006), h=0.03, score=0.65)]

    assert play(Tracker(TrackerConfig()), frames(scene, 300)) == []


def test_a_car_scoring_mostly_below_seed_score_is_reported_on_its_strong_detections() -> None:
    """Seen from above, a car scores 0.3-0.45 in most frames and above 0.5 now and then:
    the weak detections follow it, the strong ones judge it."""

    def scene(i: int) -> list[Detection]:
        score = 0.55 if i % 5 == 0 else 0.3 + 0.05 * (i % 4)
        return [vehicle(0.4, 0.1 + 0.03 * i, 0.2, 0.3, score, "car")]

    tracker = Tracker(TrackerConfig())
    events = play(tracker, frames(scene, 25)) + tracker.flush(2.5)
    assert kinds(events) == {"new": 1, "end": 1}


@pytest.mark.parametrize("fps", [5.0, 12.5, 25.0])
def test_a_motorbike_crossing_the_picture_in_1_5_s_is_one_object(fps: float) -> None:
    """Small and fast: at 5 fps it moves more than its own size between two passes."""

    def scene(i: int) -> list[Detection]:
        x = -0.05 + 1.1 * i / fps / 1.5
        return [vehicle(x, 0.6, 0.08, 0.1, 0.6, "motorcycle")] if 0.04 < x < 0.96 else []

    tracker = Tracker(TrackerConfig())
    events = play(tracker, [(i / fps, scene(i)) for i in range(int(2 * fps))]) + tracker.flush(2.0)
    assert kinds(events) == {"new": 1, "end": 1}
