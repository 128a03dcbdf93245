"""The motion gate: decides, frame by frame, whether the detector runs.

On quiet footage the detector (by far the costliest step) runs only on motion,
on a slow keep-alive, and at a reduced rate while the tracker holds objects
that stopped moving (a parked car must be re-seen before the tracker's
end_after, but not on every frame)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent.config import MotionConfig
from agent.detect.detector import Region
from agent.motion.background import Motion, MotionDetector
from agent.motion.regions import motion_regions


@dataclass
class GateDecision:
    detect: bool  # run the detector on this frame?
    reason: str  # always | start | motion | tracking | keepalive | recalibrate | idle
    ratio: float  # fraction of the (small grey, unmasked) frame that moved
    regions: list[Region] = field(default_factory=list)  # squares to detect on; [] = the whole frame


class MotionGate:
    def __init__(
        self,
        config: MotionConfig,
        masks: list[list[tuple[float, float]]],
        model_input: int = 300,
        every_frame: bool = False,
    ) -> None:
        self.config = config
        self.model_input = model_input
        self.every_frame = every_frame or not config.enabled
        self.motion = MotionDetector(config, masks)
        # Region passes look only around motion, so tracked objects standing still
        # elsewhere and newcomers that arrived unseen need whole-frame passes.
        self._last_whole: float | None = None

    def check(self, image: np.ndarray, ts: float, active_tracks: int) -> GateDecision:
        """IMAGE: BGR full frame; TS: monotonic seconds; ACTIVE_TRACKS: objects the tracker holds."""
        if self.every_frame:
            return GateDecision(True, "always", 0.0)
        motion = self.motion.measure(image, ts)
        decision = self._decide(motion, ts, active_tracks)
        if decision.reason == "motion":
            height, width = image.shape[:2]
            decision.regions = motion_regions(motion.boxes, (width, height), self.model_input, self.config.regions)
        if decision.detect and not decision.regions:
            self._last_whole = ts
        return decision

    def _decide(self, motion: Motion, ts: float, active_tracks: int) -> GateDecision:
        since = float("inf") if self._last_whole is None else ts - self._last_whole
        ratio = motion.ratio
        if motion.fresh:
            return GateDecision(True, "start", ratio)  # whatever is already in view, e.g. a parked car
        # Before motion: a tracked object standing still (a parked car) makes no
        # motion, and must be re-seen before the tracker's end_after runs out.
        if active_tracks > 0 and since >= self.config.recheck:
            return GateDecision(True, "tracking", ratio)
        if motion.boxes:
            return GateDecision(True, "motion", ratio)
        if since >= self.config.keepalive:
            return GateDecision(True, "keepalive", ratio)
        return GateDecision(False, "recalibrate" if motion.recalibrating else "idle", ratio)
