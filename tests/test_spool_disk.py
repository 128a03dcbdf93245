"""The spool on a real, small, full filesystem (a tmpfs mounted by the test, so run as root):
full, at the edge, and back when space returns; alone and inside the real agent."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.uplink import spool as spool_module
from agent.uplink.spool import RESERVE_BYTES, Spool, SpoolError

MB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path, name: str) -> Path:
    """Take every free byte of DIRECTORY's filesystem with one file."""
    filler = directory / name
    with filler.open("ab", buffering=0) as f:
        for chunk in (65536, 4096, 512):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


def free(directory: Path) -> int:
    fs = os.statvfs(directory)
    return fs.f_bavail * fs.f_frsize


def _put_all(spool: Spool, n: int, stored: list[int]) -> int:
    """Put N events of 2 KB; returns how many were refused (SpoolError, nothing else)."""
    refused = 0
    for i in range(n):
        try:
            stored.append(spool.put("hub/cam/events", b'{"n":%d}' % i + b" " * 2000))
        except SpoolError:
            refused += 1
    return refused


def test_a_full_disk_evicts_the_oldest_refuses_when_no_room_and_recovers(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_disk / "spool.db"
    spool = Spool(path, 100 * MB, 86400.0)
    stored: list[int] = []
    assert _put_all(spool, 100, stored) == 0

    fill(small_disk, "filler")  # something else takes the whole disk
    assert _put_all(spool, 2000, stored) == 0  # at the edge: the oldest make room for the newest
    stats = spool.stats()
    assert stats["state"] == "full" and stats["refused"] == 0
    assert stats["evicted"] > 0 and stats["depth"] + stats["evicted"] == len(stored)
    assert [r.id for r in spool.pending(5000)] == stored[-stats["depth"] :]  # the newest are kept
    evicted = stats["evicted"]
    spool.close()

    fill(small_disk, "filler2")  # ...and then what the spool had freed, too
    monkeypatch.setattr(spool_module, "REOPEN_S", 0.0)  # try to open it again at every put
    spool = Spool(path, 100 * MB, 86400.0)  # a restart on the full disk: nothing taken for damage
    assert spool.moved_aside is None
    assert _put_all(spool, 50, stored) == 50  # no room to open it: refused, counted, never raised otherwise
    assert spool.stats()["refused"] == 50 and spool.stats()["state"] == "unavailable"
    assert list(small_disk.glob("*corrupt*")) == []

    (small_disk / "filler").unlink()  # space returns
    (small_disk / "filler2").unlink()
    assert _put_all(spool, 50, stored) == 0
    stats = spool.stats()
    assert stats["state"] == "ok", stats
    assert stats["depth"] + stats["evicted"] + evicted == len(stored)
    assert Path(f"{path}-reserve").stat().st_size == RESERVE_BYTES
    waiting = sorted(r.id for r in spool.pending(5000))
    assert waiting == stored[-len(waiting) :] and stored[-50:] == waiting[-50:]
    assert spool.ack(waiting) == len(waiting)  # every stored event can be delivered
    assert spool.stats()["depth"] == 0
    spool.close()
