"""The hub's configuration schema: the single source of truth for every key.

Loading YAML, `${ENV}` substitution and line-numbered error messages live in
`agent.configfile`; this module only says what a valid configuration is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from agent.detect.catalog import CATALOG, DEFAULT_MODEL
from agent.detect.labels import TRACKED_LABELS
from agent.track.families import FAMILIES, FAMILY

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
TOPIC_PATTERN = r"^[^#+\s]+$"
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Unit, Unit]


class Strict(BaseModel):
    """Unknown keys are refused everywhere: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points [x, y], got {len(points)}")
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True))
    if abs(area2) < 1e-6:
        raise ValueError("the polygon's points are in a line: it covers no area")
    return points


Polygon = Annotated[list[Point], AfterValidator(_check_polygon)]
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


Size = tuple[Annotated[int, Field(ge=16, le=8192)], Annotated[int, Field(ge=16, le=8192)]]


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
    zones: dict[Annotated[str, Field(pattern=ID_PATTERN)], Polygon] = Field(
        default_factory=dict,
        description="named polygons [[x, y], ...] (fractions of the picture); an object is in a zone "
        "by the bottom centre of its box",
    )
    masks: list[Polygon] = Field(
        default_factory=list,
        description="polygons where objects and motion are ignored, painted black on snapshots",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig, description="the motion gate")
    picamera: PiCameraConfig = Field(default_factory=PiCameraConfig, description="Pi camera streams")

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        if not source.strip():
            raise ValueError("empty source; expected a file path, rtsp://..., usb:N, /dev/videoN or picamera")
        if "://" in source and not re.match(r"^(rtsp|rtsps|http|https)://[^/\s]+", source):
            raise ValueError("unsupported URL; expected rtsp://, rtsps://, http:// or https://")
        return source


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
        default_factory=list, description="brokers [{host, port}] tried in turn while the first is unreachable"
    )
    topic_prefix: str = Field(
        "camhub", pattern=TOPIC_PATTERN, description="topics are <topic_prefix>/<hub_id>/..."
    )
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


class LogConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="least severe level logged")
    format: Literal["text", "json"] = Field("text", description="text lines, or one JSON object per line")


class HubConfig(Strict):
    hub_id: Annotated[str, Field(pattern=ID_PATTERN, description="this hub's name, unique in the commune")]
    mqtt: MQTTConfig = Field(default_factory=MQTTConfig, description="the uplink")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="the model")
    tracker: TrackerConfig = Field(
        default_factory=TrackerConfig,
        description="when objects become events; a key given here applies to every object, "
        "unless the object's family or label section gives it too",
    )
    cameras: list[CameraConfig] = Field(min_length=1, description="one entry per camera")
    spool: SpoolConfig = Field(default_factory=SpoolConfig, description="events waiting for the broker")
    log: LogConfig = Field(default_factory=LogConfig, description="logging to stderr (journald)")

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"duplicate camera id {cam.id!r}; each camera needs its own id")
            seen.add(cam.id)
        return cameras

    @model_validator(mode="after")
    def _recheck_within_end(self) -> HubConfig:
        for i, cam in enumerate(self.cameras):
            end_after = self.tracker.shortest_end_after()
            if cam.motion.enabled and cam.motion.recheck * 2 > end_after:
                raise ValueError(
                    f"cameras[{i}].motion.recheck ({cam.motion.recheck}) must be at most half of tracker.end_after "
                    f"({end_after}): objects standing still would end between two re-checks"
                )
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        return next(c for c in self.cameras if c.id == camera_id)
