"""Frames through OpenCV's FFmpeg/V4L2 backends: video files, RTSP/HTTP streams
and USB cameras."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cv2

from agent.capture.base import SourceError
from agent.frame import Frame
from agent.secrets import mask

log = logging.getLogger(__name__)

# OpenCV and its FFmpeg print their own lines for every failed open or read timeout; SourceError
# already says what went wrong, and a dead camera retried for days must not fill the SD card.
# FFmpeg reads its level when first used; OPENCV_FFMPEG_LOGLEVEL=32 brings its messages back for debugging.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

# Files without a usable frame rate in their header still need media time.
FALLBACK_FILE_FPS = 25.0
# Pacing this far behind (suspended, slow disk, slow decode) re-anchors instead of bursting to catch up.
MAX_PACING_LAG = 1.0


class OpenCVSource:
    """A file, a stream URL or a V4L2 device (an index or a /dev path).

    Files are paced at their own frame rate when `realtime` (as a camera would
    deliver them) and read as fast as possible otherwise (replay). Their frames
    carry media time (opening time + seq/fps), so replay at any speed gives the
    tracker the clip's own clock; live sources carry the time of capture."""

    def __init__(
        self,
        camera: str,
        target: str | int,
        realtime: bool = True,
        loop: bool = False,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
    ) -> None:
        self.camera = camera
        self.target = target
        self.realtime = realtime
        self.loop = loop
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.is_device = isinstance(target, int) or target.startswith("/dev/")
        self.is_file = not self.is_device and "://" not in str(target)
        self.fps: float | None = None
        self.frame_count = 0  # files: frames in the file as its header says (0 when unknown)
        self._cap: cv2.VideoCapture | None = None
        self._seq = 0
        self._opened_mono = 0.0
        self._opened_wall = 0.0
        self._pace_origin = 0.0

    def open(self) -> None:
        if self.is_file and not Path(str(self.target)).is_file():
            raise SourceError(f"no such file: {self.describe()}")  # perhaps a mistyped URL, with its password
        # Without these two, a silent or hung stream blocks open()/read() for ~30 s.
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout * 1000),
        ]  # fmt: skip
        # FFmpeg cannot open a V4L2 device by path without being told its format; the V4L2 backend can.
        backend = cv2.CAP_V4L2 if self.is_device else cv2.CAP_FFMPEG
        cap = cv2.VideoCapture(self.target, backend, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.describe()}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 240 else None
        if self.is_file and self.fps is None:
            log.warning("%s: no frame rate in the file, assuming %g fps", self.describe(), FALLBACK_FILE_FPS)
            self.fps = FALLBACK_FILE_FPS
        if self.is_file:
            self.frame_count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self._cap = cap
        self._seq = 0
        self._opened_mono, self._opened_wall = time.monotonic(), time.time()
        self._pace_origin = self._opened_mono

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"{self.describe()} is not open")
        ok, image = self._cap.read()
        if not ok and self.is_file and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        if not ok:
            if self.is_file:
                return None
            # After a server dies, isOpened() stays true: only a failed read tells.
            raise SourceError(f"no frame from {self.describe()} within {self.read_timeout:g} s")
        if self.is_file:
            offset = self._seq / (self.fps or FALLBACK_FILE_FPS)
            if self.realtime:
                self._pace(offset)
            mono, wall = self._opened_mono + offset, self._opened_wall + offset
        else:
            mono, wall = time.monotonic(), time.time()
        frame = Frame(self.camera, self._seq, mono, wall, image)
        self._seq += 1
        return frame

    def _pace(self, offset: float) -> None:
        delay = self._pace_origin + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -MAX_PACING_LAG:
            self._pace_origin = time.monotonic() - offset

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def describe(self) -> str:
        """The target without credentials, for logs and status."""
        return f"/dev/video{self.target}" if isinstance(self.target, int) else mask(self.target)
