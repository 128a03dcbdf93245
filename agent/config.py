"""The hub's configuration schema: the single source of truth for every key.

Loading YAML, `${ENV}` substitution and line-numbered error messages live in
`agent.configfile`; this module only says what a valid configuration is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from agent.detect.catalog import CATALOG, DEFAULT_MODEL
from agent.detect.labels import TRACKED_LABELS
from agent.rules.schedule import FORMAT as PERIOD_FORMAT
from agent.rules.schedule import check_period
from agent.track.families import FAMILIES, FAMILY

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
TOPIC_PATTERN = r"^[^#+\s]+$"
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Unit, Unit]


class Strict(BaseModel):
    """Unknown keys are refused everywhere: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldError(ValueError):
    """A validation error about one key below the value being validated (AT: its path from there),
    so that the message can name that key and its line rather than the whole list or file."""

    def __init__(self, message: str, at: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.at = at


def _check_polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points [x, y], got {len(points)}")
    n = len(points)
    for i in range(n):
        if points[i] == points[(i + 1) % n]:
            raise ValueError(f"point {(i + 1) % n + 1} repeats point {i + 1}; expected each corner once")
    crossing = _first_crossing(points)
    if crossing is not None:
        (a, b), (c, d) = ((k + 1, (k + 1) % n + 1) for k in crossing)
        raise ValueError(
            f"the side from point {a} to {b} crosses the side from point {c} to {d} (counted from 1); "
            "expected the points in order around the area"
        )
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True))
    if abs(area2) < 1e-6:
        raise ValueError("the polygon's points are in a line: it covers no area")
    return points


def _first_crossing(points: list[Point]) -> tuple[int, int] | None:
    """The first two sides (by their first point) that cross or touch, other than neighbours at their shared point."""
    n = len(points)
    sides = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n - 1 if i == 0 else n):
            if _segments_meet(*sides[i], *sides[j]):
                return i, j
    return None


