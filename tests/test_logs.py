"""Log lines through real `logging`: short, journald-aware, JSON on request, and a flood of one error rate-limited."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.logs import RateLimitFilter, TextFormatter, setup_logging
from tests.shared import REPO

TIMESTAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    sys.excepthook, threading.excepthook = hooks


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_lines_are_short_and_stamped_outside_journald(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = io.StringIO()
    setup_logging("info", stream=out)
    logging.getLogger("agent.capture").warning("camera %s offline", "front")
    logging.getLogger("agent.capture").debug("not shown at info")
    assert _lines(out) == [_lines(out)[0]]
    assert re.fullmatch(TIMESTAMP + " WARNING agent.capture: camera front offline", _lines(out)[0])


DAEMON = textwrap.dedent(
    """
    import logging, os, sys
    from agent.logs import setup_logging
    st = os.fstat(2)
    os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino + int(sys.argv[1])}"
    setup_logging("info")
    log = logging.getLogger("agent.daemon")
    log.info("started")
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.exception("camera %s failed", "back")
    """
)


def _run_daemon(tmp_path: Path, journal: bool) -> list[str]:
    """A child whose stderr is a file that JOURNAL_STREAM does (or does not) name, as systemd sets it up."""
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        subprocess.run(
            [sys.executable, "-c", DAEMON, "0" if journal else "1"],
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True,
            timeout=60,
        )
    return err.read_text().splitlines()


def test_under_journald_lines_carry_priority_and_no_timestamp(tmp_path: Path) -> None:
    lines = _run_daemon(tmp_path, journal=True)
    assert lines[0] == "<6>INFO agent.daemon: started"
    assert lines[1] == "<3>ERROR agent.daemon: camera back failed"
    # Traceback lines are separate journal entries: each keeps the error priority.
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines[1:])
    assert lines[-1] == "<3>ValueError: bad frame"


def test_a_stderr_that_is_not_the_journal_gets_timestamps(tmp_path: Path) -> None:
    lines = _run_daemon(tmp_path, journal=False)
    assert re.fullmatch(TIMESTAMP + " INFO agent.daemon: started", lines[0])
    assert not any(line.startswith("<") for line in lines)


def test_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    setup_logging("debug", "json", stream=out)
    log = logging.getLogger("agent.uplink")
    log.info("published %d events", 3, extra={"camera": "front", "path": Path("/x")})
    try:
        {}["broker"]
    except KeyError:
        log.exception("connect failed")
    first, second = (json.loads(line) for line in _lines(out))
    assert first == {
        "ts": first["ts"],
        "level": "info",
        "logger": "agent.uplink",
        "message": "published 3 events",
        "camera": "front",
        "path": "/x",
    }
    assert second["level"] == "error" and second["exc"].endswith("KeyError: 'broker'")


def test_setting_up_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("info", stream=first)
    setup_logging("warning", stream=second)  # e.g. after SIGHUP with a new log level
    logging.getLogger("agent").info("quiet now")
    logging.getLogger("agent").warning("once")
    assert first.getvalue() == ""
    assert [line.split(" ", 2)[2] for line in _lines(second)] == ["WARNING agent: once"]


def test_bad_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        setup_logging("verbose")
    with pytest.raises(ValueError, match="format"):
        setup_logging("info", "xml")


def test_a_dead_camera_does_not_flood_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = io.StringIO()
    setup_logging("info", stream=out)
    log = logging.getLogger("agent.capture")
    for _ in range(200):  # ten a second for 20 s, in a tight loop
        log.error("camera %s: read failed", "front")
    log.error("camera %s: read failed", "back")  # same template: same kind
    log.error("spool %s full", "db")  # another kind is not held back
    assert [line.split(": ", 1)[1] for line in _lines(out)] == ["camera front: read failed"] * 3 + ["spool db full"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited() -> Iterator[tuple[logging.Logger, io.StringIO, Clock, RateLimitFilter]]:
    clock, out = Clock(), io.StringIO()
    limiter = RateLimitFilter(burst=3, window=60.0, max_kinds=2, clock=clock)
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter(journal=True))
    handler.addFilter(limiter)
    log = logging.getLogger("test.limited")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log, out, clock, limiter
    log.removeHandler(handler)


def test_a_flood_shows_one_line_a_minute_with_the_count(limited) -> None:
    log, out, clock, _ = limited
    for _ in range(10):
        log.error("camera %s offline", "front")
        clock.now += 1
    assert len(_lines(out)) == 3
    clock.now = 60.0
    log.error("camera %s offline", "front")
    assert _lines(out)[-1] == "<3>ERROR test.limited: camera front offline (7 similar suppressed)"
    for _ in range(59):  # the flood goes on: no fresh burst of three
        clock.now += 1
        log.error("camera %s offline", "front")
    assert len(_lines(out)) == 4
    clock.now += 1
    log.error("camera %s offline", "front")
    assert _lines(out)[-1].endswith("(59 similar suppressed)")


def test_a_message_repeated_slowly_is_never_limited(limited) -> None:
    log, out, clock, _ = limited
    for _ in range(10):
        log.info("stats published")
        clock.now += 30
    assert _lines(out) == ["<6>INFO test.limited: stats published"] * 10


def test_the_limiter_forgets_old_kinds(limited) -> None:
    log, out, _, limiter = limited
    for _ in range(3):
        log.warning("kind A")
    log.warning("kind A")  # suppressed
    for i in range(100):
        log.warning(f"kind {i}")  # f-strings make a new kind per message; memory must not grow with them
    assert limiter.tracked_kinds == 2
    log.warning("kind A")  # forgotten, so shown again
    assert _lines(out).count("<4>WARNING test.limited: kind A") == 4


def test_an_uncaught_exception_is_logged_with_its_secrets_masked() -> None:
    """Python prints an uncaught exception itself, past logging's filters: in the agent it goes
    through the log handler instead, masked, in the main thread and in any other."""
    code = textwrap.dedent("""
        import threading
        from agent import secrets
        from agent.logs import setup_logging
        setup_logging()
        secrets.register_url("rtsp://admin:p@/ :%#?ờ@10.0.0.5/s")
        def fail():
            raise RuntimeError("cannot open rtsp://admin:p@/ :%#?ờ@10.0.0.5/s")
        thread = threading.Thread(target=fail, name="capture-gate")
        thread.start()
        thread.join()
        fail()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1
    assert "p@/ :%#?ờ" not in done.stderr, done.stderr
    assert done.stderr.count("RuntimeError: cannot open rtsp://***@10.0.0.5/s") == 2, done.stderr
    assert "CRITICAL agent: uncaught exception in thread capture-gate" in done.stderr
