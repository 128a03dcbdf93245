"""The durable spool: every event is written here before it is published, and
deleted only when the broker acknowledged it (QoS 1 PUBACK).

Durability (see README "Spool"): SQLite in WAL mode. Inserts run on a
connection with `synchronous=FULL`, so a `put` that returned is on the disk
even through a power cut (one fsync of the WAL per event). Deletes (acks),
holds and evictions run on a second connection with `synchronous=NORMAL`:
losing one of those in a power cut only brings an event back, to be sent
again and de-duplicated by its id, so they skip the fsync. A SIGKILL loses
nothing in either mode: a committed transaction is in the OS's cache.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.config import SpoolConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ROW_OVERHEAD = 64  # file bytes per row beyond topic and payload (b-tree cell, index, page slack); measured
PROBE_GRACE_S = 3600.0  # rows wait this long for their topic's probe to be answered
CLOCK_SANE = 1_577_836_800.0  # 2020-01-01: a row stamped earlier was made before the clock was set
_SIZE = "length(CAST(topic AS BLOB)) + length(payload)"
_CHUNK = 500  # ids per statement, under SQLite's bound-parameter limit
_SQLITE_FULL = 13

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a late PUBACK must not delete a newer row
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    created REAL NOT NULL,
    historical INTEGER NOT NULL DEFAULT 0,  -- created offline, or held back: it will arrive late
    held INTEGER NOT NULL DEFAULT 0,        -- its topic was refused by the broker: wait for retry_at
    retry_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_held ON events(held);
"""


class SpoolError(Exception):
    """The spool cannot store anything (disk full even after evicting, unwritable directory)."""


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes
    qos: int
    historical: bool  # created while offline or by an earlier run of the agent


