"""The motion gate on real footage: when the detector runs, and on which squares.

Frames are stamped with their time in the video (seq / fps) so that the gate's
intervals are scene seconds, independent of how fast this machine decodes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.config import MotionConfig
from agent.motion.background import MotionDetector
from agent.motion.gate import GateDecision, MotionGate
from agent.motion.regions import motion_regions
from tests.shared import QUIET, TREE, VTEST

LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
WHOLE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
JUMP = range(300, 303)  # quiet.mp4's +35 % exposure jump


def frames(video: Path, limit: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    seq = 0
    try:
        while limit is None or seq < limit:
            ok, image = cap.read()
            if not ok:
                break
            yield seq / fps, image
            seq += 1
    finally:
        cap.release()
    assert seq > 0, f"could not read {video}"


def decisions(gate: MotionGate, video: Path, tracks: int = 0, limit: int | None = None) -> list[GateDecision]:
    return [gate.check(image, ts, tracks) for ts, image in frames(video, limit)]


def detected(result: list[GateDecision]) -> int:
    return sum(d.detect for d in result)


def test_quiet_scene_detects_on_few_frames_and_absorbs_the_exposure_jump() -> None:
    result = decisions(MotionGate(MotionConfig(), []), QUIET)
    reasons = Counter(d.reason for d in result)
    assert len(result) == 600
    assert detected(result) <= 0.10 * len(result), reasons
    assert reasons["motion"] == 0, reasons  # noise and the slow light drift are not motion
    assert {result[i].reason for i in range(JUMP.start, JUMP.stop + 3)} <= {"recalibrate", "keepalive"}
    assert reasons["recalibrate"] >= 3
    assert max(d.ratio for d in result) > 0.5  # the jump is a real whole-frame change...


def test_without_recalibration_the_exposure_jump_is_a_motion_storm() -> None:
    """The counterpart of the test above: it shows what recalibration prevents."""
    gate = MotionGate(MotionConfig(recalibrate_ratio=1.0), [])
    result = decisions(gate, QUIET, limit=JUMP.stop + 10)
    assert all(result[i].reason == "motion" for i in JUMP)


def test_a_parked_car_is_rechecked_at_the_reduced_rate() -> None:
    config = MotionConfig()
    result = decisions(MotionGate(config, []), QUIET, tracks=1)
    assert detected(result) <= 0.10 * len(result)
    times = [i / 10 for i, d in enumerate(result) if d.detect]
    gaps = np.diff(times)
    # Every gap is the re-check interval rounded up to the next frame: the
    # tracker (end_after) never goes long without seeing its object.
    assert gaps.min() >= config.recheck - 1e-9
    assert gaps.max() <= config.recheck + 0.1 + 1e-9
    assert {d.reason for d in result[1:] if d.detect} == {"tracking"}


def test_people_walking_are_motion() -> None:
    result = decisions(MotionGate(MotionConfig(), []), VTEST, limit=300)
    moving = sum(d.reason == "motion" for d in result)
    assert moving >= 0.9 * len(result)
    assert all(0.0 < d.ratio < 0.5 for d in result[1:])


def test_a_mask_over_the_moving_area_suppresses_motion() -> None:
    result = decisions(MotionGate(MotionConfig(), [WHOLE]), VTEST, limit=200)
    assert not any(d.reason == "motion" for d in result)
    assert detected(result) <= 3  # start and keep-alive only


def test_motion_under_a_mask_is_ignored_and_elsewhere_kept() -> None:
    masked, plain = MotionDetector(MotionConfig(), [LEFT_HALF]), MotionDetector(MotionConfig(), [])
    left_masked = left_plain = right_masked = 0
    for ts, image in frames(VTEST, limit=200):
        half = image.shape[1] / 2
        centres = [x + w / 2 for x, _, w, _ in masked.measure(image, ts).boxes]
        left_masked += sum(c < half for c in centres)
        right_masked += sum(c >= half for c in centres)
        left_plain += sum(x + w / 2 < half for x, _, w, _ in plain.measure(image, ts).boxes)
    assert left_plain > 100  # people do walk on the left
    assert left_masked == 0
    assert right_masked > 100


def test_every_frame_and_disabled_gate_always_detect() -> None:
    for gate in (MotionGate(MotionConfig(), [], every_frame=True), MotionGate(MotionConfig(enabled=False), [])):
        result = decisions(gate, QUIET, limit=50)
        assert all(d.detect and d.reason == "always" for d in result)


def test_keepalive_fires_after_the_configured_time_without_motion() -> None:
    gate = MotionGate(MotionConfig(keepalive=2.0), [])
    _, image = next(frames(QUIET))
    # One still image at irregular times, as a camera behind a busy detector delivers them.
    times = [0.0, 0.3, 0.35, 1.2, 1.99, 2.05, 2.5, 3.9, 4.04, 4.1, 6.5, 6.6]
    result = {ts: gate.check(image, ts, 0) for ts in times}
    assert [ts for ts, d in result.items() if d.detect] == [0.0, 2.05, 4.1, 6.5]
    assert [result[ts].reason for ts in (0.0, 2.05, 4.1)] == ["start", "keepalive", "keepalive"]
    assert {d.reason for d in result.values() if not d.detect} == {"idle"}


# vtest.avi has people in 2-4 places at once: more places than squares allowed means the whole frame.
@pytest.mark.parametrize(("limit", "share"), [(1, 0.01), (3, 0.5)])
def test_regions_are_squares_of_the_model_size_inside_the_frame(limit: int, share: float) -> None:
    gate = MotionGate(MotionConfig(regions=limit), [], model_input=300)
    result = decisions(gate, VTEST, limit=150)
    with_regions = [d for d in result if d.regions]
    assert len(with_regions) >= share * len(result)
    for d in with_regions:
        assert d.reason == "motion" and len(d.regions) <= limit
        for r in d.regions:
            assert 300 <= r.size <= 576  # larger only for motion larger than the model's input
            assert r.x >= 0 and r.y >= 0 and r.x + r.size <= 768 and r.y + r.size <= 576


def test_regions_cover_the_motion_they_were_made_for() -> None:
    detector = MotionDetector(MotionConfig(), [])
    checked = 0
    for ts, image in frames(VTEST, limit=150):
        boxes = detector.measure(image, ts).boxes
        regions = motion_regions(boxes, (768, 576), 300, limit=4)
        for x, y, w, h in boxes if regions else []:
            assert any(r.x <= x and r.y <= y and x + w <= r.x + r.size and y + h <= r.y + r.size for r in regions)
            checked += 1
    assert checked > 300


def test_no_regions_when_the_frame_is_barely_larger_than_the_model_input() -> None:
    result = decisions(MotionGate(MotionConfig(regions=3), [], model_input=300), TREE)
    assert sum(d.reason == "motion" for d in result) > 30  # the tree does move...
    assert not any(d.regions for d in result)  # ...but a 240 px square is no sharper than the whole 320x240 frame


def test_a_new_resolution_restarts_the_background() -> None:
    gate = MotionGate(MotionConfig(), [])
    (_, big), (_, small) = next(frames(VTEST)), next(frames(TREE))
    assert gate.check(big, 0.0, 0).reason == "start"
    assert gate.check(big, 0.1, 0).reason == "idle"
    assert gate.check(small, 0.2, 0).reason == "start"  # the camera came back at another size


@pytest.fixture(scope="module")
def two_scenes() -> tuple[np.ndarray, np.ndarray]:
    """vtest.avi 30 s apart: the people stand elsewhere."""
    images = {seq: image for seq, (_, image) in enumerate(frames(VTEST, limit=301)) if seq in (0, 300)}
    return images[0], images[300]


def fade_time(scenes: tuple[np.ndarray, np.ndarray], fps: float, adapt_seconds: float) -> float:
    """Scene seconds until people who stopped moving are no longer motion."""
    before, people = scenes
    gate = MotionGate(MotionConfig(adapt_seconds=adapt_seconds, keepalive=3600), [])
    gate.check(before, 0.0, 0)
    for i in range(1, int(30 * fps)):
        ts = 1.0 + i / fps
        if gate.check(people, ts, 0).reason != "motion":
            return ts - 1.0 - 1 / fps
    return float("inf")


def test_objects_that_stop_fade_into_the_background_in_scene_time(two_scenes: tuple[np.ndarray, np.ndarray]) -> None:
    fast, slow = fade_time(two_scenes, 10.0, 2.0), fade_time(two_scenes, 2.5, 2.0)
    assert 1.0 < fast < 8.0
    assert abs(fast - slow) <= 0.5  # the same scene time whatever the frame rate
    assert fade_time(two_scenes, 10.0, 6.0) > 2 * fast
