"""Bytes a 4-camera hub sends in a simulated village day: events, counts, evidence
pictures and telemetry, side by side, per day and per 30-day month.

Every clip is replayed once through the agent's own pipeline (gate, model,
tracker, rules, left watch, evidence under the budget), with one village camera
config: a counting line across the picture, two dwell zones where people in
vtest.avi stand still, and a left-behind watch over the lower half. What each
clip produced is then scaled to the day:

- quiet.mp4 is the still village. It is replayed three times in a row through
  one pipeline and only the last two passes are counted, so what exists only
  because a replay starts or stops (the `new` of the parked car, the `end` at
  the finish) is not multiplied by the ~1,400 minutes of quiet in a day;
- a burst (vtest.avi: ~12 people in 80 s; car-detection.mp4: 4 cars in 30 s;
  tree.avi: a tree in the wind) counts whole, as often as DAY says it happens;
  the rest of each camera's day is quiet;
- counts: one summary per camera and `counts_interval`, of the measured size;
- pictures: what the bursts produced, but never more than the daily budget;
- telemetry from the agent's own Health, with every camera a day online and real
  footage through its pipeline: stats (QoS 0) every `stats_interval`, the
  retained status at the connect and every `status_interval` (a quiet day
  changes nothing in it; each camera state change adds one), `online` once a
  day, and one keepalive (PINGREQ and PINGRESP, 2 bytes each) per `keepalive`
  seconds, an upper bound: the client pings only when it sent nothing else in
  that time.

Sizes are MQTT 3.1.1 packets (PUBLISH with its topic, and the 4-byte PUBACK of
QoS 1); TCP/IP and TLS headers come on top (~40-70 bytes per packet).

    .venv/bin/python benchmarks/village_day.py
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
from common import MEDIA, MODEL

from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.events import Counts, Event
from agent.evidence import EvidenceBudget, Picture
from agent.frame import Frame
from agent.health import Health
from agent.pipeline import CameraPipeline, Output
from agent.uplink.mqtt import Uplink, _report
from agent.uplink.spool import Spool
from agent.uplink.topics import Topics

DAY_S = 86_400
PHONE = [[0.37, 0.47], [0.45, 0.47], [0.45, 0.54], [0.37, 0.54]]  # where people in vtest.avi stand still
WAITING = [[0.82, 0.68], [0.9, 0.68], [0.9, 0.76], [0.82, 0.76]]
CAMERA: dict[str, Any] = {
    "lines": {"across": {"points": [[0.5, 0.0], [0.5, 1.0]]}},
    "zones": {
        "phone": {"points": PHONE, "objects": ["person"], "dwell": 5},
        "waiting": {"points": WAITING, "objects": ["person"], "dwell": 5},
        "verge": {"points": [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]], "left_behind": True},
    },
}
# Per camera: how many times a day each burst clip happens; the rest of the day is quiet.
DAY: dict[str, dict[str, int]] = {
    "road": {"car-detection.mp4": 60, "vtest.avi": 4},  # 240 cars, ~50 passers-by
    "square": {"vtest.avi": 24, "car-detection.mp4": 10},  # ~290 people, 40 cars
    "dump": {"vtest.avi": 3, "tree.avi": 120},  # an hour of wind in the trees
    "gate": {"vtest.avi": 6},
}
BURSTS = sorted({clip for plan in DAY.values() for clip in plan})
STATS_FRAMES = 200  # of vtest.avi through each camera, so that stats hold real rates, counts and detector times


@dataclasses.dataclass
class Tally:
    """MQTT bytes (both directions) and messages, by kind."""

    bytes: Counter[str] = dataclasses.field(default_factory=Counter)
    messages: Counter[str] = dataclasses.field(default_factory=Counter)

    def add(self, kind: str, nbytes: float, count: float = 1.0) -> None:
        self.bytes[kind] += nbytes
        self.messages[kind] += count

    def scaled(self, factor: float) -> Tally:
        out = Tally()
        for kind in self.bytes:
            out.add(kind, self.bytes[kind] * factor, self.messages[kind] * factor)
        return out


def publish_bytes(topic: str, payload: int, qos: int) -> int:
    """A PUBLISH packet, plus the PUBACK of QoS 1."""
    body = 2 + len(topic.encode()) + (2 if qos else 0) + payload
    length_bytes = 1 if body < 128 else 2 if body < 16_384 else 3
    return 1 + length_bytes + body + (4 if qos else 0)


def frames(video: Path, start_ts: float = 0.0) -> Iterator[Frame]:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        ts = start_ts + index / fps
        yield Frame("cam", index, ts, 1_800_000_000.0 + ts, image)
        index += 1
    capture.release()


def tally(outputs: list[Output], topics: Topics) -> Tally:
    out = Tally()
    for item in outputs:
        if isinstance(item, Picture):
            out.add("pictures", publish_bytes(topics.evidence("cam", item.event_id), len(item.jpeg), 1))
        elif isinstance(item, Counts):
            out.add("counts", publish_bytes(topics.counts("cam"), len(item.encode()), 1))
        elif isinstance(item, Event):
            out.add("events", publish_bytes(topics.events("cam"), len(item.encode()), 1))
    return out


def replay(config: HubConfig, detector: Detector, video: Path, passes: int = 1, counted_from: int = 0) -> Tally:
    """VIDEO PASSES times in a row through one pipeline; the outputs of the passes from COUNTED_FROM on."""
    pipeline = CameraPipeline(config, config.cameras[0], detector, budget=EvidenceBudget(10**9))
    topics = Topics.from_config(config)
    counted: list[Output] = []
    duration = 0.0
    for index in range(passes):
        outputs: list[Output] = []
        last = duration
        for frame in frames(video, duration):
            outputs += pipeline.process(frame)
            last = frame.mono
        duration = last + 0.1
        if index >= counted_from:
            counted += outputs
    if passes == 1:
        counted += pipeline.finish()
    return tally(counted, topics)


@dataclasses.dataclass
class DayOldCamera:
    """A camera worker's state after a day online: what the status shows of a real one."""

    fps: float = 9.98

    def state(self) -> dict[str, Any]:
        frames = round(self.fps * DAY_S)
        return {"state": "online", "reconnects": 0, "frames": frames, "fps": self.fps, "last_frame_age": 0.04,
                "last_error": None}  # fmt: skip


