"""COCO class names as the TFLite SSD models number them (class id c is line c+1
of the usual labelmap.txt, whose first line is a "???" placeholder)."""

from __future__ import annotations

from pathlib import Path

COCO_LABELS: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "???",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "???",
    "backpack",
    "umbrella",
    "???",
    "???",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "???",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "???",
    "dining table",
    "???",
    "???",
    "toilet",
    "???",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "???",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)

# Models trained on the 80 COCO classes number them without the gaps.
COCO80_LABELS: tuple[str, ...] = tuple(label for label in COCO_LABELS if label != "???")

# Motorbikes are the main vehicle in rural Vietnam: every vehicle keeps its own label.
VEHICLE_LABELS: tuple[str, ...] = ("bicycle", "car", "motorcycle", "bus", "truck")
TRACKED_LABELS: tuple[str, ...] = ("person", *VEHICLE_LABELS)


def load_labels(path: Path | None) -> tuple[str, ...]:
    """Labels by class id: the built-in COCO names, or a labelmap file (one per line,
    an optional leading "???" placeholder dropped)."""
    if path is None:
        return COCO_LABELS
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if lines and lines[0] == "???":
        lines = lines[1:]
    return tuple(lines)
