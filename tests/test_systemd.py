"""The shipped unit passes systemd's own checks, and the agent speaks the notify/watchdog protocol as systemd
hears it: datagrams on NOTIFY_SOCKET, sent by the main process."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.config import SpoolConfig
from agent.detect.catalog import DEFAULT_MODEL
from agent.detect.model import installed_path
from agent.errors import EX_CONFIG
from agent.systemd import Notifier, ProgressWatchdog
from tests.shared import REPO

UNIT = REPO / "systemd" / "camhub-agent.service"
SHIPPED_EXEC = "/opt/camhub-agent/venv/bin/camhub-agent"


# --- the unit file ---------------------------------------------------------------------------------------


@pytest.fixture
def unit_under_test(tmp_path: Path) -> Path:
    """The shipped unit, with ExecStart's binary (absent here) swapped for a real executable: nothing else."""
    fake = tmp_path / "camhub-agent"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    shipped = UNIT.read_text().splitlines()
    patched = [line.replace(SHIPPED_EXEC, str(fake)) if line.startswith("ExecStart=") else line for line in shipped]
    assert sum(a != b for a, b in zip(shipped, patched, strict=True)) == 1
    out = tmp_path / "camhub-agent.service"
    out.write_text("\n".join(patched) + "\n")
    return out


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60)


def test_unit_verifies_without_a_single_warning(unit_under_test: Path) -> None:
    result = _analyze("verify", str(unit_under_test))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_verify_check_would_catch_a_bad_key(unit_under_test: Path) -> None:
    # systemd-analyze verify exits 0 on unknown keys and bad values: only stderr tells.
    broken = unit_under_test.read_text().replace("WatchdogSec=", "WatchdogSecs=")
    unit_under_test.write_text(broken)
    result = _analyze("verify", str(unit_under_test))
    assert "WatchdogSecs" in result.stderr


def test_hardening_exposure_is_at_most_3(unit_under_test: Path) -> None:
    result = _analyze("security", "--offline=true", str(unit_under_test))
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0, result.stdout


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_matches_what_the_agent_does(monkeypatch: pytest.MonkeyPatch) -> None:
    unit = _unit_settings()
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert str(EX_CONFIG) in unit["RestartPreventExitStatus"][0].split()
    assert unit["ExecStart"][0].startswith(SHIPPED_EXEC + " run --config /etc/camhub/config.yaml")
    # The spool and the model default to paths under the StateDirectory that systemd creates for the user.
    state = Path("/var/lib") / unit["StateDirectory"][0]
    assert SpoolConfig().path.parent == state
    monkeypatch.delenv("CAMHUB_STATE_DIR", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert installed_path(DEFAULT_MODEL).parent.parent == state


# --- the notify protocol -----------------------------------------------------------------------------------


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket that also learns each sender's pid."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.settimeout(10)

    def receive(self) -> tuple[str, int]:
        """One datagram and the sender's pid (as the kernel vouches for it)."""
        data, ancillary, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = next(
            struct.unpack("3i", cdata)[0]
            for level, kind, cdata in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
        )
        return data.decode(), pid

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    listener = NotifySocket(str(path))
    yield str(path), listener
    listener.close()


def test_notifier_sends_each_state(notify_socket) -> None:
    path, listener = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.status("waiting for cameras: front")
    assert notifier.ready("2 cameras online")
    notifier.reloading()
    notifier.stopping("draining spool")
    notifier.close()
    messages = [listener.receive()[0] for _ in range(4)]
    assert messages[0] == "STATUS=waiting for cameras: front"
    assert messages[1] == "READY=1\nSTATUS=2 cameras online"
    assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", messages[2])
    assert messages[3] == "STOPPING=1\nSTATUS=draining spool"


def test_status_is_kept_on_one_line(notify_socket) -> None:
    path, listener = notify_socket
    # A newline would start a new KEY=VALUE assignment: an error text must not inject READY=1.
    Notifier({"NOTIFY_SOCKET": path}).status("camera back failed:\nREADY=1")
    assert listener.receive()[0] == "STATUS=camera back failed: READY=1"


def test_abstract_socket_address() -> None:
    name = f"/camhub/test/{os.getpid()}"
    listener = NotifySocket(b"\0" + name.encode())
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert listener.receive()[0] == "READY=1"
    finally:
        listener.close()


def test_outside_systemd_everything_is_a_no_op(tmp_path: Path) -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and notifier.watchdog_interval() is None
    # systemd gone (e.g. during shutdown): sends fail quietly, the daemon carries on.
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert gone.enabled and not gone.status("still here")


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    assert Notifier({"NOTIFY_SOCKET": "/run/x", **env}).watchdog_interval() == interval


def test_watchdog_pings_only_while_progress_is_made(notify_socket) -> None:
    path, listener = notify_socket
    listener.sock.settimeout(0.5)
    now = [1000.0]
    watchdog = ProgressWatchdog(Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"}), clock=lambda: now[0])
    watchdog.progress()
    now[0] += 29
    assert watchdog.tick()
    assert listener.receive()[0] == "WATCHDOG=1"
    now[0] += 2  # 31 s since the last frame: hung
    assert not watchdog.tick()
    with pytest.raises(TimeoutError):
        listener.receive()
    watchdog.progress()  # the pipeline recovered before systemd gave up
    assert watchdog.tick()
    assert listener.receive()[0] == "WATCHDOG=1"


DAEMON = textwrap.dedent(
    """
    import time
    from agent.systemd import Notifier, ProgressWatchdog

    notifier = Notifier()
    watchdog = ProgressWatchdog(notifier)
    watchdog.start()
    notifier.status("starting")
    notifier.ready("1 camera online")
    for _ in range(100):  # frames flowing
        watchdog.progress()
        time.sleep(0.01)
    notifier.status("hung")
    time.sleep(1.5)  # the pipeline is stuck: 7 watchdog timeouts long
    notifier.stopping()
    watchdog.stop()
    """
)


def test_daemon_process_pings_while_working_and_goes_silent_when_hung(notify_socket) -> None:
    path, listener = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", DAEMON], env=env)
    try:
        messages: list[str] = []
        while not messages or messages[-1] != "STOPPING=1":
            text, pid = listener.receive()
            assert pid == child.pid  # NotifyAccess=main: only the main process may speak
            messages.append(text)
    finally:
        assert child.wait(timeout=30) == 0
    states = [m for m in messages if m != "WATCHDOG=1"]
    assert states == ["STATUS=starting", "READY=1\nSTATUS=1 camera online", "STATUS=hung", "STOPPING=1"]
    hung = messages.index("STATUS=hung")
    assert messages[2:hung].count("WATCHDOG=1") >= 2
    # Pings sent within one timeout (0.2 s) of the last frame are fine; the other ~1.3 s must be silent.
    assert messages[hung + 1 :].count("WATCHDOG=1") <= 3
