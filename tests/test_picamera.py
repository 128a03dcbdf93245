"""The Pi camera source against a stand-in for the `picamera2` module (the hardware is
not here): the configuration it asks for, lores vs main, YUV420 conversion, errors."""

from __future__ import annotations

import sys
import time
import types
from typing import Any

import cv2
import numpy as np
import pytest

from agent.capture import SourceError, open_source
from agent.capture.picamera import PiCameraSource
from agent.capture.worker import CameraWorker
from agent.config import CameraConfig
from tests.broker import wait_until

DEADLINE = 20.0
SENSOR_MODES = [{"size": (1640, 1232), "bit_depth": 10}, {"size": (3280, 2464), "bit_depth": 10}]


def blocks(width: int, height: int) -> np.ndarray:
    """Four flat colour blocks (edges on even pixels, so 4:2:0 chroma keeps them exact)."""
    image = np.zeros((height, width, 3), np.uint8)
    half_w, half_h = width // 4 * 2, height // 4 * 2
    image[:half_h, :half_w] = (0, 0, 220)  # BGR: red
    image[:half_h, half_w:] = (220, 0, 0)  # blue
    image[half_h:, :half_w] = (0, 200, 0)  # green
    image[half_h:, half_w:] = (128, 128, 128)
    return image


def as_picamera_yuv420(image: np.ndarray, stride: int) -> np.ndarray:
    """What picamera2 returns for a YUV420 stream: planes with rows padded to the stride,
    shown as a (height * 3/2, stride) array."""
    height, width = image.shape[:2]
    i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).ravel()
    y, u, v = np.split(i420, [width * height, width * height * 5 // 4])
    planes = [
        np.pad(y.reshape(height, width), ((0, 0), (0, stride - width))),
        np.pad(u.reshape(height // 2, width // 2), ((0, 0), (0, (stride - width) // 2))),
        np.pad(v.reshape(height // 2, width // 2), ((0, 0), (0, (stride - width) // 2))),
    ]
    return np.concatenate([p.ravel() for p in planes]).reshape(height * 3 // 2, stride)


class FakePicamera2:
    """Records what the source asks for and answers like picamera2 on a Pi 4."""

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.sensor_modes = SENSOR_MODES
        self.calls: list[tuple[Any, ...]] = []
        self.config: dict[str, Any] = {}
        self.fail_capture: Exception | None = None
        FAKE.instances.append(self)
        if FAKE.fail_open is not None:
            raise FAKE.fail_open

    def create_video_configuration(self, **options: Any) -> dict[str, Any]:
        self.calls.append(("create_video_configuration", options))
        return {"use_case": "video", **options}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append(("configure",))
        self.config = config

    def start(self) -> None:
        self.calls.append(("start",))

    def capture_array(self, name: str = "main", wait: Any = None) -> np.ndarray:
        self.calls.append(("capture_array", name, wait))
        if self.fail_capture is not None:
            raise self.fail_capture
        time.sleep(0.005)  # a camera delivers at its frame rate: keep a worker from spinning
        width, height = self.config[name]["size"]
        image = blocks(width, height)
        if self.config[name]["format"] == "YUV420":
            return as_picamera_yuv420(image, stride=(width + 63) // 64 * 64)  # rows padded to 64 bytes
        return image  # "RGB888" is B, G, R in memory

    def stop(self) -> None:
        self.calls.append(("stop",))

    def close(self) -> None:
        self.calls.append(("close",))


FAKE = types.SimpleNamespace(instances=[], fail_open=None)


@pytest.fixture(autouse=True)
def picamera2(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Installs the stand-in as the `picamera2` module; FAKE.instances lists the cameras made."""
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    monkeypatch.setattr(FAKE, "instances", [])
    monkeypatch.setattr(FAKE, "fail_open", None)
    return FAKE


def pi_camera(**picamera: Any) -> CameraConfig:
    return CameraConfig(id="yard", source="picamera", fps=5, picamera=picamera)


def opened(**picamera: Any) -> tuple[PiCameraSource, FakePicamera2]:
    source = PiCameraSource(pi_camera(**picamera), read_timeout=3.0)
    source.open()
    return source, FAKE.instances[-1]


def test_configuration_from_the_config() -> None:
    _, cam = opened(main_size=[1280, 720], lores_size=[320, 240], sensor_mode=1)
    name, options = cam.calls[0]
    assert name == "create_video_configuration"
    assert options["main"] == {"size": (1280, 720), "format": "RGB888"}
    assert options["lores"] == {"size": (320, 240), "format": "YUV420"}
    assert options["controls"] == {"FrameDurationLimits": (200_000, 200_000)}  # the camera's 5 fps
    assert options["sensor"] == {"output_size": (3280, 2464), "bit_depth": 10}
    assert [c[0] for c in cam.calls[1:]] == ["configure", "start"]


def test_sensor_rate_and_mode_defaults() -> None:
    _, cam = opened(fps=20)
    options = cam.calls[0][1]
    assert options["controls"] == {"FrameDurationLimits": (50_000, 50_000)}
    assert "sensor" not in options  # libcamera chooses


def test_read_gives_the_lores_stream_as_bgr() -> None:
    source, cam = opened(lores_size=[600, 480])  # 600 is padded to a 640-byte stride
    first, second = source.read(), source.read()
    assert cam.calls[-1] == ("capture_array", "lores", 3.0)
    assert (first.camera, first.seq, second.seq) == ("yard", 0, 1)
    assert first.image.shape == (480, 600, 3) and first.image.flags.c_contiguous
    error = np.abs(first.image.astype(int) - blocks(600, 480).astype(int))
    assert error.max() <= 4  # YUV rounding only: no colour swap, no shear from the stride


def test_snapshot_is_the_main_stream() -> None:
    source, cam = opened(main_size=[1640, 1232], lores_size=[640, 480])
    image = source.snapshot()
    assert cam.calls[-1] == ("capture_array", "main", 2.0)  # a short wait: the caller serves other cameras
    assert image.shape == (1232, 1640, 3)
    assert np.array_equal(image, blocks(1640, 1232))


def test_missing_picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # what an x86 box without it gives
    with pytest.raises(SourceError, match=r"picamera2 is not installed: apt install python3-picamera2"):
        PiCameraSource(pi_camera()).open()


def test_camera_that_cannot_start() -> None:
    FAKE.fail_open = RuntimeError("Camera __init__ sequence did not complete.")
    with pytest.raises(SourceError, match=r"cannot start Pi camera 0: Camera __init__"):
        PiCameraSource(pi_camera()).open()


def test_unknown_sensor_mode_releases_the_camera() -> None:
    with pytest.raises(SourceError, match=r"sensor_mode 5: this camera has 2 modes"):
        opened(sensor_mode=5)
    assert [c[0] for c in FAKE.instances[-1].calls] == ["stop", "close"]


def test_capture_timeout_and_close() -> None:
    source, cam = opened()
    cam.fail_capture = TimeoutError()
    with pytest.raises(SourceError, match=r"no frame from Pi camera 0 within 3 s"):
        source.read()
    source.close()
    assert [c[0] for c in cam.calls[-2:]] == ["stop", "close"]
    with pytest.raises(SourceError, match="not open"):
        source.read()


def test_open_source_picks_the_camera_number() -> None:
    source = open_source(CameraConfig(id="yard", source="picamera:1", read_timeout=30, stall_timeout=6))
    assert isinstance(source, PiCameraSource)
    assert (source.camera_num, source.read_timeout) == (1, 6)


def test_worker_snapshots_come_from_the_main_stream() -> None:
    worker = CameraWorker(pi_camera(main_size=[1280, 720], lores_size=[320, 240]))
    worker.start()
    try:
        frame = worker.wait_frame(-1, timeout=20)
        assert frame is not None and frame.image.shape == (240, 320, 3)
        assert wait_until(lambda: worker.state()["state"] == "online", DEADLINE)
        snapshot = worker.snapshot()
        assert snapshot is not None and snapshot.shape == (720, 1280, 3)
    finally:
        worker.stop()
