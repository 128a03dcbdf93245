"""Readings of the hub itself for the stats topic: CPU, memory, disk,
temperature and (on a Raspberry Pi) under-voltage/throttling. Each reading is
omitted where the hardware has no such sensor."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

_THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
# Exposed by the Raspberry Pi firmware driver on recent kernels; same bits as `vcgencmd get_throttled`.
_THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")


class SystemMeter:
    """CPU % is measured between two calls, so each stats message covers its own interval.
    Megabytes are whole: a tenth of one is noise that costs bytes every minute."""

    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path
        self._last = (time.monotonic(), _cpu_seconds())

    def read(self) -> dict[str, Any]:
        now, cpu = time.monotonic(), _cpu_seconds()
        elapsed = now - self._last[0]
        percent = 100.0 * (cpu - self._last[1]) / elapsed if elapsed > 0 else 0.0
        self._last = (now, cpu)
        out: dict[str, Any] = {
            "cpu_pct": round(percent, 1),
            "load1": round(os.getloadavg()[0], 2),
            "rss_mb": round(_rss_bytes() / 2**20),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        available = _meminfo("MemAvailable")
        if available is not None:
            out["mem_available_mb"] = round(available / 2**20)
        with contextlib.suppress(OSError):
            out["disk_free_mb"] = round(shutil.disk_usage(_existing(self.disk_path)).free / 2**20)
        temp = _read_int(_THERMAL)
        if temp is not None:
            out["temp_c"] = round(temp / 1000, 1)
        throttled = _read_int(_THROTTLED, base=16)
        if throttled is not None:
            out["throttled"] = hex(throttled)
        return out


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _rss_bytes() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _meminfo(key: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _read_int(path: Path, base: int = 10) -> int | None:
    try:
        return int(path.read_text().strip(), base)
    except (OSError, ValueError):
        return None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
