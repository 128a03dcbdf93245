"""The wire contract as the tests check it: every event and counts message a test
receives or replays is validated against the JSON Schemas in schemas/, which is
what consumers rely on (independently of the agent's own types). Also one event
of every type, as the pipeline builds them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

from agent.events import Event, EventFactory
from agent.rules.findings import Alert, Cross, LeftObject
from agent.track.tracker import Track, TrackEvent

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
BY_TOPIC = {"events": "event-v2.json", "counts": "counts-v1.json"}  # the topic's last level -> its schema
WALL = 1_700_000_000.0  # wall clock minus monotonic clock


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(topic: str, payload: bytes | str) -> list[str]:
    """What is wrong with PAYLOAD as a message on TOPIC; [] when valid or when no schema covers TOPIC."""
    name = BY_TOPIC.get(topic.rsplit("/", 1)[-1])
    if name is None:
        return []
    try:
        message = json.loads(payload)
    except ValueError as exc:
        return [f"{topic}: not JSON: {exc}"]
    return [f"{topic}: {e.json_path}: {e.message}" for e in validator(name).iter_errors(message)]


def track(track_id: int = 1, label: str = "person") -> Track:
    return Track(id=track_id, label=label, score=0.7123, box=(0.1, 0.2, 0.3, 0.6), zones=["road"],
                 start=100.0, last_seen=101.0, confirmed=True)  # fmt: skip


def one_of_each(factory: EventFactory) -> list[Event]:
    """Every event type, with every optional field there once."""
    moto = track(2, "motorcycle")
    return [
        *(factory.presence(TrackEvent(kind, track(), 101.0), WALL) for kind in ("new", "update", "end")),
        factory.cross(Cross("road", "in", moto, 102.0), WALL),
        factory.alert(Alert("yard", "dwell", moto, 103.0, 83.0, clock_unsynced=True), WALL, evidence=True),
        factory.left(
            LeftObject("dump_site", (0.6, 0.7, 0.65, 0.78), 104.0, 134.0, 2, "motorcycle"), WALL, evidence=True
        ),
    ]
