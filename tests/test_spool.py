"""The durable spool on its own: order, acks, holds, bounds, damage, salvage, its path and SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.errors import SpoolPathError
from agent.uplink.spool import PROBE_GRACE_S, ROW_OVERHEAD, Spool, check_spool_path
from tests.shared import REPO

MB = 1024 * 1024


def _spool(tmp_path: Path, **kw: float) -> Spool:
    return Spool(tmp_path / "spool.db", int(kw.get("max_bytes", 10 * MB)), kw.get("max_age_s", 86400.0))


def test_put_pending_ack_keep_order(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    ids = [spool.put(f"t/{i % 2}", f"e{i}".encode()) for i in range(6)]
    assert ids == sorted(ids)
    rows = spool.pending(10)
    assert [r.id for r in rows] == ids
    assert [r.payload for r in rows] == [f"e{i}".encode() for i in range(6)]
    assert not any(r.historical for r in rows)
    assert spool.ack([ids[0], ids[2], 999_999]) == 2
    assert [r.id for r in spool.pending(10)] == [ids[1], ids[3], ids[4], ids[5]]
    assert spool.stats()["depth"] == 4
    spool.close()


def test_pending_skips_in_flight_and_serves_live_before_backlog(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    backlog = [spool.put("t", b"old", historical=True) for _ in range(5)]
    live = [spool.put("t", b"new") for _ in range(3)]
    rows = spool.pending(4)
    assert [r.id for r in rows] == [*live, backlog[0]]
    assert [r.historical for r in rows] == [False, False, False, True]
    rows = spool.pending(4, exclude=[*live, backlog[0]])
    assert [r.id for r in rows] == backlog[1:5]
    spool.close()


def test_rows_of_an_earlier_run_are_historical_and_bytes_survive(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    first = [spool.put("t", b"x" * 100) for _ in range(3)]
    before = spool.stats()
    spool.close()
    spool = _spool(tmp_path)
    later = spool.put("t", b"y")
    rows = spool.pending(10)
    assert [(r.id, r.historical) for r in rows] == [(later, False), *((i, True) for i in first)]
    assert later > max(first)
    assert spool.stats()["bytes"] == before["bytes"] + len("t") + 1 + ROW_OVERHEAD
    spool.close()


def test_size_bound_evicts_oldest_and_counts(tmp_path: Path) -> None:
    per_row = len("t") + 200 + ROW_OVERHEAD
    spool = _spool(tmp_path, max_bytes=50 * per_row)
    ids = [spool.put("t", b"p" * 200) for _ in range(120)]
    stats = spool.stats()
    assert stats["bytes"] <= 50 * per_row
    assert stats["depth"] + stats["evicted"] == 120
    assert stats["evicted"] >= 70
    remaining = [r.id for r in spool.pending(200)]
    assert remaining == ids[-len(remaining) :]  # the newest are kept
    spool.close()


def test_age_bound_evicts_from_the_front_and_ignores_unset_clocks(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_age_s=1000.0)
    ids = [spool.put("t", b"e") for _ in range(5)]
    assert spool.evict_expired() == 0
    with sqlite3.connect(tmp_path / "spool.db") as db:  # age the first rows as if made long ago
        db.execute("UPDATE events SET created = created - 5000 WHERE id IN (?, ?)", ids[:2])
        db.execute("UPDATE events SET created = 100.0 WHERE id = ?", (ids[2],))  # a Pi before NTP
    assert spool.evict_expired() == 2
    assert [r.id for r in spool.pending(10)] == ids[2:]
    assert spool.stats()["evicted"] == 2
    assert spool.stats()["oldest_age_s"] > 1000  # the unset-clock row is reported, not dropped
    spool.close()


def test_a_refused_topic_is_held_then_probed_with_one_row_then_released(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    denied = [spool.put("denied", f"d{i}".encode()) for i in range(3)]
    other = spool.put("other", b"o")
    now = time.time()
    assert spool.hold_topic("denied", now + 60) == 3
    late = spool.put("denied", b"made while refused", hold_until=now + 60)
    assert [r.id for r in spool.pending(10)] == [other]
    assert spool.stats()["held"] == 4
    assert spool.release_due(now) == []  # not due yet
    assert spool.release_due(now + 61) == ["denied"]  # the oldest row goes alone, as a probe
    assert [(r.id, r.historical) for r in spool.pending(10)] == [(other, False), (denied[0], True)]
    assert spool.release_due(now + 62) == []  # the others wait for the probe's answer
    assert spool.release_due(now + 62 + PROBE_GRACE_S) == ["denied"]  # ...unless it never comes
    assert spool.release_topic("denied") == 2
    assert [r.id for r in spool.pending(10)] == [other, *denied, late]
    spool.close()


def test_concurrent_writers_and_acks_keep_counts_exact(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    made: list[int] = []

    def writer() -> None:
        for _ in range(100):
            made.append(spool.put("t", b"e" * 50))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    acked = 0
    while any(t.is_alive() for t in threads) or spool.pending(1):
        acked += spool.ack(r.id for r in spool.pending(37))
    for t in threads:
        t.join()
    assert acked == len(made) == 400 == len(set(made))
    assert spool.stats()["depth"] == 0 and spool.stats()["bytes"] == 0
    spool.close()


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    path.write_bytes(b"this is not SQLite" * 500)
    spool = Spool(path, MB, 3600.0)
    assert spool.moved_aside is not None and spool.moved_aside.exists()
    assert spool.moved_aside.read_bytes().startswith(b"this is not SQLite")
    assert spool.salvaged == 0
    row = spool.put("t", b"fresh")
    assert [r.id for r in spool.pending(5)] == [row]
    spool.close()


def test_a_damaged_spool_is_moved_aside_and_readable_rows_salvaged(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path, 100 * MB, 86400.0)
    for i in range(2000):
        spool.put("cam/events", f'{{"id":"{i}"}}'.encode() + b" " * 300)
    spool.close()
    data = bytearray(path.read_bytes())
    page = 4096
    pages = len(data) // page
    for n in range(pages // 3, pages // 3 + 3):  # scribble over three b-tree pages in the middle
        data[n * page : (n + 1) * page] = b"\xa5" * page
    path.write_bytes(bytes(data))

    spool = Spool(path, 100 * MB, 86400.0)
    assert spool.moved_aside is not None and spool.moved_aside.exists()
    assert 0 < spool.salvaged < 2000
    rows = spool.pending(5000)
    assert len(rows) == spool.salvaged
    assert all(r.historical for r in rows)
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert spool.put("cam/events", b"new") > rows[-1].id
    spool.close()


def test_a_foreign_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=7")
        db.execute("CREATE TABLE other(x)")
    spool = Spool(path, MB, 3600.0)
    assert spool.moved_aside is not None
    spool.put("t", b"e")
    spool.close()


WRITER = """
import sys
from pathlib import Path
from agent.uplink.spool import Spool
spool = Spool(Path(sys.argv[1]), 100 * 1024 * 1024, 86400.0)
i = 0
while True:
    row = spool.put("hub/cam/events", b'{"n":%d}' % i + b" " * 200)
    print(row, flush=True)
    i += 1
