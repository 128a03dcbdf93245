"""Frame sources: files, streams and USB cameras through OpenCV; the Pi camera through picamera2."""

from __future__ import annotations

import re

from agent.capture.base import FrameSource, SourceError
from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig

__all__ = ["FrameSource", "SourceError", "open_source"]


def open_source(camera: CameraConfig, realtime: bool = True) -> FrameSource:
    """The frame source that CAMERA's `source` names (not yet opened)."""
    source = camera.source.strip()
    # A read blocked longer than stall_timeout is pointless: the camera already counts as down by then.
    read_timeout = min(camera.read_timeout, camera.stall_timeout)
    pi = re.fullmatch(r"picamera(?::(\d+))?", source)
    if pi:
        from agent.capture.picamera import PiCameraSource  # picamera2 exists only on Raspberry Pi OS

        return PiCameraSource(camera, camera_num=int(pi.group(1) or 0), read_timeout=read_timeout)
    usb = re.fullmatch(r"usb:(\d+)", source)
    target: str | int = int(usb.group(1)) if usb else source
    return OpenCVSource(
        camera.id,
        target,
        realtime=realtime,
        loop=camera.loop,
        open_timeout=camera.open_timeout,
        read_timeout=read_timeout,
    )
