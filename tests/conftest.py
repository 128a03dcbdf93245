"""Shared fixtures. Brokers: real Mosquitto processes on free loopback ports (tests/broker.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent_process import AgentProcess
from tests.broker import PKI, Broker, Subscriber, make_pki
from tests.rtsp import RtspServer, make_h264
from tests.shared import VTEST

pytest_plugins = ["tests.uplink_helpers"]  # the `uplinks` fixture


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """A factory of (not yet started) brokers, each killed at the end of the test."""
    made: list[Broker] = []

    def make(**options: object) -> Broker:
        broker = Broker(tmp_path / f"broker{len(made)}", **options)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.kill()


@pytest.fixture
def broker(brokers: Callable[..., Broker]) -> Broker:
    """An anonymous broker, started."""
    return brokers().start()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    """A factory of subscribers, closed at the end of the test."""
    made: list[Subscriber] = []

    def make(port: int, *topics: str, **options: object) -> Subscriber:
        subscriber = Subscriber(port, topics or ("#",), **options)  # type: ignore[arg-type]
        made.append(subscriber)
        return subscriber

    yield make
    for subscriber in made:
        subscriber.close()
    for subscriber in made:
        subscriber.check()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def agents() -> Iterator[Callable[..., AgentProcess]]:
    """A factory of `camhub-agent run` child processes, stopped at the end of the test."""
    made: list[AgentProcess] = []

    def make(config: Path, env: dict[str, str] | None = None) -> AgentProcess:
        made.append(AgentProcess(config, env))
        return made[-1]

    yield make
    for agent in made:
        agent.close()


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 20 s of vtest.avi as H.264 (the RTSP server loops it), made once per session."""
    return make_h264(VTEST, tmp_path_factory.mktemp("rtsp") / "vtest20.mp4")


@pytest.fixture
def rtsp_server(h264_clip: Path, tmp_path: Path) -> Iterator[RtspServer]:
    """A real RTSP server on a free loopback port, killed at the end of the test."""
    server = RtspServer(h264_clip, tmp_path)
    server.start()
    yield server
    server.kill()