"""


@pytest.mark.parametrize("at", [50, 400])
def test_sigkill_of_a_writer_leaves_every_acknowledged_put(tmp_path: Path, at: int) -> None:
    path = tmp_path / "spool.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    returned = [int(proc.stdout.readline()) for _ in range(at)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    returned += [int(line) for line in proc.stdout.read().split()]  # puts that returned before the kill

    spool = Spool(path, 100 * MB, 86400.0)
    assert spool.moved_aside is None  # the integrity check passed
    ids = [r.id for r in spool.pending(100_000)]
    assert set(returned) <= set(ids)
    assert ids == sorted(ids) and len(ids) <= len(returned) + 1  # at most the one put that was cut short
    spool.close()


def test_disk_full_evicts_the_oldest_tenth_and_stores_the_new_event(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    ids = [spool.put("t", b"e" * 400) for _ in range(200)]
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    for db in (spool._db, spool._put_db):  # a full disk, as SQLite sees it
        db.execute(f"PRAGMA max_page_count={pages}")
    new = spool.put("t", b"n" * 4000)  # needs new pages: SQLITE_FULL, then room is made
    stats = spool.stats()
    assert stats["evicted"] == 20 and stats["depth"] == 181
    assert [r.id for r in spool.pending(500)] == [*ids[20:], new]
    spool.close()


def test_a_directory_is_refused_and_never_moved(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "models").mkdir(parents=True)
    (state / "models" / "detect.tflite").write_bytes(b"model")
    with pytest.raises(SpoolPathError, match="is a directory"):
        Spool(state, MB, 3600.0)
    assert "is a directory" in (check_spool_path(state) or "")
    assert (state / "models" / "detect.tflite").read_bytes() == b"model"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]  # nothing moved aside, nothing created
    (tmp_path / "spool.db-wal").mkdir()
    assert "spool.db-wal is a directory" in (check_spool_path(tmp_path / "spool.db") or "")
    assert check_spool_path(tmp_path / "other.db") is None


def _readable(path: Path, ids: range) -> set[int]:
    """The rows of a damaged spool that SQLite can still read, one id at a time."""
    readable = set()
    with sqlite3.connect(path) as db:
        for i in ids:
            try:
                if db.execute("SELECT topic, payload, qos, created FROM events WHERE id = ?", (i,)).fetchone():
                    readable.add(i)
            except sqlite3.DatabaseError:
                pass
    return readable


def _damage(good: bytes, page: int, case: Path) -> Path:
    """A copy of the spool GOOD in the directory CASE, with one page of garbage."""
    data = bytearray(good)
    data[page * 4096 : (page + 1) * 4096] = bytes(range(256)) * 16
    case.mkdir()
    (case / "spool.db").write_bytes(bytes(data))
    return case / "spool.db"


def test_salvage_recovers_every_readable_row_around_a_bad_page(tmp_path: Path) -> None:
    path = tmp_path / "good.db"
    spool = Spool(path, 100 * MB, 86400.0)
    ids = range(1, 401)
    for i in ids:
        spool.put("cam/events", f'{{"id":"{i}"}}'.encode() + b" " * 300)
    spool.close()
    good = path.read_bytes()
    pages = len(good) // 4096
    for n, page in enumerate([pages // 2, *range(pages)]):  # the middle first, then every position in turn
        readable = _readable(_damage(good, page, tmp_path / f"copy{n}"), ids)
        if n == 0:
            assert 300 < len(readable) < 400  # one page's rows are lost, and only those
        spool = Spool(_damage(good, page, tmp_path / f"bad{n}"), MB, 86400.0)
        assert {r.id for r in spool.pending(1000)} == readable, f"page {page} of {pages}"
        assert spool.salvaged == len(readable) and (spool.moved_aside is not None or len(readable) == 400)
        spool.close()
