"""Paths shared by the benchmarks: footage and model from ../shared or $CAMHUB_SHARED."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAMHUB_SHARED", REPO.parent / "shared"))
MODEL = SHARED / "models" / "ssd_mobilenet_v1_coco_quant" / "detect.tflite"
MEDIA = SHARED / "media"

sys.path.insert(0, str(REPO))