def telemetry(config: HubConfig, detector: Detector, directory: Path, delivered: int) -> tuple[Tally, int, int]:
    """A day of status, stats, availability and keepalives, sized by the agent's own Health as a
    working hub has it: every camera online for a day, its pipeline fed real footage, the day's
    DELIVERED messages counted. The tally, and the sizes of one stats and one status message."""
    (directory / "hub.yaml").write_text("hub_id: village\n")
    spool = Spool.from_config(config.spool)
    pictures = Spool.for_pictures(config.spool, config.evidence.spool_mb)
    budget = EvidenceBudget(int(config.evidence.daily_mb * 1024 * 1024), config.timezone)
    uplink = Uplink(config, spool)
    uplink.counts["delivered"] = delivered
    health = Health(config, directory / "hub.yaml", detector, spool, uplink, pictures, budget)
    workers = {c.id: DayOldCamera() for c in config.cameras}
    pipelines = {c.id: CameraPipeline(config, c, detector, budget=budget) for c in config.cameras}
    for pipeline in pipelines.values():
        for frame in itertools.islice(frames(MEDIA / "vtest.avi"), STATS_FRAMES):
            pipeline.process(frame)
    topics = Topics.from_config(config)
    mqtt = config.mqtt
    out = Tally()
    stats = len(_report(health.stats(workers, pipelines, mqtt.stats_interval)))
    status = len(_report(health.status(workers, pipelines)))
    per_day = DAY_S / mqtt.stats_interval
    out.add("telemetry: stats", publish_bytes(topics.stats, stats, 0) * per_day, per_day)
    # A quiet day changes nothing in the status: sent at the connect, then every status_interval.
    per_day = 1 + DAY_S / mqtt.status_interval
    out.add("telemetry: status", publish_bytes(topics.status, status, 1) * per_day, per_day)
    out.add("telemetry: availability", publish_bytes(topics.availability, len(b"online"), 1))
    out.add("telemetry: keepalive", 4 * DAY_S / mqtt.keepalive, DAY_S / mqtt.keepalive)
    spool.close()
    pictures.close()
    return out, stats, status


