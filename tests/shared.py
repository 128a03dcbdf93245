"""Where the read-only development data lives: ../shared beside the checkout,
or $CAMHUB_SHARED. Tests reference these files; the repository never holds them."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAMHUB_SHARED", REPO.parent / "shared"))
MODEL = SHARED / "models" / "ssd_mobilenet_v1_coco_quant" / "detect.tflite"
LABELMAP = SHARED / "models" / "ssd_mobilenet_v1_coco_quant" / "labelmap.txt"
# The catalog's models that the development data holds, by catalog name.
MODELS = {
    "ssd_mobilenet_v1_coco_quant": MODEL,
    "ssd_mobilenet_v2_coco_quant": SHARED / "models" / "ssd_mobilenet_v2_coco_quant" / "detect.tflite",
    "yolox_nano": SHARED / "models" / "yolox_nano" / "yolox_nano_float16.tflite",
}
MEDIA = SHARED / "media"
VTEST = MEDIA / "vtest.avi"
QUIET = MEDIA / "quiet.mp4"
TREE = MEDIA / "tree.avi"
CARS = MEDIA / "car-detection.mp4"
CAR_JPG = MEDIA / "licenseplate_motion.jpg"


def frame_at(video: Path, index: int = 0) -> np.ndarray:
    """Picture INDEX of VIDEO, as OpenCV decodes it (BGR)."""
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    assert ok, f"cannot read {video}"
    return image