def _segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    o1, o2, o3, o4 = _turn(a, b, c), _turn(a, b, d), _turn(c, d, a), _turn(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    return any(
        turn == 0 and _within(p, q, r) for turn, p, q, r in ((o1, a, c, b), (o2, a, d, b), (o3, c, a, d), (o4, c, b, d))
    )


def _turn(p: Point, q: Point, r: Point) -> int:
    cross = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return (cross > 0) - (cross < 0)


def _within(p: Point, q: Point, r: Point) -> bool:
    """Q, on the line through P and R, lies between them."""
    return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(p[1], r[1])


# More corners than anyone draws by hand; it bounds the crossing check (which compares every two sides).
MAX_POINTS = 32
Polygon = Annotated[list[Point], Field(max_length=MAX_POINTS), AfterValidator(_check_polygon)]
LabelName = Literal[TRACKED_LABELS]  # type: ignore[valid-type]


class ObjectFilter(Strict):
    min_score: float = Field(0.5, gt=0.0, le=1.0, description="weakest detection of this label that counts")
    min_area: Unit = Field(0.0, description="smallest box, as a fraction of the picture")
    max_area: Unit = Field(1.0, description="largest box, as a fraction of the picture")

    @model_validator(mode="after")
    def _area_order(self) -> ObjectFilter:
        if self.min_area > self.max_area:
            raise ValueError(f"min_area ({self.min_area}) must not exceed max_area ({self.max_area})")
        return self


def _default_objects() -> dict[str, ObjectFilter]:
    # Vehicles seen from above or blurred by speed score low, and little else in a
    # street scores as one: weak detections keep their tracks alive (the tracker's
    # seed_score decides what starts one). Cones and signs score ~0.45 as people.
    return {label: ObjectFilter(min_score=0.5 if label == "person" else 0.3) for label in TRACKED_LABELS}


CatalogName = Literal[tuple(CATALOG)]  # type: ignore[valid-type]


class DetectorConfig(Strict):
    model: CatalogName | Path | None = Field(
        None,
        description="a catalog model (" + ", ".join(CATALOG) + "; `camhub-agent model fetch NAME` installs it) "
        f"or the path of a .tflite file; default: $CAMHUB_MODEL, else {DEFAULT_MODEL}",
    )
    labels: Path | None = Field(
        None, description="a labelmap.txt, one name per class id; default: the model's own (COCO's names)"
    )
    runtime: Literal["auto", "litert", "tflite"] = Field(
        "auto", description="auto: LiteRT (ai-edge-litert) if installed, else tflite-runtime"
    )
    threads: int = Field(2, ge=1, le=8, description="interpreter threads")
    objects: dict[LabelName, ObjectFilter] = Field(
        default_factory=_default_objects,
        description="labels to report (person, bicycle, car, motorcycle, bus, truck), each with "
        "min_score (default 0.5 for person, 0.3 for the others), min_area, max_area; a label left out is ignored",
    )

    @field_validator("model")
    @classmethod
    def _name_or_file(cls, model: str | Path | None) -> str | Path | None:
        # A bare word that is no catalog name is a misspelt name far more often than a file in the cwd.
        if isinstance(model, Path) and model.parent == Path() and not model.suffix:
            raise ValueError(f"unknown model '{model}'; expected one of {', '.join(CATALOG)} or a .tflite file path")
        return model

    @field_validator("objects")
    @classmethod
    def _some_labels(cls, objects: dict[str, ObjectFilter]) -> dict[str, ObjectFilter]:
        if not objects:
            raise ValueError("at least one label is needed")
        return objects


# Tracker settings, each declared once and used at every level of `tracker`
# (all objects, a family, a label) with its own default.
Hits = Annotated[int, Field(ge=1, le=30, description="detections needed before `new`")]
ForgetAfter = Annotated[
    float,
    Field(
        gt=0.0,
        le=60.0,
        description="seconds an unconfirmed object may go unseen before it is forgotten: "
        "its detections must come no further apart than this",
    ),
]
ConfirmScore = Annotated[
    float, Field(gt=0.0, le=1.0, description="median score needed for `new` by an object that moves")
]
StillScore = Annotated[
    float,
    Field(
        gt=0.0,
        le=1.0,
        description="median score needed for `new` by an object that has not moved half its size "
        "(cones and signs taken for people never walk)",
    ),
]
SeedScore = Annotated[
    float,
    Field(gt=0.0, le=1.0, description="weakest detection that starts a track; weaker ones only keep tracks alive"),
]
EndAfter = Annotated[float, Field(gt=0.0, le=600.0, description="seconds unseen before `end`")]
ExitAfter = Annotated[
    float,
    Field(gt=0.0, le=600.0, description="seconds unseen before `end` for an object walking out of the frame"),
]


class TrackRules(Strict):
    """When an object becomes an event and when it ends; all in seconds and
    detections, so that one setting means the same at any frame rate and with
    the motion gate skipping frames."""

    confirm_hits: Hits = 3
    forget_after: ForgetAfter = 0.5
    confirm_score: ConfirmScore = 0.6
    still_score: StillScore = 0.7
    seed_score: SeedScore = 0.5
    end_after: EndAfter = 5.0
    exit_after: ExitAfter = 1.0

    def merged(self, other: TrackRules) -> TrackRules:
        """These rules with the keys OTHER was given explicitly."""
        given = other.model_fields_set & TrackRules.model_fields.keys()
        return self.model_copy(update={k: getattr(other, k) for k in given})


class VehicleRules(TrackRules):
    """Vehicles and two-wheelers cross a picture in 2-4 s and, seen from above or
    blurred, score low: two detections suffice when the object moves. What the
    models take for a vehicle wrongly (road markings, whole-frame boxes) stays
    put, so a vehicle that never moved needs a good score; a parked car has one."""

    confirm_hits: Hits = 2
    confirm_score: ConfirmScore = 0.5
    still_score: StillScore = 0.5


def _family_field(defaults: type[TrackRules], who: str) -> TrackRules:
    return Field(
        default_factory=defaults,
        description=f"settings for {who}; keys given here win over the same keys given for all objects",
    )


class TrackerConfig(TrackRules):
    """The keys of TrackRules here apply to every object; a family's section, then
    a label's, overrides the keys it gives."""

    person: TrackRules = _family_field(TrackRules, "people")
    two_wheeler: VehicleRules = _family_field(VehicleRules, "bicycles and motorcycles")
    vehicle: VehicleRules = _family_field(VehicleRules, "cars, buses and trucks")
    labels: dict[LabelName, TrackRules] = Field(
        default_factory=dict,
        description="settings for one label (person, bicycle, car, motorcycle, bus, truck); "
        "only the keys given override its family's",
    )
    match_distance: float = Field(
        1.0, gt=0.0, le=10.0, description="how far a detection may lie from a track's predicted box, in box sizes"
    )
    update_interval: float = Field(10.0, ge=0.0, le=3600.0, description="minimum seconds between updates")
    score_step: float = Field(0.2, gt=0.0, le=1.0, description="median score change that earns an update")

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: object) -> object:
        """Keys of earlier versions: `confirm_window` counted detector passes (at the
        camera's default 5 fps, so many fifths of a second between detections);
        `still_person_score` was the person family's `still_score`."""
        if not isinstance(data, dict) or not {"confirm_window", "still_person_score"} & data.keys():
            return data
        data = dict(data)
        if "confirm_window" in data:
            passes = data.pop("confirm_window")
            if isinstance(passes, bool) or not isinstance(passes, int | float) or passes <= 0:
                raise ValueError(
                    f"confirm_window: got {passes!r}; expected a positive number of detector passes "
                    "(better: forget_after, in seconds)"
                )
            data.setdefault("forget_after", min(passes / CameraConfig.model_fields["fps"].default, 60.0))
        if "still_person_score" in data:
            person = dict(data.get("person") or {})
            person.setdefault("still_score", data.pop("still_person_score"))
            data["person"] = person
        return data

    @model_validator(mode="after")
    def _complete_sections(self) -> TrackerConfig:
        """Each family's and label's section becomes the settings that apply to it: its
        family's defaults, then the keys given for all objects, for the family and for
        the label. What check-config shows is then what applies."""
        for family in FAMILIES:
            section = getattr(self, family)
            object.__setattr__(self, family, type(section)().merged(self).merged(section))
        labels = {label: self._family_section(label).merged(given) for label, given in self.labels.items()}
        object.__setattr__(self, "labels", labels)
        return self

    def _family_section(self, label: str) -> TrackRules:
        family = FAMILY.get(label)
        return getattr(self, family) if family else TrackRules().merged(self)

    def rules(self, label: str) -> TrackRules:
        """The settings for LABEL."""
        return self.labels.get(label) or self._family_section(label)

    def shortest_end_after(self) -> float:
        return min(self.rules(label).end_after for label in TRACKED_LABELS)


