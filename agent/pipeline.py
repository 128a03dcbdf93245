"""What one camera's frames go through after capture:
motion gate -> detector -> filters -> tracker -> rules -> events (with pictures).

A `CameraPipeline` holds no thread of its own: the daemon's detector loop (or
`replay`) calls `process()` with one frame at a time, so a single shared
interpreter serves every camera without locks."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from agent.config import CameraConfig, EvidenceConfig, HubConfig
from agent.detect.detector import Box, Detection, Detector
from agent.detect.filters import CameraFilter
from agent.events import Counts, Event, EventFactory
from agent.evidence import EvidenceBudget, Picture, evidence_jpeg
from agent.frame import Frame
from agent.motion.gate import GateDecision, MotionGate
from agent.rules import findings
from agent.rules.engine import RuleEngine
from agent.rules.left_behind import LeftBehindWatch, WatchedZone
from agent.track.tracker import Track, Tracker, TrackEvent

Output = Event | Counts | Picture  # what process() hands on: the uplink sends each to its own topic


@dataclass
class PipelineCounters:
    frames: int = 0
    invocations: int = 0  # detector invokes, counting every region
    detect_seconds: float = 0.0
    detect_ms: list[float] = field(default_factory=list)  # recent invoke times, for p50/p95
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, label) -> n
    counts: int = 0  # counts summaries
    pictures: int = 0
    picture_bytes: int = 0

    def record_detect(self, seconds: float, invokes: int) -> None:
        self.invocations += invokes
        self.detect_seconds += seconds
        self.detect_ms.append(seconds * 1000 / max(invokes, 1))
        del self.detect_ms[:-512]


class CameraPipeline:
    def __init__(
        self,
        config: HubConfig,
        camera: CameraConfig,
        detector: Detector,
        every_frame: bool = False,
        budget: EvidenceBudget | None = None,
    ) -> None:
        """BUDGET: the hub's picture budget, shared by every camera; None: no pictures."""
        self.camera = camera
        self.detector = detector
        self.filter = CameraFilter(config.detector, camera)
        self.gate = MotionGate(camera.motion, camera.masks, detector.input_size[0], every_frame=every_frame)
        self.tracker = Tracker(config.tracker, self.filter.zones_of if camera.zones else None)
        self.events = EventFactory(camera.id)
        self.rules = RuleEngine(camera, config.timezone) if camera.lines or _guarded(camera) else None
        self.left = _left_watch(camera)
        self.evidence: EvidenceConfig = config.evidence
        self.budget = budget if config.evidence.enabled else None
        self.counters = PipelineCounters()
        self.enabled = True
        self.last_decision: GateDecision | None = None
        self.last_detections: list[Detection] = []
        self._wall_offset = 0.0
        self._last_mono = 0.0

    def process(self, frame: Frame) -> list[Output]:
        """Events, counts and pictures caused by FRAME; usually none."""
        self.counters.frames += 1
        self._wall_offset = frame.wall - frame.mono
        self._last_mono = frame.mono
        if not self.enabled:
            return []
        decision = self.gate.check(frame.image, frame.mono, len(self.tracker))
        self.last_decision = decision
        out: list[Output] = []
        if decision.detect:
            detections = self._detect(frame, decision)
            self.last_detections = detections
            out += self._presence(self.tracker.update(detections, frame.mono), frame.image)
            if self.rules is not None:
                found = self.rules.update(self.tracker.active(), frame.mono, frame.wall)
                out += self._rule_outputs(found, frame.image)
        if self.left is not None:
            out += self._left_outputs(self.left, frame)
        return out

    def finish(self) -> list[Output]:
        """`end` for every open object and the crossings not yet summarised: the stream ended or the agent stops."""
        out: list[Output] = [*self._presence(self.tracker.flush(self._last_mono), None)]
        if self.rules is not None:
            out += self._rule_outputs(self.rules.flush(self._last_mono), None)
        return out

    def _detect(self, frame: Frame, decision: GateDecision) -> list[Detection]:
        started = time.perf_counter()
        if decision.regions:
            found = [d for region in decision.regions for d in self.detector.detect(frame.image, region)]
        else:
            found = self.detector.detect(frame.image)
        self.counters.record_detect(time.perf_counter() - started, max(len(decision.regions), 1))
        return self.filter.apply(found)

    def _presence(self, track_events: list[TrackEvent], image: np.ndarray | None) -> list[Output]:
        out: list[Output] = []
        for track_event in track_events:
            event = self.events.presence(track_event, self._wall_offset)
            want = event.type == "new" and self.evidence.new
            out += self._with_picture(event, "new", image, event.box) if want else [event]
        return self._counted(out)

    def _rule_outputs(self, found: list[findings.Finding], image: np.ndarray | None) -> list[Output]:
        out: list[Output] = []
        for finding in found:
            if isinstance(finding, findings.Counts):
                out.append(self.events.counts(finding, self._wall_offset))
            elif isinstance(finding, findings.Cross):
                out.append(self.events.cross(finding, self._wall_offset))
            else:
                alert = self.events.alert(finding, self._wall_offset)
                out += self._with_picture(alert, "alert", image, alert.box)
        return self._counted(out)

    def _left_outputs(self, watch: LeftBehindWatch, frame: Frame) -> list[Output]:
        # With the gate off nothing made the small grey frame: make it alone, a fraction of a millisecond.
        grey = self.gate.motion.small_grey(frame.image) if self.gate.every_frame else self.gate.motion.grey
        if grey is None:
            return []
        out: list[Output] = []
        for thing in watch.update(grey, frame.mono, self._confirmed):
            event = self.events.left(thing, self._wall_offset)
            out += self._with_picture(event, "left", frame.image, event.box)
        return self._counted(out)

    def _confirmed(self) -> list[Track]:
        return [t for t in self.tracker.active() if t.confirmed]

    def _with_picture(self, event: Event, kind: str, image: np.ndarray | None, box: Box) -> list[Output]:
        """EVENT, and its picture when the budget has room: only then is one encoded,
        and only then does the event say that a picture follows."""
        if self.budget is None or image is None:
            return [event]
        target = min(int(self.evidence.target_kb * 1024), self.budget.room(kind))
        jpeg = evidence_jpeg(image, box, self.camera.masks, target) if target > 0 else None
        if jpeg is None:
            self.budget.refuse(kind)
            return [event]
        self.budget.spend(len(jpeg))
        return [dataclasses.replace(event, evidence=True), Picture(self.camera.id, event.id, jpeg)]

    def _counted(self, out: list[Output]) -> list[Output]:
        for item in out:
            if isinstance(item, Event):
                self.counters.events[(item.type, item.label)] += 1
            elif isinstance(item, Counts):
                self.counters.counts += 1
            else:
                self.counters.pictures += 1
                self.counters.picture_bytes += len(item.jpeg)
        return out


def _guarded(camera: CameraConfig) -> bool:
    return any(zone.guarded for zone in camera.zones.values())


def _left_watch(camera: CameraConfig) -> LeftBehindWatch | None:
    zones = [
        WatchedZone(name, zone.points, zone.left_behind)
        for name, zone in camera.zones.items()
        if zone.left_behind is not None
    ]
    return LeftBehindWatch(zones, camera.motion.threshold, camera.masks) if zones else None
