"""One capture thread per camera: keeps only the newest frame, and keeps the camera
connected (reconnect with backoff, frozen-stream detection, a state for the status topic)."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from agent.capture import open_source
from agent.capture.base import FrameSource, SourceError
from agent.config import CameraConfig
from agent.frame import Frame

log = logging.getLogger(__name__)

StateCallback = Callable[[str, dict[str, Any]], None]

# After this many failed attempts in a row the camera is `offline` rather than `reconnecting`:
# a dashboard can then tell a dropped stream that comes back at once from a dead camera.
OFFLINE_AFTER_FAILURES = 3
# A stream that stayed up this long was healthy: its next failure starts the backoff afresh,
# while a camera that drops right after each connect keeps backing off.
STABLE_AFTER = 10.0
FPS_WINDOW = 32  # frames over which the capture rate is measured


class CameraWorker:
    """Reads one camera in a daemon thread and holds its latest frame.

    States: `connecting` (first attempt), `online` (frames arrive), `reconnecting`
    (lost, retrying), `offline` (several attempts in a row failed; still retrying),
    `ended` (a file that does not loop reached its end). Sequence numbers count every
    frame read since start(), across reconnects, so a consumer sees skipped frames as
    gaps in seq."""

    def __init__(
        self,
        camera: CameraConfig,
        realtime: bool = True,
        on_state: StateCallback | None = None,
        on_frame: Callable[[], None] | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
    ) -> None:
        self.camera = camera
        self.realtime = realtime
        self.on_state = on_state
        self.on_frame = on_frame
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: FrameSource | None = None
        self._latest: Frame | None = None
        self._seq = -1
        self._state = "offline"
        self._reconnects = 0
        self._failures = 0
        self._last_error: str | None = None
        self._online_since: float | None = None
        self._last_frame: float | None = None
        self._frame_times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._reported: tuple[Any, ...] = ()

    # -- consumer side -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"camera {self.camera.id}: worker already started")
        self._update("connecting")
        # A daemon thread: a read blocked on a hung camera must never keep the process alive.
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.camera.id}", daemon=True)
        self._thread.start()

    def latest(self, after_seq: int = -1) -> Frame | None:
        """The newest frame if its seq is above AFTER_SEQ, else None. Never blocks."""
        with self._cond:
            return self._newer(after_seq)

    def wait_frame(self, after_seq: int = -1, timeout: float | None = None) -> Frame | None:
        """Like latest(), but waits up to TIMEOUT for a newer frame; None at once when the
        source ended or the worker stopped."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._newer(after_seq) is not None or self._state == "ended" or self._stop.is_set(), timeout
            )
            return self._newer(after_seq)

    def snapshot(self) -> np.ndarray | None:
        """A full-size BGR image: the source's own snapshot (the Pi camera's main stream)
        where it has one, else the latest frame; None before the first frame."""
        source = self._source
        grab = getattr(source, "snapshot", None)
        if grab is not None:
            try:
                return grab()
            except SourceError as exc:
                log.debug("camera %s: source snapshot failed (%s), using the latest frame", self.camera.id, exc)
        frame = self.latest()
        return None if frame is None else frame.image

    def state(self) -> dict[str, Any]:
        """JSON-able status: state, reconnects (attempts after the first), frames, fps
        (measured capture rate), last_frame_age (s, None before the first frame), last_error."""
        with self._cond:
            return self._state_dict(time.monotonic())

    def stop(self, timeout: float = 5.0) -> bool:
        """Stops reading; True if the thread ended within TIMEOUT (it may be blocked in a
        read for up to the read timeout, and then ends by itself)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._state != "ended":
            self._update("offline", final=True)
        return self._thread is None or not self._thread.is_alive()

    def _newer(self, after_seq: int) -> Frame | None:
        frame = self._latest
        return frame if frame is not None and frame.seq > after_seq else None

    # -- capture thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            source = open_source(self.camera, self.realtime)
            try:
                source.open()
                self._source = source
                if self._pump(source):
                    self._update("ended")
                    return
            except Exception as exc:  # whatever a backend raises, the capture thread must survive it
                self._failed(exc)
            finally:
                self._source = None
                self._close(source)
            if self._stop.wait(self._backoff()):
                return
            self._update(reconnect=True)

    def _pump(self, source: FrameSource) -> bool:
        """Reads until the source fails (raises) or the worker stops; True if the file ended."""
        fingerprint, changed = None, time.monotonic()
        while not self._stop.is_set():
            frame = source.read()
            if frame is None:
                return True
            now = time.monotonic()
            # A dead sensor or a stuck encoder can repeat one image forever while the stream looks alive;
            # a no-frame stall needs no check here: reads time out within stall_timeout (see open_source).
            mark = _fingerprint(frame.image)
            if mark != fingerprint:
                fingerprint, changed = mark, now
            elif now - changed > self.camera.stall_timeout:
                raise SourceError(f"frozen: the same image for {self.camera.stall_timeout:g} s")
            self._publish(frame, now)
        return False

    def _publish(self, frame: Frame, now: float) -> None:
        with self._cond:
            self._seq += 1
            self._latest = dataclasses.replace(frame, seq=self._seq)
            self._last_frame = now
            self._frame_times.append(now)
            self._cond.notify_all()
            went_online = self._state != "online"
            if went_online:
                self._online_since = now
        if self.on_frame is not None:
            self.on_frame()  # wakes the consumer instead of making it poll
        if went_online:
            self._update("online")

    def _failed(self, exc: BaseException) -> None:
        # Kept as it is: the log handler and the uplink mask secrets in whatever leaves the hub.
        message = str(exc) or type(exc).__name__
        now = time.monotonic()
        with self._cond:
            if self._online_since is not None and now - self._online_since >= STABLE_AFTER:
                self._failures = 0
            self._failures += 1
            self._online_since = None
            self._frame_times.clear()  # the next rate is measured on the next connection only
            state = "offline" if self._failures >= OFFLINE_AFTER_FAILURES else "reconnecting"
            news = (state, message) != (self._state, self._last_error)
            self._last_error = message
        # The same failure over and over (a dead camera, for days) goes to debug: logs live on an SD card.
        log.log(
            logging.WARNING if news else logging.DEBUG,
            "camera %s %s: %s",
            self.camera.id,
            state,
            message,
            extra={"camera": self.camera.id},
        )
        self._update(state, quiet=True)

    def _backoff(self) -> float:
        """Exponential in the failures in a row, capped; jitter keeps many cameras behind
        one rebooted switch from reconnecting in lockstep."""
        delay = min(self.backoff_cap, self.backoff_base * 2 ** min(self._failures - 1, 30))
        return delay * random.uniform(0.5, 1.0)

    def _close(self, source: FrameSource) -> None:
        try:
            source.close()
        except Exception as exc:
            log.debug("camera %s: close failed: %s", self.camera.id, exc)

    # -- state -----------------------------------------------------------------------------

    def _update(
        self, state: str | None = None, reconnect: bool = False, final: bool = False, quiet: bool = False
    ) -> None:
        """Records STATE (and one more reconnect attempt) and calls on_state when what
        the status topic shows changed. QUIET: the caller already logged the change."""
        with self._cond:
            if self._stop.is_set() and not final:
                return  # a read that returned after stop() must not overwrite the final state
            previous = self._state
            state = self._state = state or previous
            self._reconnects += reconnect
            self._cond.notify_all()  # wait_frame() returns at once on `ended`
            key = (self._state, self._reconnects, self._last_error)
            if key == self._reported:
                return
            self._reported = key
            snapshot = self._state_dict(time.monotonic())
        if state != previous and not quiet:
            log.info("camera %s: %s", self.camera.id, state, extra={"camera": self.camera.id})
        if self.on_state is not None:
            try:
                self.on_state(self.camera.id, snapshot)
            except Exception:
                log.exception("camera %s: on_state callback failed", self.camera.id)

    def _state_dict(self, now: float) -> dict[str, Any]:
        times = self._frame_times
        fps = (len(times) - 1) / (now - times[0]) if self._state == "online" and len(times) > 1 else 0.0
        return {
            "state": self._state,
            "reconnects": self._reconnects,
            "frames": self._seq + 1,
            "fps": round(fps, 2),
            "last_frame_age": None if self._last_frame is None else round(now - self._last_frame, 2),
            "last_error": self._last_error,
        }


def _fingerprint(image: np.ndarray) -> int:
    """A cheap hash of a subsampled copy: equal for repeated images, and sensor noise
    makes it differ for a live scene, however still."""
    step = max(1, image.shape[1] // 160)
    return zlib.crc32(np.ascontiguousarray(image[::step, ::step]))
