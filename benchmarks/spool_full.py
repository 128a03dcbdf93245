"""The spool at the edge of a full disk, and salvage of a damaged spool.

    .venv/bin/python benchmarks/spool_full.py [--events 1000]

Prints, measured side by side in one run:
- the cost of a durable `put` with the WAL checkpointed every CHECKPOINT_PAGES
  pages (what the agent does, so that one checkpoint always fits in the
  reserve) against SQLite's default of 1000 pages;
- on a 4 MiB tmpfs (needs root): the cost of a `put` with room, against a
  `put` at the edge of the full disk (capped, the oldest evicted to make room);
- salvage: a spool of 400 events with one page of garbage, at every page
  position in turn: rows recovered against rows SQLite can still read one by
  one, and against skipping every 256-id range that fails.
Absolute times depend on the machine and its disk: compare the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.uplink import spool as spool_module
from agent.uplink.spool import Spool
from tests.test_spool_disk import fill

MB = 1024 * 1024
TOPIC = "camhub/hub1/cam1/events"
BODY = b'{"v":1,"id":"hub1-cam1-mfz3k2a1-17-new","type":"new","label":"person","score":0.81}' + b" " * 140


def put_us(path: Path, n: int) -> float:
    spool = Spool(path, 1000 * MB, 86400.0)
    started = time.perf_counter()
    for _ in range(n):
        spool.put(TOPIC, BODY)
    elapsed = time.perf_counter() - started
    spool.close()
    return elapsed / n * 1e6


def bench_checkpoint(directory: Path, n: int, rounds: int = 4) -> list[tuple[str, str]]:
    """Alternating rounds, so that a disk that slows down for a while slows both alike."""
    default = spool_module.CHECKPOINT_PAGES
    ours = sqlite_default = 0.0
    for i in range(rounds):
        ours += put_us(directory / f"ours{i}.db", n // rounds) / rounds
        spool_module.CHECKPOINT_PAGES = 1000
        try:
            sqlite_default += put_us(directory / f"default{i}.db", n // rounds) / rounds
        finally:
            spool_module.CHECKPOINT_PAGES = default
    return [
        (f"put, checkpoint every {default} pages (the agent)", f"{ours:8.0f} µs/event"),
        ("put, checkpoint every 1000 pages (SQLite's default)", f"{sqlite_default:8.0f} µs/event"),
        ("ratio", f"{ours / sqlite_default:8.2f}x"),
    ]


def bench_edge(directory: Path, n: int) -> list[tuple[str, str]]:
    if os.geteuid() != 0:
        return [("put at the edge of a full disk", "skipped: mounting a tmpfs needs root")]
    disk = directory / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        spool = Spool(disk / "spool.db", 1000 * MB, 86400.0)
        for _ in range(200):
            spool.put(TOPIC, BODY)
        started = time.perf_counter()
        for _ in range(n):
            spool.put(TOPIC, BODY)
        roomy = (time.perf_counter() - started) / n * 1e6
        fill(disk, "filler")
        spool.put(TOPIC, BODY)  # finds the disk full: reserve released, spool capped
        before = spool.stats()
        started = time.perf_counter()
        for _ in range(n):
            spool.put(TOPIC, BODY)
        edge = (time.perf_counter() - started) / n * 1e6
        after = spool.stats()
        spool.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    return [
        ("put with room (tmpfs)", f"{roomy:8.0f} µs/event"),
        ("put at the edge of the full disk (same tmpfs)", f"{edge:8.0f} µs/event"),
        ("ratio", f"{edge / roomy:8.2f}x"),
        (f"at the edge, of {n} puts", f"{after['evicted'] - before['evicted']} oldest evicted, "
         f"{after['refused'] - before['refused']} refused, {after['depth']} kept"),
    ]


def readable(path: Path, ids: range) -> int:
    """Rows SQLite can still read, asked for one id at a time."""
    count = 0
    sql = "SELECT topic, payload, qos, created FROM events WHERE id = ?"
    with sqlite3.connect(path) as db:
        for i in ids:
            with contextlib.suppress(sqlite3.DatabaseError):
                count += db.execute(sql, (i,)).fetchone() is not None
    return count


def salvage_by_whole_ranges(path: Path) -> int:
    """The baseline: read ids 256 at a time and skip a range that fails (the spool's former salvage)."""
    with sqlite3.connect(path) as db:
        try:
            low, high = db.execute("SELECT min(id), max(id) FROM events").fetchone()
        except sqlite3.DatabaseError:
            return 0
        count = 0
        sql = "SELECT * FROM events WHERE id >= ? AND id < ?"
        for start in range(low, high + 1, 256):
            with contextlib.suppress(sqlite3.DatabaseError):
                count += len(db.execute(sql, (start, start + 256)).fetchall())
    return count


def bench_salvage(directory: Path) -> list[tuple[str, str]]:
    good = directory / "good.db"
    spool = Spool(good, 1000 * MB, 86400.0)
    for i in range(400):
        spool.put(TOPIC, b'{"id":"%d"}' % i + b" " * 300)
    spool.close()
    data = good.read_bytes()
    pages = len(data) // 4096
    can = ours = baseline = 0
    worst = 1.0
    for page in range(pages):
        damaged = bytearray(data)
        damaged[page * 4096 : (page + 1) * 4096] = bytes(range(256)) * 16
        case = directory / f"bad{page}"
        case.mkdir()
        (case / "copy.db").write_bytes(bytes(damaged))
        readable_here = readable(case / "copy.db", range(1, 401))
        baseline += salvage_by_whole_ranges(case / "copy.db")
        (case / "spool.db").write_bytes(bytes(damaged))
        spool = Spool(case / "spool.db", 1000 * MB, 86400.0)
        got = spool.salvaged if spool.moved_aside else spool.stats()["depth"]
        spool.close()
        can += readable_here
        ours += got
        if readable_here:
            worst = min(worst, got / readable_here)
    return [
        (f"one bad page in a 400-event spool, at each of {pages} positions", f"{can} rows still readable"),
        ("salvaged, failing ranges halved down to single rows (the agent)", f"{ours}"),
        ("salvaged, failing 256-id ranges skipped (the former way)", f"{baseline}"),
        ("the agent, worst position", f"{worst:.0%} of its readable rows"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # the spool's own lines about evictions and damaged files
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        rows = bench_checkpoint(directory, args.events) + bench_edge(directory, args.events) + bench_salvage(directory)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
