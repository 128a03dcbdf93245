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


def catalog_models() -> dict[str, Path]:
    """Every catalog model the development data holds (found by content), in catalog order."""
    from agent.detect.catalog import CATALOG, entry_with_sha256
    from agent.detect.model import sha256_of

    found = {}
    for path in sorted((SHARED / "models").glob("*/*.tflite")):
        entry = entry_with_sha256(sha256_of(path))
        if entry is not None:
            found[entry.name] = path
    return {name: found[name] for name in CATALOG if name in found}
