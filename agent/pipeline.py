"""What one camera's frames go through after capture:
motion gate -> detector -> filters -> tracker -> events.

A `CameraPipeline` holds no thread of its own: the daemon's detector loop (or
`replay`) calls `process()` with one frame at a time, so a single shared
interpreter serves every camera without locks."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detection, Detector
from agent.detect.filters import CameraFilter
from agent.events import Event, EventFactory
from agent.frame import Frame
from agent.motion.gate import GateDecision, MotionGate
from agent.track.tracker import Tracker, TrackEvent


@dataclass
class PipelineCounters:
    frames: int = 0
    invocations: int = 0  # detector invokes, counting every region
    detect_seconds: float = 0.0
    detect_ms: list[float] = field(default_factory=list)  # recent invoke times, for p50/p95
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, label) -> n

    def record_detect(self, seconds: float, invokes: int) -> None:
        self.invocations += invokes
        self.detect_seconds += seconds
        self.detect_ms.append(seconds * 1000 / max(invokes, 1))
        del self.detect_ms[:-512]


class CameraPipeline:
    def __init__(self, config: HubConfig, camera: CameraConfig, detector: Detector, every_frame: bool = False) -> None:
        self.camera = camera
        self.detector = detector
        self.filter = CameraFilter(config.detector, camera)
        self.gate = MotionGate(camera.motion, camera.masks, detector.input_size[0], every_frame=every_frame)
        self.tracker = Tracker(config.tracker, self.filter.zones_of)
        self.events = EventFactory(camera.id)
        self.counters = PipelineCounters()
        self.enabled = True
        self.last_decision: GateDecision | None = None
        self.last_detections: list[Detection] = []
        self._wall_offset = 0.0
        self._last_mono = 0.0

    def process(self, frame: Frame) -> list[Event]:
        """Events caused by FRAME; usually none."""
        self.counters.frames += 1
        self._wall_offset = frame.wall - frame.mono
        self._last_mono = frame.mono
        if not self.enabled:
            return []
        decision = self.gate.check(frame.image, frame.mono, len(self.tracker))
        self.last_decision = decision
        if not decision.detect:
            return []
        detections = self._detect(frame, decision)
        self.last_detections = detections
        return self._publishable(self.tracker.update(detections, frame.mono))

    def finish(self) -> list[Event]:
        """`end` for every open object: the stream ended or the agent stops."""
        return self._publishable(self.tracker.flush(self._last_mono))

    def _detect(self, frame: Frame, decision: GateDecision) -> list[Detection]:
        started = time.perf_counter()
        if decision.regions:
            found = [d for region in decision.regions for d in self.detector.detect(frame.image, region)]
        else:
            found = self.detector.detect(frame.image)
        self.counters.record_detect(time.perf_counter() - started, max(len(decision.regions), 1))
        return self.filter.apply(found)

    def _publishable(self, track_events: list[TrackEvent]) -> list[Event]:
        out: list[Event] = [self.events.presence(e, self._wall_offset) for e in track_events]
        for event in out:
            self.counters.events[(event.type, event.label)] += 1
        return out
