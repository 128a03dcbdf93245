"""`camhub-agent detect`: the detector on still images, for checking a model
and a camera's view without running the agent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

from agent.annotate import draw_box
from agent.config import DetectorConfig, HubConfig
from agent.detect.detector import Detection, Detector
from agent.detect.filters import CameraFilter


def detect_images(
    images: list[Path], config: HubConfig | None, as_json: bool, annotate: Path | None, all_labels: bool
) -> int:
    settings = config.detector if config else DetectorConfig()
    detector = Detector.from_config(settings)
    wanted = CameraFilter(settings)
    status = 0
    for i, path in enumerate(images):
        image = cv2.imread(str(path))
        if image is None:
            print(f"camhub-agent: cannot read image {path}", file=sys.stderr)
            status = 1
            continue
        found = [d for d in detector.detect(image) if all_labels or wanted.keep(d)]
        for det in found:
            print(_line(path, det, image.shape[1], image.shape[0], as_json))
        if annotate is not None and i == 0:
            for det in found:
                draw_box(image, det.box, f"{det.label} {det.score:.2f}", det.label)
            cv2.imwrite(str(annotate), image)
    return status


def _line(path: Path, det: Detection, width: int, height: int, as_json: bool) -> str:
    pixels = [
        round(det.box[0] * width),
        round(det.box[1] * height),
        round(det.box[2] * width),
        round(det.box[3] * height),
    ]
    if as_json:
        record = {
            "image": str(path),
            "label": det.label,
            "score": round(det.score, 3),
            "box": pixels,
            "box_norm": list(det.box),
        }
        return json.dumps(record, separators=(",", ":"))
    return f"{path}: {det.label:<10} {det.score:.2f}  box={pixels}"
