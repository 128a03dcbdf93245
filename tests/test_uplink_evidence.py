"""Counts and evidence pictures through the real uplink, spools and Mosquitto:
counts are spooled like events and retained only when live; pictures wait in a
spool of their own, after the events, and never push an event out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from agent.config import HubConfig
from agent.events import Counts, parse_counts
from agent.evidence import Picture, evidence_jpeg
from agent.uplink.mqtt import Uplink
from agent.uplink.spool import Spool
from tests.broker import Broker, Subscriber, wait_until
from tests.shared import VTEST, frame_at
from tests.uplink_driver import hub_settings, make_event
from tests.uplink_helpers import connected, events

PICTURE_SPOOL_BYTES = 60_000  # room for a handful of pictures only


def _picture(camera: str, event_id: str) -> Picture:
    """A real evidence picture: a person in a vtest.avi frame."""
    jpeg = evidence_jpeg(frame_at(VTEST, 430), (0.39, 0.35, 0.44, 0.5), [], 8192)
    assert jpeg is not None
    return Picture(camera, event_id, jpeg)


def _uplink(tmp_path: Path, port: int) -> tuple[Uplink, Spool, Spool]:
    config = HubConfig.model_validate(hub_settings(tmp_path / "spool.db", port, cameras=1))
    spool = Spool.from_config(config.spool)
    pictures = Spool(tmp_path / "spool-evidence.db", PICTURE_SPOOL_BYTES, 86400.0)
    return Uplink(config, spool, pictures=pictures), spool, pictures


def _counts(start: float, crossings: int) -> Counts:
    return Counts(camera="cam1", start=start, end=start + 60.0, lines={"road": {"in": {"car": crossings}, "out": {}}})


def test_after_an_outage_events_counts_and_pictures_all_arrive_events_first(
    tmp_path: Path, brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber]
) -> None:
    broker = brokers()  # not started: the hub works offline first
    uplink, spool, pictures = _uplink(tmp_path, broker.port)
    uplink.start()
    try:
        picture = _picture("cam1", "x")
        for seq in range(6):
            event = make_event("cam1", "out", seq)
            uplink.send_event(event)
            uplink.send_picture(Picture("cam1", event.id, picture.jpeg))
        uplink.send_counts(_counts(time.time() - 60.0, 3))
        assert spool.stats()["depth"] == 7 and pictures.stats()["depth"] == 6

        broker.start()
        sub = subscribers(broker.port, "camhub/#")
        assert connected(uplink)
        assert sub.wait_for(lambda s: len(s.on("/events")) == 6 and len(_pictures(s)) == 6, 20)
        assert sub.wait_for(lambda s: bool(s.on("/counts")), 10)
        received = [m for m in sub.messages if "/evidence/" in m.topic or m.topic.endswith("/events")]
        kinds = ["picture" if "/evidence/" in m.topic else "event" for m in received]
        assert kinds == ["event"] * 6 + ["picture"] * 6, "every waiting event goes out before any picture"
        assert {m.topic.rsplit("/", 1)[-1] for m in _pictures(sub)} == {e.id for e in events(sub)}
        for message in _pictures(sub):
            assert cv2.imdecode(np.frombuffer(message.payload, np.uint8), cv2.IMREAD_COLOR) is not None

        # Made offline: late, marked historical, and not retained over a newer summary.
        late = sub.on("/counts")[0]
        assert parse_counts(late.payload, "cam1").historical and not _retained(broker.port, "/counts")
        uplink.send_counts(_counts(time.time(), 5))
        assert sub.wait_for(lambda s: len(s.on("/counts")) == 2, 10)
        retained = _retained(broker.port, "/counts")
        assert retained is not None and parse_counts(retained, "cam1").lines["road"]["in"] == {"car": 5}
        assert wait_until(lambda: spool.stats()["depth"] == 0 and pictures.stats()["depth"] == 0, 10)
    finally:
        uplink.stop(timeout=2.0)
        spool.close()
        pictures.close()


def test_a_full_picture_spool_drops_old_pictures_never_an_event(
    tmp_path: Path, brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber]
) -> None:
    broker = brokers()
    uplink, spool, pictures = _uplink(tmp_path, broker.port)
    uplink.start()
    try:
        jpeg = _picture("cam1", "x").jpeg
        sent = []
        for seq in range(40):  # 40 pictures of ~8 kB: several times the pictures' quota
            event = make_event("cam1", "full", seq)
            sent.append(event.id)
            uplink.send_event(event)
            uplink.send_picture(Picture("cam1", event.id, jpeg))
        assert spool.stats()["depth"] == 40 and spool.stats()["evicted"] == 0
        assert pictures.stats()["evicted"] > 0 and pictures.stats()["bytes"] <= PICTURE_SPOOL_BYTES

        broker.start()
        sub = subscribers(broker.port, "camhub/#")
        assert connected(uplink)
        assert sub.wait_for(lambda s: len(s.on("/events")) == 40, 20)
        assert [e.id for e in events(sub)] == sent
        assert wait_until(lambda: pictures.stats()["depth"] == 0, 10)
        arrived = [m.topic.rsplit("/", 1)[-1] for m in _pictures(sub)]
        assert arrived == sent[-len(arrived) :], "the newest pictures are kept"
    finally:
        uplink.stop(timeout=2.0)
        spool.close()
        pictures.close()


def _pictures(sub: Subscriber) -> list:
    return [m for m in sub.on("") if "/evidence/" in m.topic]


def _retained(port: int, suffix: str) -> bytes | None:
    """What a newcomer gets retained on the topic ending in SUFFIX."""
    late = Subscriber(port, ["camhub/#"])
    try:
        wait_until(lambda: bool(late.on(suffix)), 2.0)
        retained = [m for m in late.on(suffix) if m.retain]
        return retained[-1].payload if retained else None
    finally:
        late.close()
