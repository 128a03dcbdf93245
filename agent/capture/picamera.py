"""The Raspberry Pi camera through picamera2: detection on the small `lores` stream,
snapshots from the full-size `main` stream, both from one sensor configuration."""

from __future__ import annotations

import logging
import time
from typing import Any

import cv2
import numpy as np

from agent.capture.base import SourceError
from agent.config import CameraConfig
from agent.frame import Frame

log = logging.getLogger(__name__)

SNAPSHOT_WAIT = 2.0  # seconds a snapshot may wait for the next main-stream frame


class PiCameraSource:
    """A CSI camera. picamera2 is imported on open(): it exists only on Raspberry Pi OS."""

    def __init__(self, camera: CameraConfig, camera_num: int = 0, read_timeout: float = 10.0) -> None:
        self.camera = camera.id
        self.camera_num = camera_num
        self.settings = camera.picamera
        self.fps = camera.picamera.fps or camera.fps
        self.read_timeout = read_timeout
        self._picam: Any = None
        self._seq = 0

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError("picamera2 is not installed: apt install python3-picamera2") from exc
        try:
            self._picam = Picamera2(self.camera_num)
            self._picam.configure(self._configuration(self._picam))
            self._picam.start()
        except Exception as exc:  # libcamera reports a missing or busy camera with bare RuntimeErrors
            self.close()
            raise SourceError(f"cannot start {self.describe()}: {exc}") from exc
        self._seq = 0

    def _configuration(self, picam: Any) -> Any:
        frame_us = round(1_000_000 / self.fps)
        options: dict[str, Any] = {
            "main": {"size": tuple(self.settings.main_size), "format": "RGB888"},  # RGB888 is B,G,R in memory
            # Pi 4 and earlier can only give lores as YUV420; converting the small frame is cheap.
            "lores": {"size": tuple(self.settings.lores_size), "format": "YUV420"},
            "controls": {"FrameDurationLimits": (frame_us, frame_us)},
        }
        if self.settings.sensor_mode is not None:
            modes = picam.sensor_modes
            if self.settings.sensor_mode >= len(modes):
                raise SourceError(f"sensor_mode {self.settings.sensor_mode}: this camera has {len(modes)} modes")
            mode = modes[self.settings.sensor_mode]
            options["sensor"] = {"output_size": mode["size"], "bit_depth": mode["bit_depth"]}
        return picam.create_video_configuration(**options)

    def read(self) -> Frame | None:
        yuv = self._capture("lores", self.read_timeout)
        image = yuv420_to_bgr(yuv, tuple(self.settings.lores_size))
        frame = Frame(self.camera, self._seq, time.monotonic(), time.time(), image)
        self._seq += 1
        return frame

    def snapshot(self) -> np.ndarray:
        """The next frame of the main stream, full size, BGR. Called from another thread than
        read(), which picamera2 allows; waits briefly, as the caller serves other cameras too."""
        return self._capture("main", min(self.read_timeout, SNAPSHOT_WAIT))

    def _capture(self, stream: str, timeout: float) -> np.ndarray:
        picam = self._picam  # close() may run in the worker thread meanwhile: then the capture fails
        if picam is None:
            raise SourceError(f"{self.describe()} is not open")
        try:
            # A number as `wait` is a timeout: a camera that stops delivering must not hang the caller.
            return picam.capture_array(stream, wait=timeout)
        except TimeoutError as exc:
            raise SourceError(f"no frame from {self.describe()} within {timeout:g} s") from exc
        except Exception as exc:
            raise SourceError(f"{self.describe()} failed: {exc}") from exc

    def close(self) -> None:
        picam, self._picam = self._picam, None
        if picam is None:
            return
        for step in (picam.stop, picam.close):
            try:
                step()
            except Exception as exc:  # closing a failed camera must not hide the original error
                log.debug("%s: %s failed: %s", self.describe(), step.__name__, exc)

    def describe(self) -> str:
        return f"Pi camera {self.camera_num}"


def yuv420_to_bgr(yuv: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A BGR image of SIZE (width, height) from picamera2's YUV420 array.

    picamera2 returns planar YUV420 as a (height * 3/2, stride) array whose rows may be
    padded beyond the width; its U and V planes then use stride/2, which is exactly the
    layout of an I420 image `stride` pixels wide, so convert first and crop after."""
    width, height = size
    if yuv.ndim != 2 or yuv.shape[0] != height * 3 // 2 or yuv.shape[1] < width:
        raise SourceError(f"lores frame of shape {yuv.shape}, expected YUV420 for {width}x{height}")
    # libcamera's YUV420 is Y, then U, then V: I420. (OpenCV's COLOR_YUV420p2BGR is YV12, V before U,
    # and would swap the chroma: red comes out blue.)
    bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
    return bgr if bgr.shape[1] == width else np.ascontiguousarray(bgr[:, :width])
