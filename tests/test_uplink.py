"""The uplink against a real Mosquitto: the topic contract, a 30 s outage, failover, a bridge."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent import secrets
from agent.events import EventFactory, ObjectEvent, parse_event
from agent.uplink.commands import CommandError, CommandHandlers
from agent.uplink.discovery import Presence, discovery_messages
from agent.uplink.topics import Topics
from tests.broker import Broker, Subscriber, wait_until
from tests.contract import one_of_each
from tests.uplink_driver import make_event
from tests.uplink_helpers import (
    UplinkFactory,
    connected,
    events,
    first_occurrences,
    got_all,
    last_json,
    order_broken,
    unique_ids,
)

ROOT = "camhub/hub1"
PASSWORD = "p@/ :%#?ờ"  # every character that breaks a naive user:pass@ pattern, and non-ASCII


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_anonymous_contract_availability_status_stats_events(
    broker: Broker, subscribers: Callable[..., Subscriber], uplinks: UplinkFactory, protocol: str
) -> None:
    sub = subscribers(broker.port, f"{ROOT}/#")
    uplink, spool = uplinks(broker.port, protocol=protocol)
    uplink.set_status({"version": "t", "cameras": {}})
    assert connected(uplink)
    sent = [make_event(f"cam{1 + i % 3}", "a", i) for i in range(9)]
    for event in sent:
        uplink.send_event(event)
    uplink.publish_stats({"events": 9})
    assert sub.wait_for(got_all({e.id for e in sent}))
    assert sub.wait_for(lambda s: bool(s.on("/stats")))

    assert [m.payload for m in sub.on("/availability")] == [b"online"]
    assert last_json(sub.on("/status")) == {"version": "t", "cameras": {}}
    assert last_json(sub.on("/stats")) == {"events": 9}
    for message in sub.on("/events"):
        camera = message.topic.split("/")[-2]
        event = parse_event(message.payload, camera)
        assert b" " not in message.payload and b"\n" not in message.payload  # compact, one line
        assert b"historical" not in message.payload  # only when true
        assert event == next(e for e in sent if e.id == event.id)  # on the topic of its camera, unchanged
    assert wait_until(lambda: spool.stats()["depth"] == 0, 5.0)  # every PUBACK deleted its row
    state = uplink.connection()
    assert state["broker"] == f"127.0.0.1:{broker.port}" and state["delivered"] == 9

    uplink.stop()
    assert sub.wait_for(lambda s: [m.payload for m in s.on("/availability")] == [b"online", b"offline"])
    late = subscribers(broker.port, f"{ROOT}/availability", f"{ROOT}/status")  # retained for newcomers
    assert late.wait_for(lambda s: len(s.messages) == 2)
    assert {m.topic: m.payload for m in late.messages}[f"{ROOT}/availability"] == b"offline"
    assert all(m.retain for m in late.messages)


def test_every_event_type_goes_through_the_spool_and_the_broker_unchanged(
    broker: Broker, subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    """Made before the hub is connected, they are spooled and then marked historical on
    their bytes; made while connected, they arrive as built."""
    sub = subscribers(broker.port, f"{ROOT}/+/events")
    uplink, _ = uplinks(broker.port, start=False)
    factory = EventFactory("cam2")
    early = one_of_each(factory)
    for event in early:
        uplink.send_event(event)
    uplink.start()
    assert connected(uplink)
    live = one_of_each(factory)
    for event in live:
        uplink.send_event(event)
    assert sub.wait_for(got_all({e.id for e in early + live}))
    received = {e.id: e for e in events(sub)}
    assert [received[e.id] for e in early] == [replace(e, historical=True) for e in early]
    assert [received[e.id] for e in live] == live
    assert all(m.topic == f"{ROOT}/cam2/events" for m in sub.on("/events"))


def test_status_stats_and_results_leave_the_hub_masked(
    broker: Broker, subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    """Whatever a camera, a library or a command handler put in them, nothing the uplink reports
    carries a registered password, not even a value that JSON cannot hold (turned into text)."""
    url = f"rtsp://admin:{PASSWORD}@10.0.0.5/s"
    secrets.register_url(url)
    handlers = CommandHandlers()

    def refuse(_args: dict[str, Any]) -> dict[str, Any]:
        raise CommandError(f"cannot open {url}")

    handlers.register("refuse", refuse)
    handlers.register("echo", lambda _args: {"file": Path("/etc/camhub") / PASSWORD})
    sub = subscribers(broker.port, f"{ROOT}/#")
    uplink, _ = uplinks(broker.port, commands=handlers)
    try:
        assert connected(uplink)
        uplink.set_status({"cameras": {"gate": {"last_error": f"cannot open {url}"}}})
        uplink.publish_stats({"note": [url]})
        for name in ("refuse", "echo"):
            sub.client.publish(f"{ROOT}/cmd/{name}", json.dumps({"id": name}), qos=1)
        reports = ("/status", "/stats", "/cmd/refuse/result", "/cmd/echo/result")
        assert sub.wait_for(lambda s: all(s.on(topic) for topic in reports))
    finally:
        secrets.forget_all()
    texts = [json.dumps(json.loads(sub.on(topic)[-1].payload), ensure_ascii=False) for topic in reports]
    assert not [t for t in texts if PASSWORD in t], texts
    assert all("***" in t for t in texts), texts
    assert "cannot open rtsp://***@10.0.0.5/s" in texts[0]


def test_status_is_resent_on_reconnect_and_stats_dropped_offline(
    broker: Broker, subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    uplink, _ = uplinks(broker.port)
    assert connected(uplink)
    uplink.set_status({"n": 1})
    broker.kill()
    broker.start()
    sub = subscribers(broker.port, f"{ROOT}/#")  # a fresh broker: nothing retained but what we resend
    assert wait_until(lambda: uplink.connection()["reconnects"] >= 1 and uplink.connection()["connected"], 15)
    assert sub.wait_for(lambda s: last_json(s.on("/status")) == {"n": 1})
    assert [m.payload for m in sub.on("/availability")][-1] == b"online"
    broker.kill()
    assert wait_until(lambda: not uplink.connection()["connected"], 5)
    assert "lost" in uplink.connection()["last_error"]
    uplink.publish_stats({"dropped": True})  # QoS 0 while offline: not queued anywhere
    broker.start()
    assert wait_until(lambda: uplink.connection()["reconnects"] >= 2 and uplink.connection()["connected"], 15)
    assert sub.wait_for(lambda s: len(s.on("/availability")) >= 2)  # the subscriber is back too
    uplink.publish_stats({"after": True})
    assert sub.wait_for(lambda s: last_json(s.on("/stats")) == {"after": True})
    assert [json.loads(m.payload) for m in sub.on("/stats")] == [{"after": True}]


def test_broker_down_30s_mid_stream_loses_nothing(
    brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    """The issue's outage scenario: events keep coming while the broker is away for 30 s."""
    broker = brokers(persistence=True).start()
    # a persistent session: the broker keeps what arrives while this subscriber reconnects
    sub = subscribers(broker.port, f"{ROOT}/+/events", client_id="outage-watcher", persistent=True)
    uplink, spool = uplinks(broker.port)
    assert connected(uplink)
    sent: list[tuple[str, bool | None]] = []  # (id, connected before and after the send, None if it changed)
    stop = threading.Event()

    def produce() -> None:
        seq = 0
        while not stop.is_set():
            before = uplink.connection()["connected"]
            event = make_event(f"cam{1 + seq % 3}", "out", seq)
            uplink.send_event(event)
            after = uplink.connection()["connected"]
            sent.append((event.id, before if before == after else None))
            seq += 1
            time.sleep(0.04)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        assert sub.wait_for(lambda s: len(s.on("/events")) >= 30, 10)
        broker.stop()  # graceful: the subscriber's session is saved
        assert wait_until(lambda: not uplink.connection()["connected"], 5)
        time.sleep(30)  # the outage the issue asks for
        depth_at_end_of_outage = spool.stats()["depth"]
        broker.start()
        assert connected(uplink, 15)
        count = len(sent)
        assert wait_until(lambda: len(sent) >= count + 25, 10)  # live events flow after the return
    finally:
        stop.set()
        producer.join()
    ids = {i for i, _ in sent}
    assert sub.wait_for(got_all(ids), 30), f"missing {len(ids - unique_ids(sub))} of {len(ids)}"
    received = events(sub)
    by_id = {e.id: e for e in first_occurrences(received)}
    assert set(by_id) == ids
    assert order_broken(received) == []
    offline = [i for i, c in sent if c is False]
    online = [i for i, c in sent if c is True]
    assert len(offline) > 500 and depth_at_end_of_outage > 500
    assert all(by_id[i].historical for i in offline)
    assert not any(by_id[i].historical for i in online)
    assert wait_until(lambda: spool.stats()["depth"] == 0, 10)
    print(
        f"\noutage 30 s: created {len(ids)}, delivered {len(by_id)} unique, duplicates "
        f"{len(received) - len(by_id)}, historical {sum(e.historical for e in by_id.values())}, "
        f"spool depth at the end of the outage {depth_at_end_of_outage}"
    )


