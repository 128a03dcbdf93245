"""What the hub publishes about the scene, as typed objects: the events of
`…/{camera}/events` (schema version 2) and the per-camera `…/{camera}/counts`
summary. Nothing else builds, encodes, marks or reads these messages; the
JSON Schemas in `schemas/` describe the same wire form for consumers.

Event ids are `<object>.<n>`: the object the event is about (for `left`, the
object that was nearest when the thing appeared) and a sequence number of the
camera's run in base 36, so an id never repeats whatever the mix of event
types. An id is made when its event is built and is stored with it in the
spool, so retries carry the same id. The hub and the camera are named by the
topic, so the payload leaves them out; the object id names the camera, which
keeps ids unique on a hub.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar, get_args

from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic validates typing's own only from Python 3.12

from agent.detect.geometry import Box
from agent.rules import findings
from agent.rules.findings import Direction, Reason
from agent.track.tracker import PresenceType, TrackEvent

SCHEMA_VERSION = 2
COUNTS_VERSION = 1
MAX_BYTES = 4096  # the largest event is ~300 bytes; a larger one is a bug upstream

# label -> crossings, per direction (both always there)
DirectionCounts = TypedDict("DirectionCounts", {"in": dict[str, int], "out": dict[str, int]})

_HISTORICAL = b',"historical":true}'
_V1_LIVE = b',"historical":false}'  # how the v1 agent spooled live events: still in a spool after an upgrade


class MessageError(ValueError):
    """A payload that is not a valid message of this contract; the text says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Message:
    """Encoding shared by every message: compact JSON, `v` first, flags only when true
    and `historical` last, so that marking a payload historical is a byte edit."""

    __pydantic_config__: ClassVar = ConfigDict(extra="forbid")
    VERSION: ClassVar[int]

    camera: str  # from the topic; not in the payload
    historical: bool = False  # made while the broker was unreachable, or by an earlier run

    def encode(self) -> bytes:
        """The wire form: one line of JSON, no spaces."""
        body: dict[str, Any] = {"v": self.VERSION}
        for name in _wire_names(type(self)):
            value = getattr(self, name)
            if value is not False:
                body[name] = value
        if self.historical:
            body["historical"] = True
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@functools.cache
def _wire_names(cls: type[_Message]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("camera", "historical"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(_Message):
    VERSION: ClassVar[int] = SCHEMA_VERSION

    id: str
    type: str
    label: str

    @property
    def obj(self) -> str:
        """The object the event is about: its id without the final `.n`."""
        return self.id.rpartition(".")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectEvent(Event):
    """An object in view: `new` once confirmed, `update` on a meaningful change, `end` once gone."""

    type: PresenceType
    score: float
    box: Box
    zones: tuple[str, ...]
    start: float  # first seen
    ts: float  # the moment this event refers to (for `end`: last seen)
    evidence: bool = False  # a picture follows on `…/{camera}/evidence/{id}`


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossEvent(Event):
    """The object's bottom centre crossed the counting line LINE towards its DIR side."""

    type: Literal["cross"] = "cross"
    line: str
    dir: Direction
    ts: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent(Event):
    """A watched object in a guarded zone: it `entered` while guarded, or stayed `dwell` seconds."""

    type: Literal["alert"] = "alert"
    zone: str
    reason: Reason
    score: float
    box: Box  # the object's
    since: float  # when its stay in the zone began
    ts: float
    evidence: bool = False
    clock_unsynced: bool = False  # the clock was not yet synchronised: a scheduled zone was guarded at any hour


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftEvent(Event):
    """Something appeared in ZONE while the object was nearest, and stayed after it went.
    `label` is that object's; `box` is the thing left behind."""

    type: Literal["left"] = "left"
    zone: str
    box: Box
    since: float  # when the thing appeared
    ts: float  # when it was judged left behind
    evidence: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Counts(_Message):
    """Crossings per line, direction and label in the window [start, end): retained, one per camera."""

    VERSION: ClassVar[int] = COUNTS_VERSION

    start: float
    end: float
    lines: dict[str, DirectionCounts]  # per line


EVENT_TYPES: dict[str, type[Event]] = {
    **dict.fromkeys(get_args(PresenceType), ObjectEvent),
    "cross": CrossEvent,
    "alert": AlertEvent,
    "left": LeftEvent,
}


def mark_historical(payload: bytes) -> bytes:
    """PAYLOAD (an encoded message) with `historical: true`, for a spooled message sent late.
    Exact on what `encode` makes, since `historical` is its last key; anything
    that is not a JSON object (a picture) is returned unchanged."""
    if payload.endswith(_HISTORICAL):
        return payload
    if payload.endswith(_V1_LIVE):
        return payload[: -len(_V1_LIVE)] + _HISTORICAL
    if payload.startswith(b"{") and payload.endswith(b"}"):
        return payload[:-1] + _HISTORICAL
    return payload


def too_large(payload: bytes) -> bool:
    """An encoded event beyond MAX_BYTES: a bug upstream, never published."""
    return len(payload) > MAX_BYTES


def parse_event(payload: bytes | str, camera: str) -> Event:
    """The event in PAYLOAD, received on CAMERA's events topic; MessageError says what is wrong."""
    body = _object(payload, SCHEMA_VERSION)
    kind = body.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MessageError(f"type: {body.get('type')!r} is not one of {', '.join(EVENT_TYPES)}")
    return _validate(cls, body, camera)


def parse_counts(payload: bytes | str, camera: str) -> Counts:
    """The counts in PAYLOAD, received on CAMERA's counts topic; MessageError says what is wrong."""
    return _validate(Counts, _object(payload, COUNTS_VERSION), camera)


def _object(payload: bytes | str, version: int) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MessageError(f"not a JSON object but {type(body).__name__}")
    if body.get("v") != version:
        raise MessageError(f"v: {body.get('v')!r}; expected {version}")
    if "camera" in body or body.get("historical") is False:
        raise MessageError("camera or historical: false is never in the payload")
    return body


M = TypeVar("M", bound=_Message)


@functools.cache
def _adapter(cls: type[_Message]) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


def _validate(cls: type[M], body: dict[str, Any], camera: str) -> M:
    fields = {k: v for k, v in body.items() if k != "v"}
    try:
        message = _adapter(cls).validate_json(json.dumps({**fields, "camera": camera}), strict=True)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MessageError(problems) from None
    return message  # type: ignore[no-any-return]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class EventFactory:
    """Builds the events of one camera. Times come in as the tracker's monotonic
    seconds plus WALL_OFFSET (the Pi has no RTC: its wall clock may jump at
    boot, the tracker must not).

    Object ids are the pipeline's start time in milliseconds (base 36), the camera
    and the tracker's id: unique on the hub across cameras, reloads and restarts
    without any stored counter."""

    def __init__(self, camera: str, epoch: float | None = None) -> None:
        self.camera = camera
        self._run = _base36(int((time.time() if epoch is None else epoch) * 1000))
        self._seq = 0

    def object_id(self, track_id: int) -> str:
        return f"{self._run}-{self.camera}-{track_id}"

    def _id(self, track_id: int) -> str:
        self._seq += 1
        return f"{self.object_id(track_id)}.{_base36(self._seq - 1)}"

    def presence(self, event: TrackEvent, wall_offset: float) -> ObjectEvent:
        track = event.track
        return ObjectEvent(
            camera=self.camera, id=self._id(track.id), type=event.type, label=track.label,
            score=round(track.score, 2), box=_box(track.box), zones=tuple(track.zones),
            start=_wall(track.start, wall_offset), ts=_wall(event.ts, wall_offset),
        )  # fmt: skip

    def cross(self, found: findings.Cross, wall_offset: float) -> CrossEvent:
        return CrossEvent(camera=self.camera, id=self._id(found.track.id), label=found.track.label, line=found.line,
                          dir=found.dir, ts=_wall(found.ts, wall_offset))  # fmt: skip

    def alert(self, found: findings.Alert, wall_offset: float, evidence: bool = False) -> AlertEvent:
        track = found.track
        return AlertEvent(
            camera=self.camera, id=self._id(track.id), label=track.label, zone=found.zone, reason=found.reason,
            score=round(track.score, 2), box=_box(track.box), since=_wall(found.since, wall_offset),
            ts=_wall(found.ts, wall_offset), evidence=evidence, clock_unsynced=found.clock_unsynced,
        )  # fmt: skip

    def left(self, found: findings.LeftObject, wall_offset: float, evidence: bool = False) -> LeftEvent:
        return LeftEvent(
            camera=self.camera, id=self._id(found.nearest_id), label=found.nearest_label, zone=found.zone,
            box=_box(found.box), since=_wall(found.appeared, wall_offset), ts=_wall(found.ts, wall_offset),
            evidence=evidence,
        )  # fmt: skip

    def counts(self, found: findings.Counts, wall_offset: float) -> Counts:
        lines: dict[str, DirectionCounts] = {
            name: {"in": dict(per["in"]), "out": dict(per["out"])} for name, per in found.lines.items()
        }
        return Counts(camera=self.camera, start=_wall(found.start, wall_offset), end=_wall(found.end, wall_offset),
                      lines=lines)  # fmt: skip


def _box(box: Box) -> Box:
    x1, y1, x2, y2 = box
    return (round(x1, 3), round(y1, 3), round(x2, 3), round(y2, 3))


def _wall(mono: float, wall_offset: float) -> float:
    return round(mono + wall_offset, 2)
