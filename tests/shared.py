"""Where the read-only development data lives: ../shared beside the checkout,
or $CAMHUB_SHARED. Tests reference these files; the repository never holds them."""

from __future__ import annotations

import os
from pathlib import Path

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
CAR_JPG = MEDIA / "licenseplate_motion.jpg"
