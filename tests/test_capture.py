"""Frame sources on real files and the capture worker: latest frame only, end of file,
frozen streams, reconnect state. RTSP streams are in test_rtsp.py."""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.capture import SourceError, open_source
from agent.capture.opencv import OpenCVSource
from agent.capture.worker import CameraWorker
from agent.config import CameraConfig
from tests.broker import wait_until
from tests.shared import VTEST

VTEST_FPS = 10.0
DEADLINE = 20.0  # seconds to wait for a state: a limit for a broken build, not a measured time


def camera(source: str | Path, **settings: object) -> CameraConfig:
    return CameraConfig(id="cam", source=str(source), **settings)


def write_clip(path: Path, images: list[np.ndarray], fps: float = 20.0) -> Path:
    """An MJPEG AVI: every frame an intra frame, so repeated images decode bit-identical."""
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for image in images:
        writer.write(image)
    writer.release()
    return path


@pytest.fixture
def numbered_clip(tmp_path: Path) -> Path:
    """Five frames whose brightness tells which one it is (0, 50, ..., 200)."""
    return write_clip(tmp_path / "five.avi", [np.full((48, 64, 3), 50 * i, np.uint8) for i in range(5)])


@pytest.fixture
def still_clip(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return write_clip(tmp_path / "still.avi", [image] * 10)


def brightness(image: np.ndarray) -> int:
    return round(float(image.mean()) / 50)


def read_all(source: OpenCVSource, limit: int = 1000) -> list:
    frames = []
    source.open()
    try:
        while len(frames) < limit and (frame := source.read()) is not None:
            frames.append(frame)
    finally:
        source.close()
    return frames


# -- files -------------------------------------------------------------------------------


def test_file_frames_carry_media_time() -> None:
    frames = read_all(open_source(camera(VTEST), realtime=False), limit=30)
    assert [f.seq for f in frames] == list(range(30))
    assert frames[0].image.shape == (576, 768, 3)
    for f in frames:
        # Read as fast as possible, yet spaced by the clip's own frame rate: the tracker's clock.
        assert f.mono - frames[0].mono == pytest.approx(f.seq / VTEST_FPS)
        assert f.wall - frames[0].wall == pytest.approx(f.seq / VTEST_FPS)


def test_realtime_file_is_paced_and_replay_is_not() -> None:
    paced, fast = open_source(camera(VTEST), realtime=True), open_source(camera(VTEST), realtime=False)
    paced.open()
    fast.open()
    try:
        for _ in range(8):
            frame = paced.read()
            # Causality, not a duration: a paced frame is never handed out before its media time.
            assert time.monotonic() >= frame.mono
        ahead = []
        for _ in range(30):
            frame = fast.read()
            ahead.append(time.monotonic() < frame.mono)
        # Replay runs ahead of the clip's clock (30 frames are 3 s of video).
        assert ahead[-1]
    finally:
        paced.close()
        fast.close()


def test_file_ends(numbered_clip: Path) -> None:
    frames = read_all(open_source(camera(numbered_clip), realtime=False))
    assert [brightness(f.image) for f in frames] == [0, 1, 2, 3, 4]


def test_looping_file_keeps_counting(numbered_clip: Path) -> None:
    frames = read_all(open_source(camera(numbered_clip, loop=True), realtime=False), limit=12)
    assert [brightness(f.image) for f in frames] == [0, 1, 2, 3, 4] * 2 + [0, 1]
    assert [f.seq for f in frames] == list(range(12))
    assert all(b.mono > a.mono for a, b in pairwise(frames))


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(camera(tmp_path / "nope.mp4")).open()


@pytest.mark.parametrize(
    ("spec", "target"), [("usb:0", 0), ("usb:12", 12), ("/dev/video3", "/dev/video3")]
)  # fmt: skip
def test_usb_sources_go_to_v4l2(spec: str, target: object) -> None:
    source = open_source(camera(spec))
    assert isinstance(source, OpenCVSource)
    assert source.target == target
    assert source.is_device and not source.is_file


def test_missing_usb_camera_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="/dev/video63"):
        open_source(camera("usb:63")).open()


