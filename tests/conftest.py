"""Shared fixtures. Brokers: real Mosquitto processes on free loopback ports (tests/broker.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.broker import PKI, Broker, Subscriber, make_pki

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


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))
