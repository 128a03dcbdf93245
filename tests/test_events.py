"""The event contract: ids, the wire form, historical marking, the size check,
parsing, and agreement between the types and the JSON Schemas in schemas/."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

import pytest

from agent.events import (
    EVENT_TYPES,
    MAX_BYTES,
    EventFactory,
    MessageError,
    mark_historical,
    parse_counts,
    parse_event,
    too_large,
)
from agent.rules import findings
from agent.track.tracker import TrackEvent
from tests.contract import SCHEMAS, WALL, one_of_each, problems, track


def _event(kind: str, track_id: int = 1) -> TrackEvent:
    return TrackEvent(kind, track(track_id), 101.0)  # type: ignore[arg-type]


def test_cameras_started_in_the_same_millisecond_get_distinct_ids() -> None:
    first = EventFactory("gate", epoch=1000.0).presence(_event("new"), 0.0)
    second = EventFactory("yard", epoch=1000.0).presence(_event("new"), 0.0)
    assert first.id != second.id and first.obj != second.obj


def test_a_restart_gets_new_ids() -> None:
    before = EventFactory("gate", epoch=1000.0).presence(_event("new"), 0.0)
    after = EventFactory("gate", epoch=1000.001).presence(_event("new"), 0.0)
    assert before.id != after.id


def test_the_object_id_is_the_event_id_without_its_sequence_number() -> None:
    factory = EventFactory("gate", epoch=1000.0)
    events = [factory.presence(_event(kind), WALL) for kind in ("new", "update", "end")]
    assert {e.obj for e in events} == {factory.object_id(1)}
    assert [e.id for e in events] == [f"{factory.object_id(1)}.{n}" for n in range(3)]
    assert events[0].start == WALL + 100.0 and events[0].ts == WALL + 101.0


def test_ids_never_repeat_whatever_the_order_of_types() -> None:
    """A rule event after its object's `end` (or a tracker id seen again) still gets a new id."""
    factory = EventFactory("gate", epoch=1000.0)
    events = one_of_each(factory) + one_of_each(factory)
    assert len({e.id for e in events}) == len(events) == 12
    assert events[-1].obj == factory.object_id(2)  # `left`: the object that was nearest


def test_every_type_is_one_compact_line_that_its_schema_accepts_and_parse_returns() -> None:
    for event in one_of_each(EventFactory("gate", epoch=1000.0)):
        line = event.encode()
        assert b"\n" not in line and b" " not in line and line.startswith(b'{"v":2,"id":')
        assert problems("hub/gate/events", line) == []
        assert parse_event(line, "gate") == event
        assert b"historical" not in line and (b"evidence" in line) == (event.type in ("alert", "left"))


def test_v2_leaves_out_what_the_topic_and_the_id_say() -> None:
    body = json.loads(EventFactory("gate", epoch=1000.0).presence(_event("new"), WALL).encode())
    assert set(body) == {"v", "id", "type", "label", "score", "box", "zones", "start", "ts"}


def test_the_schema_names_exactly_the_fields_of_each_type() -> None:
    """The types and schemas/event-v2.json describe one wire form: the same keys, the same required ones."""
    schema = json.loads((SCHEMAS / "event-v2.json").read_text())
    branches = {}
    for rule in schema["allOf"]:  # if type is one of ... then the type's definition
        branch = schema["$defs"][rule["then"]["$ref"].rpartition("/")[2]]
        branches.update(dict.fromkeys(rule["if"]["properties"]["type"]["enum"], branch))
    assert set(branches) == set(EVENT_TYPES)
    for event in one_of_each(EventFactory("gate", epoch=1000.0)):
        flags = {f.name: True for f in dataclasses.fields(event) if f.type == "bool"}  # evidence, historical...
        every_key = json.loads(replace(event, **flags).encode())
        no_flags = json.loads(replace(event, **dict.fromkeys(flags, False)).encode())
        assert set(branches[event.type]["properties"]) == set(every_key)
        assert set(branches[event.type]["required"]) == set(no_flags)


def test_historical_marking_is_a_byte_edit_equal_to_encoding_it() -> None:
    for event in one_of_each(EventFactory("gate", epoch=1000.0)):
        marked = mark_historical(event.encode())
        assert marked == replace(event, historical=True).encode()
        assert mark_historical(marked) == marked  # marking twice changes nothing
        assert parse_event(marked, "gate") == replace(event, historical=True)
        assert problems("hub/gate/events", marked) == []


def test_marking_a_v1_event_left_in_the_spool_by_an_upgrade() -> None:
    v1 = b'{"v":1,"id":"m-gate-2.0","obj":"m-gate-2","hub":"h","cam":"gate","type":"new","historical":false}'
    assert json.loads(mark_historical(v1)) == {**json.loads(v1), "historical": True}


def test_marking_leaves_a_picture_alone() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) + b"}\xff\xd9"
    assert mark_historical(jpeg) == jpeg


def test_size_check() -> None:
    event = EventFactory("gate", epoch=1000.0).presence(_event("new"), WALL)
    assert not too_large(event.encode())
    huge = replace(event, zones=tuple(f"zone-{i:026d}" for i in range(200)))
    assert too_large(huge.encode()) and len(huge.encode()) > MAX_BYTES


def test_counts_round_trip_and_schema() -> None:
    lines = {"road": {"in": {"motorcycle": 41, "car": 2}, "out": {"motorcycle": 37}}, "lane": {"in": {}, "out": {}}}
    counts = EventFactory("gate").counts(findings.Counts(100.0, 400.0, lines), WALL)  # type: ignore[arg-type]
    assert (counts.start, counts.end, counts.lines) == (WALL + 100, WALL + 400, lines)
    line = counts.encode()
    assert problems("hub/gate/counts", line) == [] and parse_counts(line, "gate") == counts
    assert problems("hub/gate/counts", mark_historical(line)) == []
    wrong = line.replace(b'"out":{}', b'"down":{}', 1)
    assert problems("hub/gate/counts", wrong) != []
    with pytest.raises(MessageError, match=r"lines\.lane\.out: Field required"):
        parse_counts(wrong, "gate")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object but list"),
        (b'{"v":1,"id":"a-b-1.0","type":"new"}', "v: 1; expected 2"),
        (b'{"v":2,"id":"a-b-1.0","type":"fell"}', "type: 'fell' is not one of new, update, end, cross, alert, left"),
        (b'{"v":2,"id":"a-b-1.0","type":["new"]}', "type: \\['new'\\] is not one of"),
        (b'{"v":2,"id":"a-b-1.0","type":"cross","label":"car","line":"r","dir":"up","ts":1}', "dir: Input should be"),
        (b'{"v":2,"id":"a-b-1.0","type":"cross","label":"car","line":"r","dir":"in","ts":"1"}', "ts: Input should be"),
        (b'{"v":2,"id":"a-b-1.0","type":"cross","label":"car","line":"r","dir":"in"}', "ts: Field required"),
        (b'{"v":2,"id":"a-b-1.0","type":"cross","label":"car","line":"r","dir":"in","ts":1,"obj":"a"}', "obj: "),
        (
            b'{"v":2,"id":"a-b-1.0","type":"cross","label":"car","line":"r","dir":"in","ts":1,"historical":false}',
            "historical: false is never",
        ),
    ],
)
def test_parse_says_what_is_wrong(payload: bytes, message: str) -> None:
    with pytest.raises(MessageError, match=message.replace("(", r"\(")):
        parse_event(payload, "gate")
    assert problems("hub/gate/events", payload) != []  # the schema refuses them too