def test_read_timeout_never_exceeds_stall_timeout() -> None:
    source = open_source(camera("rtsp://127.0.0.1:9/x", read_timeout=30, stall_timeout=4))
    assert source.read_timeout == 4


def test_credentials_stay_out_of_descriptions() -> None:
    source = open_source(camera("rtsp://admin:s3cr@t@10.0.0.5:554/stream1"))
    assert source.describe() == "rtsp://***@10.0.0.5:554/stream1"


# -- worker ------------------------------------------------------------------------------


def test_slow_consumer_sees_only_the_latest_frame() -> None:
    worker = CameraWorker(camera(VTEST, loop=True), realtime=False)
    worker.start()
    try:
        frame = worker.wait_frame(-1, timeout=20)
        assert frame is not None
        seqs = [frame.seq]
        for _ in range(5):
            time.sleep(0.1)  # a consumer slower than the source
            read_before = worker.state()["frames"]
            frame = worker.latest(seqs[-1])
            assert frame is not None
            # No queue: what it gets is the newest frame, not the next one in line.
            assert frame.seq >= read_before - 1
            seqs.append(frame.seq)
        assert max(b - a for a, b in pairwise(seqs)) > 1
        assert worker.latest(worker.state()["frames"] + 5) is None
    finally:
        assert worker.stop()


def test_file_end_is_reported_and_frames_stay_readable(numbered_clip: Path) -> None:
    states: list[str] = []
    worker = CameraWorker(camera(numbered_clip), realtime=False, on_state=lambda _id, s: states.append(s["state"]))
    worker.start()
    assert wait_until(lambda: worker.state()["state"] == "ended", DEADLINE)
    last = worker.latest()
    assert last is not None and last.seq == 4 and brightness(last.image) == 4
    assert worker.wait_frame(last.seq, timeout=30) is None  # returns at once: nothing more will come
    assert states[0] == "connecting" and states[-1] == "ended"
    assert worker.stop()
    assert worker.state()["state"] == "ended"


def test_frozen_stream_counts_as_down(still_clip: Path) -> None:
    worker = CameraWorker(camera(still_clip, loop=True, stall_timeout=1.0), backoff_base=0.1, backoff_cap=0.5)
    worker.start()
    try:
        assert wait_until(lambda: worker.state()["state"] == "online", DEADLINE)
        assert wait_until(lambda: worker.state()["reconnects"] >= 2, DEADLINE)
        state = worker.state()
        assert "frozen" in state["last_error"]
        first = worker.latest()
        assert wait_until(lambda: (f := worker.latest()) is not None and f.seq > first.seq, DEADLINE)  # still counting
    finally:
        worker.stop()


def test_unreadable_camera_retries_without_crashing(tmp_path: Path) -> None:
    changes: list[dict] = []
    worker = CameraWorker(
        camera(tmp_path / "later.avi"), backoff_base=0.05, backoff_cap=0.2, on_state=lambda _id, s: changes.append(s)
    )
    worker.start()
    try:
        assert wait_until(lambda: worker.state()["state"] == "offline", DEADLINE)
        assert worker.latest() is None and worker.wait_frame(-1, timeout=0.1) is None
        state = worker.state()
        assert "no such file" in state["last_error"] and state["last_frame_age"] is None
        assert [c["state"] for c in changes[:2]] == ["connecting", "reconnecting"]
        # The file appears (a mount came back): the worker picks it up by itself.
        write_clip(tmp_path / "tmp.avi", [np.zeros((48, 64, 3), np.uint8)] * 3).rename(tmp_path / "later.avi")
        assert worker.wait_frame(-1, timeout=20) is not None
    finally:
        worker.stop()


def test_stop_wakes_waiters() -> None:
    worker = CameraWorker(camera("/nonexistent/clip.avi"), backoff_base=5, backoff_cap=5)
    worker.start()
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(worker.wait_frame(-1, timeout=60)))
    waiter.start()
    assert worker.stop(timeout=10)
    waiter.join(timeout=10)
    assert result == [None]
    assert worker.state()["state"] == "offline"