def main() -> None:
    detector = Detector(MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cameras = [CameraConfig(id=name, source="clip", **CAMERA) for name in DAY]
        config = HubConfig(hub_id="village", cameras=cameras, spool={"path": str(directory / "spool.db")})
        one = config.model_copy(update={"cameras": [CameraConfig(id="cam", source="clip", **CAMERA)]})
        quiet_clip = MEDIA / "quiet.mp4"
        quiet_s = cv2.VideoCapture(str(quiet_clip)).get(cv2.CAP_PROP_FRAME_COUNT) / 10.0
        quiet = replay(one, detector, quiet_clip, passes=3, counted_from=1).scaled(1 / (2 * quiet_s))
        bursts: dict[str, tuple[Tally, float]] = {}
        for clip in BURSTS:
            capture = cv2.VideoCapture(str(MEDIA / clip))
            seconds = capture.get(cv2.CAP_PROP_FRAME_COUNT) / (capture.get(cv2.CAP_PROP_FPS) or 10.0)
            bursts[clip] = (replay(one, detector, MEDIA / clip), seconds)
            print(f"{clip}: {seconds:.0f} s -> {dict(bursts[clip][0].messages)}")
        print(f"quiet.mp4, per hour: {dict(quiet.scaled(3600).messages)}")
        # Counts go out every interval whatever happened: scaled by the interval, at the size measured.
        counts_size = max(b.bytes["counts"] / max(b.messages["counts"], 1) for b, _ in bursts.values())
        for tally_ in (quiet, *(b for b, _ in bursts.values())):
            tally_.bytes.pop("counts", None)
            tally_.messages.pop("counts", None)
        day = Tally()
        for plan in DAY.values():
            busy = sum(bursts[clip][1] * n for clip, n in plan.items())
            for part in [quiet.scaled(DAY_S - busy), *(bursts[clip][0].scaled(n) for clip, n in plan.items())]:
                for kind in part.bytes:
                    day.add(kind, part.bytes[kind], part.messages[kind])
            day.add("counts", counts_size * DAY_S / cameras[0].counts_interval, DAY_S / cameras[0].counts_interval)
        budget = config.evidence.daily_mb * 1024 * 1024
        if day.bytes["pictures"] > budget:
            share = budget / day.bytes["pictures"]
            day.bytes["pictures"], day.messages["pictures"] = budget, day.messages["pictures"] * share
        delivered = round(day.messages["events"] + day.messages["counts"])
        telemetry_day, stats_size, status_size = telemetry(config, detector, directory, delivered)
        for kind in telemetry_day.bytes:
            day.add(kind, telemetry_day.bytes[kind], telemetry_day.messages[kind])
    print()
    print("| what | messages / day | kB / day | MB / month (30 d) |")
    print("|---|---:|---:|---:|")
    for kind in sorted(day.bytes, key=lambda k: -day.bytes[k]):
        b = day.bytes[kind]
        print(f"| {kind} | {day.messages[kind]:,.0f} | {b / 1000:,.1f} | {b * 30 / 1e6:,.2f} |")
    total = sum(day.bytes.values())
    print(f"| **total** | {sum(day.messages.values()):,.0f} | {total / 1000:,.1f} | {total * 30 / 1e6:,.2f} |")
    status_bytes = publish_bytes(Topics.from_config(config).status, status_size, 1)
    print(
        f"\none stats message: {stats_size} bytes of JSON; one status: {status_size} bytes; a status with "
        f"every stats message, as before, would cost {status_bytes * DAY_S / config.mqtt.stats_interval / 1000:,.1f} "
        f"kB a day instead of {day.bytes['telemetry: status'] / 1000:,.1f}; each camera state change adds "
        f"{status_bytes} bytes"
    )


if __name__ == "__main__":
    main()
