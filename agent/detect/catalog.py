"""The detection models the agent knows by name: where each is published (at a
fixed version), its sha256, its licence and how to feed and read it.

`detector.model` takes one of these names (the file `model fetch NAME`
installs) or the path of any .tflite file."""

from __future__ import annotations

from dataclasses import dataclass

from agent.detect.labels import COCO80_LABELS, COCO_LABELS
from agent.detect.spec import InputSpec, ModelSpec

_SSD_300 = InputSpec(300, 300, "uint8", "NHWC", "RGB", "stretch")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    url: str
    sha256: str
    licence: str
    spec: ModelSpec


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            "ssd_mobilenet_v1_coco_quant",
            # Google's COCO SSD MobileNet v1 (TF Object Detection API, 2018); MediaPipe's build pins its sha256.
            "https://storage.googleapis.com/mediapipe-assets/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_no_metadata.tflite",
            "e4b118e5e4531945de2e659742c7c590f7536f8d0ed26d135abcfe83b4779d13",
            "Apache-2.0",
            ModelSpec(_SSD_300, "ssd", COCO_LABELS, 10),
        ),
        CatalogEntry(
            "ssd_mobilenet_v2_coco_quant",
            # Google's COCO SSD MobileNet v2 as shipped by Coral, at a fixed commit.
            "https://github.com/google-coral/edgetpu/raw/75e675633c2110a991426c8afa64f122b16ac372/"
            "test_data/mobilenet_ssd_v2_coco_quant_postprocess.tflite",
            "7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd",
            "Apache-2.0",
            ModelSpec(_SSD_300, "ssd", COCO_LABELS, 20),
        ),
        CatalogEntry(
            "yolox_nano",
            # Megvii's YOLOX-Nano weights, converted (float16) by a third party at a fixed commit: the only
            # public copy, no published hash.
            "https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/0f785c070ce8da070aeaeef46c0da7904ff7012e/"
            "model/yolox_nano_float16_quantize.tflite",
            "6518faf758f5827fb8412c38d2240b7722027c299596518e1f94e678af1e6e29",
            "Apache-2.0",
            ModelSpec(InputSpec(416, 416, "float32", "NCHW", "BGR", "letterbox"), "yolox", COCO80_LABELS, None),
        ),
        CatalogEntry(
            "efficientdet_lite0_coco_quant",
            # Google's COCO EfficientDet-Lite0 (2021); MediaPipe's build pins its sha256. Not obtainable on
            # the development machine, so the spec is the publisher's (MediaPipe's own tests: 320x320 RGB
            # uint8; 25 boxes: the EfficientDet exporter's default), not measured here.
            "https://storage.googleapis.com/mediapipe-assets/coco_efficientdet_lite0_v1_1.0_quant_2021_09_06.tflite",
            "dee1b4af055a644804d5594442300ecc9e4f7080c25b7c044c98f527eeabb6cf",
            "Apache-2.0",
            ModelSpec(InputSpec(320, 320, "uint8", "NHWC", "RGB", "stretch"), "ssd", COCO_LABELS, 25),
        ),
    )
}

# The model a hub uses when its config names none: switching it is this one line. YOLOX nano, measured side by
# side with the SSD models on the development footage: the best precision on people (no split visits, no cones),
# twice SSD v1's cars seen from above, no cap on boxes in a crowd, for ~1.7x SSD v1's invoke time.
DEFAULT_MODEL = "yolox_nano"


def entry_with_sha256(sha256: str) -> CatalogEntry | None:
    """The catalog entry of a file with this content, if it is one of ours."""
    return next((e for e in CATALOG.values() if e.sha256 == sha256), None)