class MotionConfig(Strict):
    """The motion gate: when the detector runs on this camera's frames (agent.motion)."""

    enabled: bool = Field(True, description="false: run the detector on every frame, as --every-frame does")
    width: int = Field(160, ge=32, le=640, description="grey frame width for the motion test")
    threshold: int = Field(25, ge=1, le=255, description="pixel difference that counts as change")
    min_area: Unit = Field(0.001, description="smallest moving region, fraction of the frame")
    adapt_seconds: float = Field(
        2.0,
        gt=0.0,
        le=600.0,
        description="time constant of the running-average background: how fast light drift "
        "and objects that stopped fade into it",
    )
    recalibrate_ratio: Unit = Field(0.5, description="changed fraction that means a global change, not motion")
    keepalive: float = Field(10.0, gt=0.0, le=3600.0, description="seconds between detector runs without motion")
    recheck: float = Field(
        1.5,
        gt=0.0,
        le=60.0,
        description="seconds between whole-frame detector runs while objects are tracked and nothing moves; "
        "keep it below half of tracker.end_after, so that one missed re-check does not end a track",
    )
    regions: int = Field(
        0,
        ge=0,
        le=8,
        description="detect on up to this many squares around motion, at the model's input size, "
        "instead of the whole frame (more motion: whole frame); 0: always the whole frame",
    )


