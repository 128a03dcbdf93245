"""systemd service-manager integration: the sd_notify protocol and a progress-gated watchdog.

The protocol is a few newline-separated KEY=VALUE lines sent as one datagram to the AF_UNIX socket named in
NOTIFY_SOCKET, so it is written here directly rather than pulling in a dependency. Outside systemd (NOTIFY_SOCKET
unset) every call is a no-op, so the daemon can call it unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def _socket_address(raw: str) -> str | bytes | None:
    if raw.startswith("@"):
        # Abstract namespace: a leading NUL instead of '@', no filesystem entry.
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None  # vsock and other schemes are not used on a camera hub


class Notifier:
    """Sends state changes to systemd. Thread-safe; never raises on send failure (logged once at debug)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _watchdog_usec(env)
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, message: str) -> bool:
        """Send raw KEY=VALUE lines; returns whether the datagram was sent."""
        if self._address is None:
            return False
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(message.encode(), socket.MSG_DONTWAIT, self._address)
            except OSError as exc:
                # systemd gone (shutdown) or socket full: the service keeps running regardless.
                log.debug("sd_notify %r failed: %s", message.split("=", 1)[0], exc)
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def reloading(self) -> bool:
        # systemd >= 253 (Type=notify-reload) needs MONOTONIC_USEC to match the reload to this message;
        # older versions ignore the unknown key. Follow up with ready() once the new config is live.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def watchdog_timeout(self) -> float | None:
        """The WatchdogSec= timeout in seconds, or None when systemd expects no pings from this process."""
        return None if self._watchdog_usec is None else self._watchdog_usec / 1e6

    def watchdog_interval(self) -> float | None:
        """How often to ping: half the timeout, as sd_watchdog_enabled(3) recommends."""
        timeout = self.watchdog_timeout()
        return None if timeout is None else timeout / 2

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    # WATCHDOG_PID names the process systemd watches; a child that inherited the variables must stay silent.
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec


def _one_line(text: str) -> str:
    return " ".join(text.split())


class ProgressWatchdog:
    """Pings the systemd watchdog only while the pipeline advances, so systemd restarts a hung pipeline.

    The daemon calls progress() whenever work completes (a frame processed) and also when it is legitimately
    idle (every camera reconnecting is not a hang). Pings are sent by a background thread started with start(),
    or by calling tick() from the daemon's own loop.
    """

    def __init__(
        self,
        notifier: Notifier,
        max_stall: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notifier = notifier
        self._interval = notifier.watchdog_interval()
        timeout = notifier.watchdog_timeout()
        self._max_stall = max_stall if max_stall is not None else timeout
        self._clock = clock
        self._last_progress = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stalled = False

    @property
    def enabled(self) -> bool:
        return self._notifier.enabled and self._interval is not None

    def progress(self) -> None:
        now = self._clock()
        with self._lock:
            self._last_progress = now

    def tick(self) -> bool:
        """Send WATCHDOG=1 if progress was made within max_stall; returns whether it pinged."""
        if not self.enabled or self._max_stall is None:
            return False
        with self._lock:
            stalled_for = self._clock() - self._last_progress
        if stalled_for > self._max_stall:
            if not self._stalled:
                log.error("pipeline made no progress for %.1f s; withholding watchdog pings", stalled_for)
                self._stalled = True
            return False
        self._stalled = False
        return self._notifier.watchdog()

    def start(self) -> None:
        if not self._notifier.enabled or self._interval is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(self._interval,), name="sd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(interval)
