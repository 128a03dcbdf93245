"""The wire contract as the tests check it: every event and counts message a test
receives or replays is validated against the JSON Schemas in schemas/, which is
what consumers rely on (independently of the agent's own types)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
BY_TOPIC = {"events": "event-v2.json", "counts": "counts-v1.json"}  # the topic's last level -> its schema


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
