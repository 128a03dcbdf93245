"""The spool on real disks: a small tmpfs mounted by the test (so run as root) that fills up,
is full, at the edge, read-only, and has room again; alone and inside the real agent; and a
spool path that names a directory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.uplink import spool as spool_module
from agent.uplink.spool import RESERVE_BYTES, Spool, SpoolError
from tests.agent_process import AgentProcess, spooled_ids
from tests.broker import Broker, Subscriber, wait_until
from tests.shared import MODEL, VTEST

MB = 1024 * 1024
CAPPED = "keeping the spool at its size"  # the line logged when a full disk caps the spool


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


def test_the_agent_lives_through_a_full_disk_and_delivers_the_backlog_when_space_returns(
    small_disk: Path, tmp_path: Path, brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber],
    agents: Callable[..., AgentProcess],
) -> None:  # fmt: skip
    """The real agent, its broker away and its disk filled: it keeps spooling (the oldest make room),
    stops cleanly, starts again on a disk with no byte free without taking the spool for damaged,
    and delivers everything it holds once there is room again and the broker is back."""
    broker = brokers().start()
    # A persistent session saved by a graceful stop: the broker queues the hub's events for this subscriber from
    # the moment it is back, however soon the hub reconnects.
    subscribers(broker.port, "test/#", client_id="watcher", persistent=True).close()
    broker.stop()  # the hub is cut off
    spool = small_disk / "spool.db"
    config = tmp_path / "hub.yaml"
    config.write_text(f"""\
hub_id: hub-d
mqtt: {{host: 127.0.0.1, port: {broker.port}, topic_prefix: test, stats_interval: 5}}
detector: {{model: {MODEL}}}
cameras: [{{id: street, source: {VTEST}, loop: true, fps: 10}}]
spool: {{path: {spool}}}
""")
    first = agents(config)
    assert wait_until(lambda: len(spooled_ids(spool)) >= 3, 60), first.stderr()
    fill(small_disk, "filler")
    before = spooled_ids(spool)
    assert wait_until(lambda: len(spooled_ids(spool) - before) >= 3 and CAPPED in first.stderr(), 60), (
        first.stderr()
    )
    assert first.stop() == 0

    fill(small_disk, "filler2")  # not a byte left
    assert free(small_disk) == 0
    second = agents(config)
    assert wait_until(lambda: "camera(s) started" in second.stderr() and CAPPED in second.stderr(), 60), (
        second.stderr()
    )
    assert second.process.poll() is None
    assert not list(small_disk.glob("*corrupt*")), "a full disk is not damage"

    (small_disk / "filler").unlink()
    (small_disk / "filler2").unlink()
    assert wait_until(lambda: "room again" in second.stderr(), 30), second.stderr()
    waiting = spooled_ids(spool)
    broker.start()
    sub = subscribers(broker.port, "test/#", client_id="watcher", persistent=True)

    def arrived(s: Subscriber) -> set[str]:
        return {m.json()["id"] for m in s.on("/street/events")}

    assert sub.wait_for(lambda s: waiting <= arrived(s), 60), f"missing: {waiting - arrived(sub)}"
    assert sub.wait_for(lambda s: any(m.json()["spool"]["state"] == "ok" for m in s.on("/stats")), 30)
    assert second.stop() == 0
    for agent in (first, second):
        assert "Traceback" not in agent.stderr()


def test_a_read_only_disk_is_waited_out_not_taken_for_damage(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_disk / "spool.db"
    spool = Spool(path, 100 * MB, 86400.0)
    stored: list[int] = []
    assert _put_all(spool, 20, stored) == 0
    spool.close()
    monkeypatch.setattr(spool_module, "REOPEN_S", 0.0)  # try to open it again at every call
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)  # as after errors on an SD card
    try:
        spool = Spool(path, 100 * MB, 86400.0)  # the agent starts on the read-only disk
        assert spool.moved_aside is None
        assert _put_all(spool, 5, stored) == 5
        assert spool.stats()["state"] == "unavailable" and spool.stats()["refused"] == 5
        assert spool.pending(10) == [] and spool.ack(stored) == 0 and spool.evict_expired() == 0
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert _put_all(spool, 5, stored) == 0  # writable again: back by itself
    assert sorted(r.id for r in spool.pending(100)) == stored
    assert not list(small_disk.glob("*corrupt*"))
    spool.close()


def test_run_refuses_a_spool_path_that_is_a_directory_and_moves_nothing(
    tmp_path: Path, agents: Callable[..., AgentProcess]
) -> None:
    state = tmp_path / "state"
    (state / "models").mkdir(parents=True)
    (state / "models" / "keep.tflite").write_bytes(b"model")
    config = tmp_path / "hub.yaml"
    config.write_text(f"""\
hub_id: hub-d
detector: {{model: {MODEL}}}
cameras: [{{id: street, source: {VTEST}}}]
spool: {{path: {state}}}
""")
    agent = agents(config)
    assert agent.process.wait(60) == 78
    assert f"{state} is a directory" in agent.stderr() and "Traceback" not in agent.stderr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.log", "hub.yaml", "state"]
    assert (state / "models" / "keep.tflite").read_bytes() == b"model"


def test_a_disk_too_full_for_the_reserve_caps_the_spool_before_it_fills(small_disk: Path) -> None:
    (small_disk / "other").write_bytes(b"\0" * (free(small_disk) - RESERVE_BYTES - 256 * 1024))
    spool = Spool(small_disk / "spool.db", 100 * MB, 86400.0)
    assert not Path(f"{small_disk / 'spool.db'}-reserve").exists()  # too little room to hold one
    stored: list[int] = []
    assert _put_all(spool, 1000, stored) == 0
    assert spool.stats()["state"] == "full" and free(small_disk) > 0  # capped while room was left
    fill(small_disk, "filler")
    assert _put_all(spool, 1000, stored) == 0  # the oldest make room, even with not a byte free
    stats = spool.stats()
    assert stats["refused"] == 0 and stats["depth"] + stats["evicted"] == len(stored)
    assert [r.id for r in spool.pending(5000)] == stored[-stats["depth"] :]

    (small_disk / "other").unlink()
    (small_disk / "filler").unlink()
    assert _put_all(spool, 10, stored) == 0
    assert spool.stats()["state"] == "ok"
    spool.close()