class Spool:
    """A bounded, oldest-first queue on disk; thread-safe."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        max_age_s: float,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.moved_aside: Path | None = None  # where a damaged spool file was moved at open
        self.salvaged = 0  # rows copied from that damaged file
        self.evicted = 0  # rows dropped for size or age since open
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create the spool directory {self.path.parent}: {exc.strerror}") from None
        self._db = self._open_or_replace()
        self._put_db = self._connect(synchronous)
        seq = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        self._first_live = (seq[0] if seq else 0) + 1  # rows below were made by an earlier run
        depth, size = self._db.execute(f"SELECT count(*), coalesce(sum({_SIZE}), 0) FROM events").fetchone()
        self._depth = depth
        self._bytes = size + depth * ROW_OVERHEAD
        if depth:
            log.info("spool %s holds %d event(s) from an earlier run", self.path, depth)

    @classmethod
    def from_config(cls, config: SpoolConfig) -> Spool:
        return cls(config.path, int(config.max_mb * 1024 * 1024), config.max_age_days * 86400.0)

    # -- opening ---------------------------------------------------------

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.execute("PRAGMA journal_size_limit=4194304")  # truncate the WAL after checkpoints
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _open_checked(self) -> sqlite3.Connection:
        db = self._connect("NORMAL")
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(problems[:3]))
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, FORMAT_VERSION):
                raise sqlite3.DatabaseError(f"unknown spool format {version}")
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _open_or_replace(self) -> sqlite3.Connection:
        try:
            return self._open_checked()
        except sqlite3.DatabaseError as exc:
            damage = str(exc)
        except sqlite3.Error as exc:  # e.g. unable to open: a permission problem, not damage
            raise SpoolError(f"cannot open the spool {self.path}: {exc}") from None
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():  # never overwrite an earlier damaged file: it may still hold events
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.replace(src, f"{aside}{suffix}")
        self.moved_aside = aside
        rows = _salvage(aside)
        try:
            db = self._open_checked()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot create a new spool {self.path}: {exc}") from None
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO events(id, topic, payload, qos, created, historical) VALUES (?, ?, ?, ?, ?, 1)", rows
        )
        db.execute("COMMIT")
        self.salvaged = len(rows)
        log.error(
            "spool %s was damaged (%s): moved it aside to %s, salvaged %d event(s), started a new spool",
            self.path, damage, aside, len(rows),
        )
        return db

    # -- the queue -------------------------------------------------------

    def put(
        self, topic: str, payload: bytes, qos: int = 1, historical: bool = False, hold_until: float | None = None
    ) -> int:
        """Store one message durably; returns its row id (increasing with time).
        HOLD_UNTIL: its topic is refused by the broker for now (see hold_topic)."""
        size = len(topic.encode()) + len(payload) + ROW_OVERHEAD
        held = hold_until is not None
        params = (topic, payload, qos, time.time(), int(historical or held), int(held), hold_until or 0.0)
        sql = "INSERT INTO events(topic, payload, qos, created, historical, held, retry_at) VALUES (?,?,?,?,?,?,?)"
        with self._lock:
            try:
                row_id = self._put_db.execute(sql, params).lastrowid
            except sqlite3.Error as exc:
                if getattr(exc, "sqlite_errorcode", None) != _SQLITE_FULL:
                    raise SpoolError(f"cannot write to the spool {self.path}: {exc}") from None
                log.error("disk full writing the spool %s: evicting the oldest tenth to make room", self.path)
                self._evict_oldest(max(1, self._depth // 10))
                try:
                    row_id = self._put_db.execute(sql, params).lastrowid
                except sqlite3.Error as again:
                    raise SpoolError(f"spool {self.path} is full even after evicting: {again}") from None
            self._depth += 1
            self._bytes += size
            while self._bytes > self.max_bytes and self._depth > 1:
                average = self._bytes / self._depth
                if not self._evict_oldest(max(1, int((self._bytes - self.max_bytes) / average) + 1)):
                    break
        assert row_id is not None
        return row_id

    def pending(self, limit: int, exclude: Collection[int] = ()) -> list[Row]:
        """Up to LIMIT rows to publish, skipping EXCLUDE (in flight) and held rows.

        Live rows (made while online by this run) come first, oldest first, so a
        backlog never stalls them; then the historical backlog, oldest first."""
        if limit <= 0:
            return []
        skip = tuple(exclude)
        not_in = f"AND id NOT IN ({','.join('?' * len(skip))})" if skip else ""
        select = "SELECT id, topic, payload, qos FROM events WHERE held = 0"
        live_sql = f"{select} AND id >= ? AND historical = 0 {not_in} ORDER BY id LIMIT ?"
        old_sql = f"{select} AND (id < ? OR historical = 1) {not_in} ORDER BY id LIMIT ?"
        with self._lock:
            live = self._db.execute(live_sql, (self._first_live, *skip, limit)).fetchall()
            old = self._db.execute(old_sql, (self._first_live, *skip, limit - len(live))).fetchall()
        return [Row(*r, historical=False) for r in live] + [Row(*r, historical=True) for r in old]

    def ack(self, ids: Iterable[int]) -> int:
        """Delete acknowledged rows; returns how many were still there."""
        ids = list(ids)
        done = 0
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"DELETE FROM events WHERE id IN ({marks}) RETURNING {_SIZE}"
                sizes = self._db.execute(sql, chunk).fetchall()
                self._forget(sizes)
                done += len(sizes)
        return done

    def hold_topic(self, topic: str, until: float) -> int:
        """The broker refused a publish on TOPIC: keep all its rows out of the queue until
        UNTIL (wall clock). They will arrive late, so they are marked historical."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE events SET held = 1, historical = 1, retry_at = ? WHERE topic = ?", (until, topic)
            )
        return cur.rowcount

    def release_due(self, now: float | None = None) -> list[str]:
        """For each topic whose hold is over, put its oldest row back in the queue as a
        probe; the topic's other rows wait for the probe's answer (release_topic or
        hold_topic). Returns the probed topics."""
        now = time.time() if now is None else now
        with self._lock:
            probes = self._db.execute(
                "SELECT min(id), topic FROM events WHERE held = 1 AND retry_at <= ? GROUP BY topic", (now,)
            ).fetchall()
            for row_id, topic in probes:
                self._db.execute("UPDATE events SET held = 0 WHERE id = ?", (row_id,))
                self._db.execute(
                    "UPDATE events SET retry_at = ? WHERE held = 1 AND topic = ?", (now + PROBE_GRACE_S, topic)
                )
        return [topic for _, topic in probes]

    def release_topic(self, topic: str) -> int:
        """The broker accepts TOPIC again: all its held rows go back in the queue."""
        with self._lock:
            cur = self._db.execute("UPDATE events SET held = 0 WHERE held = 1 AND topic = ?", (topic,))
        return cur.rowcount

    def evict_expired(self) -> int:
        """Drop rows older than max_age from the front of the queue; returns how many."""
        cutoff = time.time() - self.max_age_s
        dropped = 0
        with self._lock:
            while True:
                front = self._db.execute(f"SELECT id, created FROM events ORDER BY id LIMIT {_CHUNK}").fetchall()
                # stop at the first row to keep: rows behind it are (almost always) younger
                keep = [i for i, (_, created) in enumerate(front) if not CLOCK_SANE <= created < cutoff]
                count = keep[0] if keep else len(front)
                if count == 0:
                    break
                dropped += self._evict_oldest(count)
                if count < len(front):
                    break
        if dropped:
            log.warning("spool: dropped %d event(s) older than %.0f s", dropped, self.max_age_s)
        return dropped

    def _evict_oldest(self, count: int) -> int:
        sizes = self._db.execute(
            f"DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?) RETURNING {_SIZE}", (count,)
        ).fetchall()
        self._forget(sizes)
        self.evicted += len(sizes)
        if sizes:
            log.warning("spool: evicted the %d oldest event(s) (size or disk limit)", len(sizes))
        return len(sizes)

    def _forget(self, sizes: list[tuple[int]]) -> None:
        self._depth -= len(sizes)
        self._bytes -= sum(s for (s,) in sizes) + len(sizes) * ROW_OVERHEAD

    # -- reporting -------------------------------------------------------

    def stats(self) -> dict[str, float | int]:
        with self._lock:
            oldest = self._db.execute("SELECT created FROM events ORDER BY id LIMIT 1").fetchone()
            held = self._db.execute("SELECT count(*) FROM events WHERE held = 1").fetchone()[0]
            depth, size = self._depth, self._bytes
        return {
            "depth": depth,
            "bytes": size,
            "oldest_age_s": round(max(0.0, time.time() - oldest[0]), 1) if oldest else 0.0,
            "held": held,
            "evicted": self.evicted,
        }

    def close(self) -> None:
        with self._lock:
            self._put_db.close()
            self._db.close()


def _salvage(path: Path) -> list[tuple[int, str, bytes, int, float]]:
    """Best effort: the rows still readable in a damaged spool file, oldest first."""
    rows: list[tuple[int, str, bytes, int, float]] = []
    try:
        db = sqlite3.connect(path, timeout=1.0)
    except sqlite3.Error:
        return rows
    try:
        low, high = db.execute("SELECT min(id), max(id) FROM events").fetchone()
    except sqlite3.Error:
        db.close()
        return rows
    if not isinstance(low, int) or not isinstance(high, int) or high - low > 50_000_000:
        db.close()
        return rows
    sql = "SELECT id, topic, payload, qos, created FROM events WHERE id >= ? AND id < ? ORDER BY id"
    for start in range(low, high + 1, 256):
        try:
            found = db.execute(sql, (start, start + 256)).fetchall()
        except sqlite3.Error:
            continue
        rows.extend(r for r in found if _plausible(r))
    db.close()
    return rows


def _plausible(row: tuple[object, ...]) -> bool:
    _, topic, payload, qos, created = row
    return isinstance(topic, str) and isinstance(payload, bytes) and qos in (0, 1, 2) and isinstance(created, float)
