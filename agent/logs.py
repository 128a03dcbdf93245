"""Logging for a daemon whose logs live on an SD card: short lines to stderr, rate-limited repeats, optional JSON.

Under systemd, stderr goes to journald, which stamps each line itself and reads a "<N>" syslog priority prefix,
so the journal gets the right priority (journalctl -p warning) and no duplicated timestamp.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from agent.secrets import MaskingFilter

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

# Attributes every LogRecord has; anything else on a record came from `extra=` and belongs in JSON output.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "suppressed", "taskName"}


class RateLimitFilter(logging.Filter):
    """Lets the first `burst` records of a kind through, then at most one per `window` seconds.

    A kind is (logger name, message template, level, the record's `camera` extra if any), so "camera %s offline"
    for one dead camera is one kind whatever its arguments, and one camera's flood never hides another camera's
    news. The record that ends a quiet spell carries `suppressed`, the number dropped since the last one shown.
    At most `max_kinds` kinds are remembered (least recently seen forgotten first), so memory stays bounded even
    if messages are built with f-strings.
    """

    def __init__(
        self,
        burst: int = 3,
        window: float = 60.0,
        max_kinds: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.max_kinds = max_kinds
        self._clock = clock
        self._lock = threading.Lock()
        # kind -> [window start, records passed in this window, records suppressed since the last one passed]
        self._kinds: OrderedDict[tuple[str, str, int, str | None], list[float]] = OrderedDict()

    @property
    def tracked_kinds(self) -> int:
        return len(self._kinds)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg), record.levelno, getattr(record, "camera", None))
        now = self._clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None:
                self._remember(kind, [now, 1, 0])
                return True
            self._kinds.move_to_end(kind)
            start, passed, suppressed = state
            if now - start >= self.window:
                # A flood still running gets one line per window, not a fresh burst.
                state[:] = [now, self.burst if suppressed else 1, 0]
                if suppressed:
                    record.suppressed = int(suppressed)
                return True
            if passed < self.burst:
                state[1] = passed + 1
                return True
            state[2] = suppressed + 1
            return False

    def _remember(self, kind: tuple[str, str, int, str | None], state: list[float]) -> None:
        self._kinds[kind] = state
        if len(self._kinds) > self.max_kinds:
            self._kinds.popitem(last=False)


class TextFormatter(logging.Formatter):
    """One line per record: '[time ]LEVEL logger: message[ (N similar suppressed)]'."""

    def __init__(self, journal: bool) -> None:
        super().__init__(
            "%(levelname)s %(name)s: %(message)s" if journal else "%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        suppressed = getattr(record, "suppressed", 0)
        if suppressed:
            first, sep, rest = text.partition("\n")
            text = f"{first} ({suppressed} similar suppressed){sep}{rest}"
        if self.journal:
            # journald applies a prefix to its own line only; tag traceback lines too so they keep the priority.
            prefix = f"<{_syslog_priority(record.levelno)}>"
            text = "\n".join(prefix + line for line in text.split("\n"))
        return text


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, extra fields, suppressed, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD_ATTRS)
        if getattr(record, "suppressed", 0):
            entry["suppressed"] = record.suppressed
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _syslog_priority(levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


def stream_is_journal(stream: TextIO) -> bool:
    """True when `stream` is the journald stream systemd connected (JOURNAL_STREAM=dev:inode matches it).

    Comparing device and inode, as systemd.exec(5) advises, avoids treating a redirected stderr of a child
    that merely inherited the variable as the journal.
    """
    try:
        dev, ino = (int(part) for part in os.environ.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class _DaemonHandler(logging.StreamHandler):
    """The handler setup_logging installs, told apart so a second call replaces it instead of adding one."""


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Route all logging to one stderr handler; safe to call again (e.g. after a config reload)."""
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; use text or json")
    out = sys.stderr if stream is None else stream
    handler = _DaemonHandler(out)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter(journal=stream_is_journal(out)))
    handler.addFilter(RateLimitFilter())  # first: it groups records by their unformatted template
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _DaemonHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(LEVELS[level.lower()])
    logging.captureWarnings(True)
    # Python prints an uncaught exception straight to stderr, past the handler's masking filter;
    # through logging its text (a URL with a password, say) is masked like any other line.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("agent").critical("uncaught exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what the default hook does too
    name = args.thread.name if args.thread else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    logging.getLogger("agent").critical("uncaught exception in thread %s", name, exc_info=exc_info)
