"""Helpers for the uplink tests: an in-process Uplink on a temporary spool, and
checks on what a subscriber received."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import HubConfig
from agent.events import Event, parse_event
from agent.uplink.commands import CommandHandlers
from agent.uplink.mqtt import Uplink
from agent.uplink.spool import Spool
from tests.broker import Message, Subscriber, wait_until
from tests.uplink_driver import hub_settings

UplinkFactory = Callable[..., tuple[Uplink, Spool]]


@pytest.fixture
def uplinks(tmp_path: Path) -> Iterator[UplinkFactory]:
    """make(port, cameras=3, commands=None, start=True, **mqtt) -> (uplink, spool); stopped at teardown."""
    made: list[tuple[Uplink, Spool]] = []

    def make(
        port: int, cameras: int = 3, commands: CommandHandlers | None = None, start: bool = True, **mqtt: Any
    ) -> tuple[Uplink, Spool]:
        config = HubConfig.model_validate(hub_settings(tmp_path / f"spool{len(made)}.db", port, cameras, **mqtt))
        spool = Spool.from_config(config.spool)
        uplink = Uplink(config, spool, commands)
        made.append((uplink, spool))
        if start:
            uplink.start()
        return uplink, spool

    yield make
    for uplink, spool in made:
        uplink.stop(timeout=2.0)
        spool.close()


def connected(uplink: Uplink, timeout: float = 15.0) -> bool:
    return wait_until(lambda: uplink.connection()["connected"], timeout)


def events(subscriber: Subscriber) -> list[Event]:
    """The events received, parsed (the camera is the topic's)."""
    return [parse_event(m.payload, m.topic.rsplit("/", 2)[-2]) for m in subscriber.on("/events")]


def unique_ids(subscriber: Subscriber) -> set[str]:
    return {e.id for e in events(subscriber)}


def got_all(ids: set[str]) -> Callable[[Subscriber], bool]:
    return lambda s: ids <= unique_ids(s)


def first_occurrences(received: list[Event]) -> list[Event]:
    seen: set[str] = set()
    firsts = []
    for event in received:
        if event.id not in seen:
            seen.add(event.id)
            firsts.append(event)
    return firsts


def order_broken(received: list[Event]) -> list[str]:
    """Cameras whose live or whose historical events arrived out of order (first arrivals);
    the ids are `uplink_driver.event_id`s."""
    broken = []
    for lane in (False, True):
        last: dict[str, int] = {}
        for event in first_occurrences(received):
            if event.historical is not lane:
                continue
            seq = int(event.id.rsplit(".", 1)[1])
            if seq < last.get(event.camera, -1):
                broken.append(f"{event.camera} historical={lane} at {event.id}")
            last[event.camera] = seq
    return broken


def last_json(messages: list[Message]) -> Any:
    return json.loads(messages[-1].payload) if messages else None


class Driver:
    """tests/uplink_driver.py as a separate process (an agent stand-in that can be SIGKILLed)."""

    def __init__(self, config: Path, *args: str) -> None:
        script = Path(__file__).with_name("uplink_driver.py")
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(config), *args], stdout=subprocess.PIPE, text=True,
        )
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(json.loads(line))

    def expect(self, key: str, timeout: float = 20.0) -> dict[str, Any]:
        """The next line that has KEY, skipping others."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if key in line:
                return line
        raise AssertionError(f"driver said no {key!r} within {timeout} s (exit code {self.process.poll()})")

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path
