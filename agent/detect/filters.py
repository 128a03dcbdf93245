"""Which detections matter on one camera: tracked labels above their thresholds,
outside privacy/ignore masks; and which named zones each one stands in."""

from __future__ import annotations

from agent.config import CameraConfig, DetectorConfig
from agent.detect.detector import Detection
from agent.detect.geometry import inside


class CameraFilter:
    def __init__(self, detector: DetectorConfig, camera: CameraConfig | None = None) -> None:
        self.objects = detector.objects
        self.masks = camera.masks if camera else []
        self.zones = camera.zones if camera else {}

    def keep(self, det: Detection) -> bool:
        rule = self.objects.get(det.label)
        if rule is None or det.score < rule.min_score or not rule.min_area <= det.area <= rule.max_area:
            return False
        # An object is judged by where it stands: its bottom centre.
        return not any(inside(det.foot, mask) for mask in self.masks)

    def apply(self, detections: list[Detection]) -> list[Detection]:
        return [d for d in detections if self.keep(d)]

    def zones_of(self, det: Detection) -> list[str]:
        return [name for name, zone in self.zones.items() if inside(det.foot, zone.points)]
