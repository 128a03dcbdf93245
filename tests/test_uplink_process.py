"""The uplink in a separate process that is SIGKILLed: spooled events survive, the Last Will tells."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.broker import Broker, Subscriber
from tests.uplink_driver import event_id, hub_settings
from tests.uplink_helpers import Driver, events, first_occurrences, got_all, order_broken, write_config

ROOT = "camhub/hub1"


def test_sigkill_while_the_broker_is_down_then_restart_delivers_everything(
    brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber], tmp_path: Path
) -> None:
    broker = brokers()  # its port is known, nothing listens yet: the broker is down
    config = write_config(tmp_path / "hub.yaml", hub_settings(tmp_path / "spool.db", broker.port))
    first = Driver(config, "--events", "300", "--tag", "kill")
    assert first.expect("done") == {"done": 300, "depth": 300}  # all 300 are in the spool
    first.kill()

    broker.start()
    sub = subscribers(broker.port, f"{ROOT}/#")
    second = Driver(config, "--tag", "again")
    ids = {event_id(f"cam{1 + i % 3}", "kill", i) for i in range(300)}
    assert sub.wait_for(got_all(ids), 30)
    received = events(sub)
    unique = first_occurrences(received)
    assert {e.id for e in unique} == ids
    assert all(e.historical for e in unique)  # made by an earlier run, while offline
    assert order_broken(received) == []
    second.expect("connected")
    assert second.terminate() == 0
    assert sub.wait_for(lambda s: [m.payload for m in s.on("/availability")][-1:] == [b"offline"])
    print(f"\nSIGKILL with broker down: created 300, delivered {len(unique)} unique, "
          f"duplicates {len(received) - len(unique)}")


def test_last_will_offline_after_sigkill_and_status_retained(
    broker: Broker, subscribers: Callable[..., Subscriber], tmp_path: Path
) -> None:
    sub = subscribers(broker.port, f"{ROOT}/availability", f"{ROOT}/status")
    config = write_config(tmp_path / "hub.yaml", hub_settings(tmp_path / "spool.db", broker.port))
    driver = Driver(config, "--tag", "will")
    driver.expect("connected")
    assert sub.wait_for(lambda s: [m.payload for m in s.on("/availability")] == [b"online"])
    assert sub.wait_for(lambda s: bool(s.on("/status")))
    assert json.loads(sub.on("/status")[-1].payload) == {"state": "running", "tag": "will"}
    driver.kill()
    assert sub.wait_for(lambda s: [m.payload for m in s.on("/availability")] == [b"online", b"offline"])