class LeftBehindConfig(Strict):
    """A zone's watch for objects left behind (agent.rules.left_behind). In a zone's
    mapping, `left_behind: N` is short for `{after: N}` and `true` takes the defaults."""

    after: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="seconds a new object must stay still, with no person or vehicle on it, before `left`",
    )
    near: float = Field(
        1.0,
        ge=0.0,
        le=5.0,
        description="how far from a person or vehicle the object may appear, in that one's box heights",
    )
    min_size: Unit = Field(0.0005, description="smallest object, as a fraction of the picture")
    max_size: Unit = Field(0.05, description="largest object, as a fraction of the picture")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if value is True:
            return {}
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"after": value}
        return value

    @model_validator(mode="after")
    def _size_order(self) -> LeftBehindConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        return self


Size = tuple[Annotated[int, Field(ge=16, le=8192)], Annotated[int, Field(ge=16, le=8192)]]
Period = Annotated[str, AfterValidator(check_period)]
WatchedObject = Literal[(*TRACKED_LABELS, "vehicle")]  # type: ignore[valid-type]


class CountingLine(Strict):
    points: list[Point] = Field(
        description="[[x, y], [x, y]] (fractions of the picture); facing from the first point to the second, "
        "`in` is the side on the right hand"
    )
    events: bool = Field(False, description="also publish a `cross` event for every crossing (counts always are)")

    @field_validator("points")
    @classmethod
    def _two_points(cls, points: list[Point]) -> list[Point]:
        if len(points) != 2:
            raise ValueError(f"a line needs 2 points [x, y], got {len(points)}")
        (ax, ay), (bx, by) = points
        if abs(bx - ax) + abs(by - ay) < 0.01:
            raise ValueError("the two points are (almost) the same: a line needs two distinct points")
        return points


class Zone(Strict):
    """A named area; written as a bare polygon it only names where objects are,
    with `entered` or `dwell` it is guarded, with `left_behind` it watches for things left there."""

    points: Polygon = Field(
        description="[[x, y], ...] (fractions of the picture); an object is in the zone by the bottom centre of its box"
    )
    objects: list[WatchedObject] = Field(
        default_factory=lambda: ["person", "vehicle"],
        min_length=1,
        description="who the zone's rules watch: labels, or `vehicle` for bicycle, car, motorcycle, bus and truck",
    )
    entered: bool = Field(False, description="alert once for every watched object in the zone while it is guarded")
    dwell: float | None = Field(
        None,
        gt=0.0,
        le=86400.0,
        description="alert once for every watched object that stays this many seconds in the zone while it is "
        "guarded; null: no dwell alert",
    )
    schedule: list[Period] | None = Field(
        None,
        description=f"when the zone is guarded, in the hub's time zone: one period or a list, each {PERIOD_FORMAT}; "
        "a period belongs to the day it starts; null: always. Guarded at all hours while the hub's clock is not "
        "synchronised",
    )

    left_behind: LeftBehindConfig | None = Field(
        None,
        description="watch for objects left here (a bag, a box) -> `left`, at any hour: N (seconds still), true "
        "(defaults) or a mapping; null or false: no watch",
    )

    @field_validator("left_behind", mode="before")
    @classmethod
    def _false_is_none(cls, value: Any) -> Any:
        return None if value is False else value

    @model_validator(mode="before")
    @classmethod
    def _bare_polygon(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"points": TypeAdapter(Polygon).validate_python(data)}
        if not isinstance(data, dict):
            raise ValueError("expected a polygon [[x, y], ...] or a mapping with points:")
        return data

    @field_validator("schedule", mode="before")
    @classmethod
    def _one_period(cls, schedule: Any) -> Any:
        return [schedule] if isinstance(schedule, str) else schedule

    @model_validator(mode="after")
    def _rule_for_schedule(self) -> Zone:
        if self.schedule is not None and not self.guarded:
            raise ValueError("a schedule says when the zone's rules apply, but it has none: add entered: true or dwell")
        return self

    @property
    def guarded(self) -> bool:
        return self.entered or self.dwell is not None


