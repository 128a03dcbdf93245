"""Event ids: unique across the cameras of a hub and across restarts, stable for retries."""

from __future__ import annotations

import json

from agent.track.events import SCHEMA_VERSION, EventFactory, encode
from agent.track.tracker import Track, TrackEvent


def _event(kind: str, track_id: int = 1) -> TrackEvent:
    track = Track(id=track_id, label="person", score=0.7, box=(0.1, 0.2, 0.3, 0.6), zones=["road"],
                  start=100.0, last_seen=101.0, confirmed=True)  # fmt: skip
    return TrackEvent(kind, track, 101.0)  # type: ignore[arg-type]


def test_cameras_started_in_the_same_millisecond_get_distinct_ids() -> None:
    a, b = EventFactory("hub", "gate", epoch=1000.0), EventFactory("hub", "yard", epoch=1000.0)
    first, second = a.build(_event("new"), 0.0), b.build(_event("new"), 0.0)
    assert first["id"] != second["id"] and first["obj"] != second["obj"]


def test_a_restart_gets_new_ids() -> None:
    before = EventFactory("hub", "gate", epoch=1000.0).build(_event("new"), 0.0)
    after = EventFactory("hub", "gate", epoch=1000.001).build(_event("new"), 0.0)
    assert before["id"] != after["id"]


def test_one_object_new_update_end_share_obj_with_increasing_ids() -> None:
    factory = EventFactory("hub", "gate", epoch=1000.0)
    events = [factory.build(_event(kind), 1_700_000_000.0) for kind in ("new", "update", "end")]
    assert len({e["obj"] for e in events}) == 1
    assert [e["id"] for e in events] == [f"{events[0]['obj']}.{n}" for n in range(3)]
    assert events[0]["start"] == 1_700_000_100.0 and events[0]["ts"] == 1_700_000_101.0


def test_wire_form_is_one_compact_line() -> None:
    event = EventFactory("hub", "gate", epoch=1000.0).build(_event("new"), 0.0)
    line = encode(event)
    assert b"\n" not in line and b" " not in line
    assert json.loads(line) == event and event["v"] == SCHEMA_VERSION
