"""Whether the wall clock can be believed. A Raspberry Pi has no real-time clock:
until NTP has set it, the time is 1970 or the moment of the last shutdown.

The kernel knows: every NTP client (systemd-timesyncd, chrony, ntpd) lowers
its maximum-error estimate when it disciplines the clock, and the estimate sits
at 16 s until then. This is what `timedatectl` shows as "System clock
synchronized". Once seen synchronised, the clock is believed for the rest of
the run: a lost network lets the estimate grow back to 16 s after ~9 hours,
while the clock itself drifts only seconds a day."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

UNSYNCHRONISED_US = 16_000_000  # the kernel's maximum error (µs) of a clock nobody has set
_LIBC = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: the C library's adjtimex


class _Timex(ctypes.Structure):
    # The head of `struct timex` (adjtimex(2)); the rest is room for the kernel to fill.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    )


def kernel_synchronised() -> bool:
    """adjtimex(2) with no mode set only reads, and needs no privilege."""
    timex = _Timex()
    if _LIBC.adjtimex(ctypes.byref(timex)) < 0:
        return False
    return timex.maxerror < UNSYNCHRONISED_US


class WallClock:
    def __init__(self, probe: Callable[[], bool] = kernel_synchronised) -> None:
        self._probe = probe
        self._trusted = False

    def trusted(self) -> bool:
        if not self._trusted:
            self._trusted = self._probe()
        return self._trusted