def test_failover_to_the_second_broker_and_back(
    brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    first, second = brokers().start(), brokers().start()
    on_first = subscribers(first.port, f"{ROOT}/+/events")
    on_second = subscribers(second.port, f"{ROOT}/+/events")
    uplink, spool = uplinks(first.port, failover=[{"host": "127.0.0.1", "port": second.port}], reconnect_max_delay=1.0)
    assert connected(uplink)

    def batch(tag: str) -> set[str]:
        sent = [make_event(f"cam{1 + i % 3}", tag, i) for i in range(20)]
        for event in sent:
            uplink.send_event(event)
        return {e.id for e in sent}

    one = batch("one")
    assert on_first.wait_for(got_all(one))
    first.kill()
    two = batch("two")  # made while the hub is between brokers or already on the second
    assert wait_until(lambda: uplink.connection()["broker"] == f"127.0.0.1:{second.port}", 15)
    assert on_second.wait_for(got_all(two))
    first.start()
    on_first_again = subscribers(first.port, f"{ROOT}/+/events")
    assert wait_until(
        lambda: uplink.connection()["broker"] == f"127.0.0.1:{first.port}" and uplink.connection()["connected"], 15
    )
    three = batch("three")
    assert on_first_again.wait_for(got_all(three))
    assert wait_until(lambda: spool.stats()["depth"] == 0, 5)
    assert uplink.connection()["reconnects"] >= 2
    delivered = unique_ids(on_first) | unique_ids(on_second) | unique_ids(on_first_again)
    print(f"\nfailover: created 60, delivered {len(delivered)} unique, reconnects {uplink.connection()['reconnects']}")


def test_commune_broker_bridged_to_district(
    brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    district = brokers().start()
    watcher = subscribers(district.port, "camhub/+/+/events", "$SYS/broker/connection/#")
    commune = brokers(
        extra="\n".join(
            [
                "connection district",
                f"address 127.0.0.1:{district.port}",
                "topic camhub/# out 1",
                "cleansession true",
                "restart_timeout 1",
            ]
        )
    ).start()
    assert watcher.wait_for(lambda s: any(m.payload == b"1" for m in s.on("/state")), 10), commune.log_text()
    uplink, _ = uplinks(commune.port)
    assert connected(uplink)
    sent = {make_event("cam1", "bridge", i).id for i in range(10)}
    for i in range(10):
        uplink.send_event(make_event("cam1", "bridge", i))
    assert watcher.wait_for(got_all(sent))
    assert all(m.topic == f"{ROOT}/cam1/events" for m in watcher.on("/events"))


def test_home_assistant_discovery_and_presence(
    broker: Broker, subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    sub = subscribers(broker.port, "homeassistant/#", f"{ROOT}/+/presence/#")
    uplink, _ = uplinks(broker.port, cameras=2, homeassistant={"enabled": True})
    assert connected(uplink)
    assert sub.wait_for(lambda s: len(s.on("/config")) == 5)  # connectivity + 2 cameras x (person, vehicle)
    configs = {m.topic: json.loads(m.payload) for m in sub.on("/config")}
    person = configs["homeassistant/binary_sensor/camhub_hub1/cam1_person/config"]
    assert person["state_topic"] == f"{ROOT}/cam1/presence/person"
    assert person["availability_topic"] == f"{ROOT}/availability"
    late = subscribers(broker.port, "homeassistant/#")  # configs are retained for a later Home Assistant
    assert late.wait_for(lambda s: len(s.on("/config")) == 5) and all(m.retain for m in late.messages)
    uplink.send_event(replace(make_event("cam1", "ha", 0), label="person"))
    assert sub.wait_for(lambda s: [m.payload for m in s.on("cam1/presence/person")][-1:] == [b"ON"])
    uplink.send_event(replace(make_event("cam1", "ha", 1), label="person", type="end"))  # the same object
    assert sub.wait_for(lambda s: [m.payload for m in s.on("cam1/presence/person")][-1:] == [b"OFF"])
    before = len(sub.on("/config"))
    sub.client.publish("homeassistant/status", b"online")  # Home Assistant restarted
    assert sub.wait_for(lambda s: len(s.on("/config")) >= before + 5)


def _seen(obj: str, kind: str, label: str, n: int) -> ObjectEvent:
    return replace(make_event("c", "p", 0), id=f"{obj}.{n}", type=kind, label=label)  # type: ignore[arg-type]


def test_presence_follows_objects_not_events() -> None:
    presence = Presence()
    assert presence.update(_seen("r-c-1", "new", "motorcycle", 0)) == [("c", "vehicle", True)]
    assert presence.update(_seen("r-c-2", "new", "car", 1)) == []
    assert presence.update(_seen("r-c-1", "end", "motorcycle", 2)) == []
    assert presence.update(_seen("r-c-2", "update", "person", 3)) == [("c", "person", True), ("c", "vehicle", False)]
    assert presence.update(_seen("r-c-2", "end", "person", 4)) == [("c", "person", False)]
    rules = [e for e in one_of_each(EventFactory("c")) if not isinstance(e, ObjectEvent)]
    assert [presence.update(e) for e in rules] == [[], [], []]  # cross, alert, left: no one came or went


def test_discovery_topics_are_unique_per_entity() -> None:
    from agent.config import HubConfig

    config = HubConfig.model_validate(
        {"hub_id": "h", "cameras": [{"id": "a", "source": "x"}, {"id": "b", "source": "y"}]}
    )
    messages = discovery_messages(config, Topics.from_config(config))
    ids = [json.loads(body)["unique_id"] for _, body in messages]
    assert len(set(ids)) == len(ids) == len({t for t, _ in messages}) == 5