class PiCameraConfig(Strict):
    """Only read when `source` is `picamera` or `picamera:N`."""

    main_size: Size = Field((1920, 1080), description="[width, height] of the main stream, used for snapshots")
    lores_size: Size = Field((640, 480), description="[width, height] of the lores stream, used for detection")
    sensor_mode: int | None = Field(
        None, ge=0, description="index into Picamera2.sensor_modes; default: libcamera picks one for main_size"
    )
    fps: float | None = Field(
        None, gt=0.0, le=120.0,
        description="sensor frame rate; default: the camera's fps. Higher caps exposure time (less blur at night)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _sizes(self) -> PiCameraConfig:
        for name, (width, height) in (("main_size", self.main_size), ("lores_size", self.lores_size)):
            if width % 2 or height % 2:
                raise ValueError(f"{name} {width}x{height}: width and height must be even (YUV420 needs it)")
        if self.lores_size[0] > self.main_size[0] or self.lores_size[1] > self.main_size[1]:
            raise ValueError("lores_size must not be larger than main_size (libcamera refuses it)")
        return self


class CameraConfig(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN, description="the camera's name in topics and events")]
    source: str = Field(
        description="rtsp://user:pass@host/path, http(s)://..., usb:N or /dev/videoN, picamera or picamera:N, "
        "or a video file"
    )
    enabled: bool = Field(True, description="false: keep the camera in the file but do not open it")
    fps: float = Field(5.0, gt=0.0, le=60.0, description="most frames per second analysed")
    loop: bool = Field(False, description="files only: start again at the end")
    open_timeout: float = Field(10.0, gt=0.0, le=120.0, description="seconds to wait for the camera to answer")
    read_timeout: float = Field(10.0, gt=0.0, le=120.0, description="seconds without a frame before reconnecting")
    stall_timeout: float = Field(
        20.0, gt=0.0, le=3600.0,
        description="seconds without a new or changed frame before the camera counts as down and is reopened",
    )  # fmt: skip
    zones: dict[Annotated[str, Field(pattern=ID_PATTERN)], Zone] = Field(
        default_factory=dict,
        max_length=16,
        description="named areas: a polygon [[x, y], ...] (fractions of the picture), or a mapping with points "
        "and rules; an object is in a zone by the bottom centre of its box. At most 16 zones of at most "
        f"{MAX_POINTS} points: every zone is tested for every detection",
    )
    lines: dict[Annotated[str, Field(pattern=ID_PATTERN)], CountingLine] = Field(
        default_factory=dict, max_length=16, description="named counting lines; at most 16"
    )
    counts_interval: float = Field(
        300.0, ge=10.0, le=86400.0, description="seconds between the summaries of crossings of this camera's lines"
    )
    masks: list[Polygon] = Field(
        default_factory=list,
        max_length=16,
        description="polygons where objects and motion are ignored, painted black on snapshots; "
        f"at most 16 of at most {MAX_POINTS} points",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig, description="the motion gate")
    picamera: PiCameraConfig = Field(default_factory=PiCameraConfig, description="Pi camera streams")

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        if not source.strip():
            raise ValueError("empty source; expected a file path, rtsp://..., usb:N, /dev/videoN or picamera")
        if _URL.match(source) or _DEVICE.match(source):
            return source
        urlish = _URLISH.match(source)
        if urlish is None:
            return source  # a video file
        if urlish.group(2) != "://":
            raise ValueError(f"looks like a URL with a mistyped scheme; expected {_URL_FORMS}")
        if urlish.group(1).lower() in _SCHEMES:
            raise ValueError(f"URL without a host; expected {_URL_FORMS}")
        raise ValueError(f"unsupported URL scheme {urlish.group(1)!r}; expected {_URL_FORMS}")


