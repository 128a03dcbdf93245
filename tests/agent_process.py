"""The agent as a child process (`camhub-agent run`), and a stand-in for systemd's
notify socket, for tests that drive the real daemon."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests.shared import REPO


def spooled_ids(spool: Path) -> set[str]:
    """Ids of the events waiting in SPOOL, read without writing anything (none while the agent is still
    creating it)."""
    try:
        with sqlite3.connect(f"file:{spool}?mode=ro", uri=True) as db:
            return {json.loads(payload)["id"] for (payload,) in db.execute("SELECT payload FROM events")}
    except sqlite3.OperationalError:  # no file or no table yet
        return set()


class AgentProcess:
    """`camhub-agent run` as a child process, its stderr in a file beside the config."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.log = config.with_suffix(".log")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )

    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class NotifySocket:
    """A stand-in for systemd's notify socket. It reads all the time, as systemd does: the
    agent's sd_notify datagrams would otherwise fill the socket and block the agent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except TimeoutError:
                continue

    def heard(self, text: str) -> str | None:
        """The first message received so far that contains TEXT."""
        return next((m for m in list(self.messages) if text in m), None)

    def close(self) -> None:
        self._closed.set()
        self._reader.join()
        self._sock.close()
