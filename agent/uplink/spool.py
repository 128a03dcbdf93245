"""The durable spool: every event is written here before it is published, and
deleted only when the broker acknowledged it (QoS 1 PUBACK).

Durability (see README "How it stays reliable"): SQLite in WAL mode. Inserts run on a
connection with `synchronous=FULL`, so a `put` that returned is on the disk
even through a power cut (one fsync of the WAL per event). Deletes (acks),
holds and evictions run on a second connection with `synchronous=NORMAL`:
losing one of those in a power cut only brings an event back, to be sent
again and de-duplicated by its id, so they skip the fsync. A SIGKILL loses
nothing in either mode: a committed transaction is in the OS's cache.

A full disk: in WAL mode even a DELETE needs new disk space, and a
checkpoint needs room for the pages it moves into the database file, so a
spool that waits until the disk is full can no longer free anything. A
reserve file beside the spool holds that room: when a write finds the disk
full, the reserve is deleted, the WAL is checkpointed into the database, and
the database is capped at its current size (with no room for a reserve, the
cap comes while a checkpoint still fits). From then on new events reuse the
pages of the oldest ones (the oldest are evicted, a tenth at a time, until
the new one fits) and the WAL recycles the room the reserve left; an event is
refused (counted) only when even that fails. When the disk has room again the
reserve is made again and the cap lifted, without a restart.

Only a file whose content is wrong (not a database, malformed, failing the
integrity check, an unknown format) is moved aside as damaged; an error of
the disk under it (full, I/O error, read-only, permission) leaves it in
place: the spool reports itself unavailable and opens it again later.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.config import SpoolConfig
from agent.errors import SpoolPathError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ROW_OVERHEAD = 64  # file bytes per row beyond topic and payload (b-tree cell, index, page slack); measured
PROBE_GRACE_S = 3600.0  # rows wait this long for their topic's probe to be answered
CLOCK_SANE = 1_577_836_800.0  # 2020-01-01: a row stamped earlier was made before the clock was set
CHECKPOINT_PAGES = 128  # WAL pages before they are copied into the database (SQLite's default is 1000)
# Room for one checkpoint of new pages into the database plus the eviction after it (4 KiB pages).
RESERVE_BYTES = 2 * CHECKPOINT_PAGES * 4096
REOPEN_S = 5.0  # an unavailable spool is tried again at most this often
_SIZE = "length(CAST(topic AS BLOB)) + length(payload)"
_CHUNK = 500  # ids per statement, under SQLite's bound-parameter limit
_SALVAGE_SPAN = 256  # ids read at once when salvaging; a failing range is halved down to single rows
_SQLITE_FULL = 13
_SQLITE_DAMAGE = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB: the file's content is wrong, not the disk under it
_SIBLINGS = ("", "-wal", "-shm")  # the files SQLite keeps for one database

State = Literal["ok", "full", "unavailable"]

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
    """The spool cannot take this event (disk full even after evicting, spool unavailable),
    or its path is unusable."""


class _Damaged(sqlite3.DatabaseError):
    """The file is a database, but not a sound spool."""


class _NoRoom(Exception):
    """The disk stayed full through every way of making room."""


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes
    qos: int
    historical: bool  # created while offline or by an earlier run of the agent


def check_spool_path(path: Path) -> str | None:
    """What is wrong with PATH as a spool file, or None. Only the kind of what exists
    is checked (nothing is created): a directory or other non-file is never a spool."""
    path = Path(path)
    if path.parent.exists() and not path.parent.is_dir():
        return f"{path.parent} is not a directory; expected the path of a file in a directory"
    for suffix in _SIBLINGS:
        sibling = Path(f"{path}{suffix}")
        try:
            mode = sibling.stat().st_mode
        except OSError:
            continue  # missing (created at start) or unreadable (reported when opened)
        if stat.S_ISDIR(mode):
            return f"{sibling} is a directory; expected the path of the spool's file, e.g. {sibling / 'spool.db'}"
        if not stat.S_ISREG(mode):
            return f"{sibling} is not a regular file; expected the path of the spool's file"
    return None


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
        self.synchronous = synchronous
        self.moved_aside: Path | None = None  # where a damaged spool file was moved at open
        self.salvaged = 0  # rows copied from that damaged file
        self.evicted = 0  # rows dropped for size, age or a full disk since open
        self.refused = 0  # events not stored: the disk was full even after evicting, or the spool unavailable
        self.state: State = "unavailable"
        self.problem: str | None = None  # why the spool is unavailable
        self._reserve = Path(f"{self.path}-reserve")
        self._reserve_held = False
        self._page_limit = 0  # SQLite's own limit on the file's pages, put back when the disk has room
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._put_db: sqlite3.Connection | None = None
        self._first_live: int | None = None
        self._depth = self._bytes = 0
        self._seen: tuple[float | None, int] = (None, 0)  # oldest row's time, held rows: for stats when reads fail
        self._next_open = 0.0
        problem = check_spool_path(self.path)
        if problem:
            raise SpoolPathError(f"spool.path: {problem}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolPathError(
                f"spool.path: cannot create the spool directory {self.path.parent}: {exc.strerror}"
            ) from None
        self._open_or_wait()

    @classmethod
    def from_config(cls, config: SpoolConfig) -> Spool:
        return cls(config.path, int(config.max_mb * 1024 * 1024), config.max_age_days * 86400.0)

    @classmethod
    def for_pictures(cls, config: SpoolConfig, max_mb: float) -> Spool:
        """The evidence pictures' spool: a file of its own beside the events', so that its
        size bound drops old pictures, never events."""
        path = config.path.with_name(f"{config.path.stem}-evidence{config.path.suffix}")
        return cls(path, int(max_mb * 1024 * 1024), config.max_age_days * 86400.0)

    # -- opening ---------------------------------------------------------

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={RESERVE_BYTES}")  # truncate a grown WAL after checkpoints
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _open_checked(self) -> sqlite3.Connection:
        db = self._connect("NORMAL")
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise _Damaged("; ".join(problems[:3]))
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, FORMAT_VERSION):
                raise _Damaged(f"unknown spool format {version}")
            db.executescript(SCHEMA)
            if version != FORMAT_VERSION:
                db.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _open_or_wait(self) -> None:
        """Open the spool; when the disk will not let us, become unavailable and try again later."""
        self._next_open = time.monotonic() + REOPEN_S
        try:
            self._open()
        except (sqlite3.Error, OSError) as exc:
            if not self._release_reserve():
                return self._unavailable(exc)
            try:  # a full disk: the reserve's room is enough to open
                self._open()
            except (sqlite3.Error, OSError) as again:
                return self._unavailable(again)
        if self.state == "unavailable" and self.problem:
            log.warning("spool %s is available again", self.path)
        self.state, self.problem = "ok", None
        self._make_reserve()
        if self._depth:
            log.info("spool %s holds %d event(s) from an earlier run", self.path, self._depth)

    def _open(self) -> None:
        try:
            db = self._open_checked()
        except sqlite3.Error as exc:
            if not _damaged(exc):
                raise
            db = self._replace(str(exc))
        try:
            put_db = self._connect(self.synchronous)
            seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            depth, size = db.execute(f"SELECT count(*), coalesce(sum({_SIZE}), 0) FROM events").fetchone()
        except sqlite3.Error:
            db.close()
            raise
        if self._first_live is None:
            self._first_live = (seq[0] if seq else 0) + 1  # rows below were made by an earlier run
        self._db, self._put_db = db, put_db
        self._depth, self._bytes = depth, size + depth * ROW_OVERHEAD

    def _replace(self, damage: str) -> sqlite3.Connection:
        """Move the damaged file aside (never anything but regular files), salvage its rows into a new one."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():  # never overwrite an earlier damaged file: it may still hold events
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in _SIBLINGS:
            src = Path(f"{self.path}{suffix}")
            if src.is_file():
                os.replace(src, f"{aside}{suffix}")
        self.moved_aside = aside
        rows = _salvage(aside)
        db = self._open_checked()
        try:
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO events(id, topic, payload, qos, created, historical) VALUES (?, ?, ?, ?, ?, 1)", rows
            )
            db.execute("COMMIT")
        except sqlite3.Error:
            db.close()
            raise
        self.salvaged = len(rows)
        log.error(
            "spool %s was damaged (%s): moved it aside to %s, salvaged %d event(s), started a new spool",
            self.path, damage, aside, len(rows),
        )
        return db

    def _unavailable(self, exc: sqlite3.Error | OSError) -> None:
        for db in (self._db, self._put_db):
            if db is not None:
                db.close()
        self._db = self._put_db = None
        if (self.state, self.problem) == ("unavailable", str(exc)):
            return  # said already
        self.state, self.problem = "unavailable", str(exc)
        log.error("spool %s is unavailable (%s): new events are not stored; trying again every %.0f s",
                  self.path, exc, REOPEN_S)

    def _available(self) -> bool:
        """Open again when due; True if the spool can be used now."""
        if self._db is None and time.monotonic() >= self._next_open:
            self._open_or_wait()
        return self._db is not None

    # -- room on the disk ------------------------------------------------

    def _make_reserve(self) -> bool:
        """Hold RESERVE_BYTES beside the spool, unless that would leave less than as much free."""
        if self._reserve_held:
            return True
        try:
            if not (self._reserve.is_file() and self._reserve.stat().st_size >= RESERVE_BYTES):
                if _free_bytes(self.path.parent) < 2 * RESERVE_BYTES:
                    return False
                fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    os.posix_fallocate(fd, 0, RESERVE_BYTES)  # real blocks, not a sparse file
                finally:
                    os.close(fd)
        except OSError:
            self._release_reserve()
            return False
        self._reserve_held = True
        return True

    def _release_reserve(self) -> bool:
        self._reserve_held = False
        try:
            self._reserve.unlink()
        except OSError:
            return False
        return True

    def _cap(self) -> None:
        """Stop the database file from growing: new rows reuse the pages of evicted ones."""
        assert self._db is not None and self._put_db is not None
        if self.state != "full":
            log.error("spool %s: the disk is (nearly) full; keeping the spool at its size: the oldest events "
                      "make room for new ones (%d waiting)", self.path, self._depth)
            self._page_limit = self._db.execute("PRAGMA max_page_count").fetchone()[0]
        self.state = "full"
        for db in (self._db, self._put_db):
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count={pages}")

    def _recover(self) -> None:
        """Without the reserve: once the disk has room again, make it and lift the cap; while
        there is too little room for it, cap the spool before the disk is full, so that the
        room for a checkpoint is still there."""
        if self._reserve_held:
            return
        if not self._make_reserve():
            if self.state != "full" and _free_bytes(self.path.parent) < RESERVE_BYTES:
                self._checkpoint()
                self._cap()
            return
        if self.state != "full":
            return
        assert self._db is not None and self._put_db is not None
        for db in (self._db, self._put_db):
            db.execute(f"PRAGMA max_page_count={self._page_limit}")
        self.state = "ok"
        log.warning("spool %s: the disk has room again; the spool grows again (%d refused, %d evicted so far)",
                    self.path, self.refused, self.evicted)

    def _on_full(self) -> bool:
        """The first answer to a full disk: the reserve's room for a checkpoint, then the cap."""
        if self.state == "full":
            return False
        self._release_reserve()
        self._checkpoint()
        self._cap()
        return True

    def _checkpoint(self) -> bool:
        """Copy the WAL into the database so that the WAL starts again from its beginning."""
        assert self._db is not None
        try:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error:
            return False
        return busy == 0

    def _evict_tenth(self) -> bool:
        try:
            return self._evict_oldest(max(1, self._depth // 10)) > 0
        except (sqlite3.Error, _NoRoom):
            return False

    def _write(self, db: sqlite3.Connection, sql: str, params: Iterable[object], *, evict: bool) -> sqlite3.Cursor:
        """Run one write. On a full disk make room, step by step, trying again after each;
        _NoRoom when none helped. Other errors are raised as they are."""
        params = tuple(params)
        ways = self._ways_to_room(evict)
        while True:
            try:
                return db.execute(sql, params)
            except sqlite3.Error as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF != _SQLITE_FULL:
                    raise
            if not any(ways):  # stops at the first way that made room
                raise _NoRoom

    def _ways_to_room(self, evict: bool) -> Iterator[bool]:
        """Ways to make room, cheapest first; each yields whether it did anything."""
        yield self._on_full()
        yield self._checkpoint()
        while evict and self._evict_tenth():  # until the write fits or nothing is left
            yield True
            yield self._checkpoint()  # the WAL starts again from its beginning: no new disk space

    def _broken(self, exc: sqlite3.Error) -> None:
        """An error of the disk, or damage found while running: open again later (which checks the file)."""
        self._next_open = time.monotonic() + REOPEN_S
        self._unavailable(exc)

    # -- the queue -------------------------------------------------------

    def put(
        self, topic: str, payload: bytes, qos: int = 1, historical: bool = False, hold_until: float | None = None
    ) -> int:
        """Store one message durably; returns its row id (increasing with time).
        HOLD_UNTIL: its topic is refused by the broker for now (see hold_topic).
        SpoolError when it cannot be stored (counted in stats as `refused`)."""
        size = len(topic.encode()) + len(payload) + ROW_OVERHEAD
        held = hold_until is not None
        params = (topic, payload, qos, time.time(), int(historical or held), int(held), hold_until or 0.0)
        sql = "INSERT INTO events(topic, payload, qos, created, historical, held, retry_at) VALUES (?,?,?,?,?,?,?)"
        with self._lock:
            if not self._available():
                self.refused += 1
                raise SpoolError(f"spool {self.path} is unavailable: {self.problem}")
            assert self._put_db is not None
            try:
                self._recover()
                row_id = self._write(self._put_db, sql, params, evict=True).lastrowid
            except _NoRoom:
                self.refused += 1
                log.error("spool %s: the disk is full even after evicting: new event refused", self.path)
                raise SpoolError(f"spool {self.path}: the disk is full even after evicting") from None
            except sqlite3.Error as exc:
                self.refused += 1
                self._broken(exc)
                raise SpoolError(f"cannot write to the spool {self.path}: {exc}") from None
            self._depth += 1
            self._bytes += size
            self._bound_size()
        assert row_id is not None
        return row_id

    def _bound_size(self) -> None:
        try:
            while self._bytes > self.max_bytes and self._depth > 1:
                average = self._bytes / self._depth
                if not self._evict_oldest(max(1, int((self._bytes - self.max_bytes) / average) + 1)):
                    break
        except _NoRoom:
            pass  # the disk is full: the bound is met by the next put that finds room
        except sqlite3.Error as exc:
            self._broken(exc)

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
            if not self._available():
                return []
            assert self._db is not None
            try:
                live = self._db.execute(live_sql, (self._first_live, *skip, limit)).fetchall()
                old = self._db.execute(old_sql, (self._first_live, *skip, limit - len(live))).fetchall()
            except sqlite3.Error as exc:
                self._broken(exc)
                return []
        return [Row(*r, historical=False) for r in live] + [Row(*r, historical=True) for r in old]

    def ack(self, ids: Iterable[int]) -> int:
        """Delete acknowledged rows; returns how many were still there (a row that could
        not be deleted stays, to be sent again and de-duplicated by its id)."""
        ids = list(ids)
        done = 0
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"DELETE FROM events WHERE id IN ({marks}) RETURNING {_SIZE}"
                sizes = self._change(sql, chunk)
                self._forget(sizes)
                done += len(sizes)
        return done

    def hold_topic(self, topic: str, until: float) -> int:
        """The broker refused a publish on TOPIC: keep all its rows out of the queue until
        UNTIL (wall clock). They will arrive late, so they are marked historical."""
        sql = "UPDATE events SET held = 1, historical = 1, retry_at = ? WHERE topic = ? RETURNING id"
        with self._lock:
            return len(self._change(sql, (until, topic)))

    def release_due(self, now: float | None = None) -> list[str]:
        """For each topic whose hold is over, put its oldest row back in the queue as a
        probe; the topic's other rows wait for the probe's answer (release_topic or
        hold_topic). Returns the probed topics."""
        now = time.time() if now is None else now
        with self._lock:
            probes = self._change(
                "SELECT min(id), topic FROM events WHERE held = 1 AND retry_at <= ? GROUP BY topic", (now,)
            )
            released = []
            for row_id, topic in probes:
                if self._change("UPDATE events SET held = 0 WHERE id = ? RETURNING id", (row_id,)):
                    self._change(
                        "UPDATE events SET retry_at = ? WHERE held = 1 AND topic = ? RETURNING id",
                        (now + PROBE_GRACE_S, topic),
                    )
                    released.append(topic)
        return released

    def release_topic(self, topic: str) -> int:
        """The broker accepts TOPIC again: all its held rows go back in the queue."""
        with self._lock:
            return len(self._change("UPDATE events SET held = 0 WHERE held = 1 AND topic = ? RETURNING id", (topic,)))

    def _change(self, sql: str, params: Iterable[object]) -> list[tuple]:
        """Run a statement (under the lock) and return its rows; [] when the spool cannot
        do it now: it is done again later (an ack or a release) or was not needed."""
        if not self._available():
            return []
        assert self._db is not None
        try:
            return self._write(self._db, sql, params, evict=False).fetchall()
        except _NoRoom:
            log.error("spool %s: the disk is full: an update waits for room", self.path)
        except sqlite3.Error as exc:
            self._broken(exc)
        return []

    def evict_expired(self) -> int:
        """Drop rows older than max_age from the front of the queue; returns how many.
        Called periodically, it also notices that disk space returned."""
        cutoff = time.time() - self.max_age_s
        dropped = 0
        with self._lock:
            if not self._available():
                return 0
            assert self._db is not None
            try:
                self._recover()
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
            except _NoRoom:
                pass  # tried again at the next call
            except sqlite3.Error as exc:
                self._broken(exc)
        if dropped:
            log.warning("spool: dropped %d event(s) older than %.0f s", dropped, self.max_age_s)
        return dropped

    def _evict_oldest(self, count: int) -> int:
        assert self._db is not None
        sql = f"DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?) RETURNING {_SIZE}"
        sizes = self._write(self._db, sql, (count,), evict=False).fetchall()
        self._forget(sizes)
        self.evicted += len(sizes)
        if sizes:
            log.warning("spool: evicted the %d oldest event(s) (size or disk limit)", len(sizes))
        return len(sizes)

    def _forget(self, sizes: list[tuple[int]]) -> None:
        self._depth -= len(sizes)
        self._bytes -= sum(s for (s,) in sizes) + len(sizes) * ROW_OVERHEAD

    # -- reporting -------------------------------------------------------

    def stats(self) -> dict[str, float | int | str]:
        """Never raises: when the file cannot be read, the last figures seen."""
        with self._lock:
            if self._db is not None:
                try:
                    oldest = self._db.execute("SELECT created FROM events ORDER BY id LIMIT 1").fetchone()
                    held = self._db.execute("SELECT count(*) FROM events WHERE held = 1").fetchone()[0]
                    self._seen = (oldest[0] if oldest else None, held)
                except sqlite3.Error:
                    pass
            created, held = self._seen
            depth, size = self._depth, self._bytes
        return {
            "depth": depth,
            "bytes": size,
            "oldest_age_s": round(max(0.0, time.time() - created), 1) if created is not None else 0.0,
            "held": held,
            "evicted": self.evicted,
            "refused": self.refused,
            "state": self.state,
        }

    def close(self) -> None:
        with self._lock:
            for db in (self._put_db, self._db):
                if db is not None:
                    db.close()
            self._db = self._put_db = None


def _damaged(exc: sqlite3.Error) -> bool:
    return isinstance(exc, _Damaged) or getattr(exc, "sqlite_errorcode", 0) & 0xFF in _SQLITE_DAMAGE


def _free_bytes(directory: Path) -> int:
    try:
        fs = os.statvfs(directory)
    except OSError:
        return 0
    return fs.f_bavail * fs.f_frsize


def _salvage(path: Path) -> list[tuple[int, str, bytes, int, float]]:
    """Best effort: every row still readable in a damaged spool file, oldest first."""
    rows: list[tuple[int, str, bytes, int, float]] = []
    try:
        db = sqlite3.connect(path, timeout=1.0)
    except sqlite3.Error:
        return rows
    try:
        low, high = _id_bounds(db)
        if high - low > 50_000_000:
            return rows
        select = "SELECT id, topic, payload, qos, created FROM events WHERE"
        todo = [(start, min(start + _SALVAGE_SPAN, high + 1)) for start in range(low, high + 1, _SALVAGE_SPAN)]
        todo.reverse()  # a stack: the lowest ids first
        while todo:
            start, end = todo.pop()
            try:
                if end - start == 1:  # a range scan would also step onto the next (damaged) cell
                    found = db.execute(f"{select} id = ?", (start,)).fetchall()
                else:
                    found = db.execute(f"{select} id >= ? AND id < ? ORDER BY id", (start, end)).fetchall()
            except sqlite3.Error:  # a damaged page in this range: read its halves, down to single rows
                if end - start > 1:
                    middle = (start + end) // 2
                    todo += [(middle, end), (start, middle)]
                continue
            rows.extend(r for r in found if _plausible(r))
    except sqlite3.Error:
        pass
    finally:
        db.close()
    return rows


def _id_bounds(db: sqlite3.Connection) -> tuple[int, int]:
    """The lowest and highest row id, each found another way when its own page is damaged."""
    bounds = []
    for sql in ("SELECT min(id) FROM events", "SELECT max(id) FROM events"):
        try:
            bounds.append(db.execute(sql).fetchone()[0])
        except sqlite3.Error:
            bounds.append(None)
    low, high = bounds
    if not isinstance(high, int):
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        high = seq[0] if seq and isinstance(seq[0], int) else 0
    return (low if isinstance(low, int) else 1), high


def _plausible(row: tuple[object, ...]) -> bool:
    _, topic, payload, qos, created = row
    return isinstance(topic, str) and isinstance(payload, bytes) and qos in (0, 1, 2) and isinstance(created, float)