_SCHEMES = ("rtsp", "rtsps", "http", "https")
_URL = re.compile(rf"(?i)^({'|'.join(_SCHEMES)})://[^/\s]+")
_DEVICE = re.compile(r"^(usb:\d+|picamera(:\d+)?|/dev/.+)$")
# `word:`, `word//` or `word://` at the start: meant as a URL (`rtsp:/`, `rtsp//`, `rstp://`), not a file name.
_URLISH = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)(://|:|//)")
_URL_FORMS = "rtsp://host/path (with user:password@ before the host), rtsps://, http:// or https://"


def is_file_source(source: str) -> bool:
    """SOURCE names a video file (what is not a URL nor a camera device)."""
    return not (_URL.match(source) or _DEVICE.match(source) or _URLISH.match(source))


class TLSConfig(Strict):
    enabled: bool = Field(False, description="TLS 1.2 or newer to the broker")
    ca_file: Path | None = Field(None, description="CA certificate (PEM) to trust; default: the system's")
    cert_file: Path | None = Field(None, description="client certificate (PEM), with key_file")
    key_file: Path | None = Field(None, description="the client certificate's key (PEM)")
    insecure: bool = Field(False, description="skip the server name check (tests only; warns at every start)")

    @model_validator(mode="after")
    def _pair(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


class BrokerAddress(Strict):
    host: str = Field(min_length=1, description="broker address")
    port: int = Field(1883, ge=1, le=65535, description="broker port")


class HomeAssistantConfig(Strict):
    enabled: bool = Field(False, description="publish Home Assistant MQTT discovery topics")
    prefix: str = Field("homeassistant", description="Home Assistant's discovery prefix")


class MQTTConfig(Strict):
    host: str = Field("localhost", min_length=1, description="the commune server's MQTT broker")
    port: int = Field(1883, ge=1, le=65535, description="its port (8883 for TLS)")
    failover: list[BrokerAddress] = Field(
        default_factory=list,
        max_length=8,
        description="brokers [{host, port}] tried in turn while the first is unreachable; at most 8, "
        "since each unreachable one adds its connect timeout to every round",
    )
    topic_prefix: str = Field("camhub", pattern=TOPIC_PATTERN, description="topics are <topic_prefix>/<hub_id>/...")
    client_id: str | None = Field(None, description="MQTT client id; default: camhub-<hub_id>")
    protocol: Literal["3.1.1", "5"] = Field("5", description="MQTT version; 5 reports refused publishes")
    keepalive: int = Field(30, ge=5, le=3600, description="seconds; the Last Will fires ~1.5x this after a hang")
    username: str | None = Field(None, description="broker user name")
    password: SecretStr | None = Field(
        None, description="broker password; better ${ENV}, password_file or the systemd credential mqtt-password"
    )

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # `${VAR:-}` for an optional secret yields "": that means "not set".
        return None if value == "" else value

    password_file: Path | None = Field(None, description="a file holding the password (a trailing newline is ignored)")
    tls: TLSConfig = Field(default_factory=TLSConfig, description="encryption")
    stats_interval: float = Field(60.0, ge=5.0, le=3600.0, description="seconds between stats messages")
    status_interval: float = Field(
        600.0, ge=5.0, le=86_400.0,
        description="the retained status goes out when what it says changes and at every connect; otherwise "
        "again after this many seconds, to restore a lost or cleared copy and refresh its counters",
    )  # fmt: skip
    max_payload: int = Field(65536, ge=256, le=1048576, description="largest command accepted, bytes")
    reconnect_max_delay: float = Field(
        60.0,
        ge=1.0,
        le=3600.0,
        description="longest wait between connection rounds (backoff doubles from 1 s, with jitter); "
        "also how often the first broker is probed while connected to a failover broker",
    )
    max_inflight: int = Field(20, ge=1, le=500, description="events published and awaiting PUBACK at once")
    command_rate: float = Field(
        2.0, gt=0.0, le=1000.0, description="commands accepted per second on average (bursts of 5 s worth)"
    )
    homeassistant: HomeAssistantConfig = Field(
        default_factory=HomeAssistantConfig, description="Home Assistant discovery"
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
            raise ValueError("topic_prefix must not start or end with '/' nor contain '//'")
        return prefix

    @model_validator(mode="after")
    def _one_password(self) -> MQTTConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self


class SpoolConfig(Strict):
    path: Path = Field(Path("/var/lib/camhub-agent/spool.db"), description="the SQLite file events wait in")
    max_mb: float = Field(100.0, ge=1.0, le=100_000.0, description="size beyond which the oldest are dropped")
    max_age_days: float = Field(30.0, gt=0.0, le=3650.0, description="age beyond which events are dropped")


class EvidenceConfig(Strict):
    enabled: bool = Field(True, description="send a small JPEG with `alert` and `left` events")
    new: bool = Field(False, description="also with `new` events (every object that appears): costs the most bytes")
    target_kb: float = Field(
        8.0, ge=2.0, le=200.0, description="the most kilobytes one picture may take; its JPEG quality is fitted to it"
    )
    daily_mb: float = Field(
        5.0, ge=0.1, le=10_000.0,
        description="picture megabytes the hub may send per day (a day in `timezone`), shared by every camera; "
        "the last half is kept for `alert` and `left` pictures, the last fifth for `alert`. 5 MB a day is 150 MB "
        "a month, a small share of a rural prepaid data plan, and ~600 pictures of 8 kB a day",
    )  # fmt: skip
    spool_mb: float = Field(
        20.0, ge=1.0, le=100_000.0,
        description="size of the pictures' own spool, a file beside spool.path (spool.db: spool-evidence.db): "
        "the oldest pictures are dropped beyond it, never an event",
    )  # fmt: skip


class LogConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="least severe level logged")
    format: Literal["text", "json"] = Field("text", description="text lines, or one JSON object per line")


MAX_CAMERAS = 16


class HubConfig(Strict):
    hub_id: Annotated[str, Field(pattern=ID_PATTERN, description="this hub's name, unique in the commune")]
    mqtt: MQTTConfig = Field(default_factory=MQTTConfig, description="the uplink")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="the model")
    tracker: TrackerConfig = Field(
        default_factory=TrackerConfig,
        description="when objects become events; a key given here applies to every object, "
        "unless the object's family or label section gives it too",
    )
    cameras: list[CameraConfig] = Field(
        min_length=1,
        max_length=MAX_CAMERAS,
        description=f"one entry per camera; at most {MAX_CAMERAS}: one Pi decodes every stream and its one "
        "detector serves the cameras in turn, so beyond a handful each camera gets too few detector runs",
    )
    spool: SpoolConfig = Field(default_factory=SpoolConfig, description="events waiting for the broker")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="pictures that prove an alert")
    log: LogConfig = Field(default_factory=LogConfig, description="logging to stderr (journald)")
    timezone: str | None = Field(
        None,
        description="the hub's time zone for zone schedules, a zoneinfo name such as Asia/Ho_Chi_Minh; "
        "default: the system's (TZ, else /etc/localtime)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r}; expected a name like Asia/Ho_Chi_Minh") from None
        return name

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: dict[str, int] = {}
        for i, cam in enumerate(cameras):
            if cam.id in seen:
                raise FieldError(
                    f"duplicate camera id {cam.id!r} (cameras[{seen[cam.id]}] has it); each camera needs its own id",
                    (i, "id"),
                )
            seen[cam.id] = i
        return cameras

    @model_validator(mode="after")
    def _recheck_within_end(self) -> HubConfig:
        for i, cam in enumerate(self.cameras):
            end_after = self.tracker.shortest_end_after()
            if cam.motion.enabled and cam.motion.recheck * 2 > end_after:
                raise FieldError(
                    f"{cam.motion.recheck} must be at most half of the shortest tracker end_after "
                    f"({end_after}): objects standing still would end between two re-checks",
                    ("cameras", i, "motion", "recheck"),
                )
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        return next(c for c in self.cameras if c.id == camera_id)
