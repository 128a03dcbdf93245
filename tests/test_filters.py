"""Which detections count on a camera: labels and thresholds, masks, zones; and the
layout of the detector's outputs."""

from __future__ import annotations

from agent.config import CameraConfig, DetectorConfig, ObjectFilter
from agent.detect.detector import Detection
from agent.detect.filters import CameraFilter

CAMERA = CameraConfig(
    id="gate",
    source="rtsp://cam/stream",
    zones={"road": [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]},
    masks=[[(0.0, 0.0), (0.3, 0.0), (0.3, 0.4), (0.0, 0.4)]],
)


def test_labels_thresholds_and_areas() -> None:
    detector = DetectorConfig(objects={"person": ObjectFilter(min_score=0.6), "car": ObjectFilter(min_area=0.05)})
    keep = CameraFilter(detector, CAMERA).keep
    assert keep(Detection("person", 0.7, (0.5, 0.2, 0.55, 0.4)))
    assert not keep(Detection("person", 0.55, (0.5, 0.2, 0.55, 0.4)))  # below its min_score
    assert not keep(Detection("car", 0.9, (0.5, 0.5, 0.55, 0.55)))  # smaller than min_area
    assert keep(Detection("car", 0.9, (0.5, 0.5, 0.8, 0.8)))
    assert not keep(Detection("motorcycle", 0.9, (0.5, 0.5, 0.6, 0.7)))  # not listed: ignored
    assert not keep(Detection("dog", 0.9, (0.5, 0.5, 0.6, 0.7)))  # never tracked


def test_masks_and_zones_go_by_the_bottom_centre() -> None:
    f = CameraFilter(DetectorConfig(), CAMERA)
    standing_in_mask = Detection("person", 0.8, (0.1, 0.1, 0.2, 0.35))
    head_in_mask_feet_outside = Detection("person", 0.8, (0.1, 0.3, 0.2, 0.6))
    assert not f.keep(standing_in_mask)
    assert f.keep(head_in_mask_feet_outside)
    assert f.zones_of(head_in_mask_feet_outside) == ["road"]
    assert f.zones_of(Detection("person", 0.8, (0.6, 0.1, 0.7, 0.45))) == []
