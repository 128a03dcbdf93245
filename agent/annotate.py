"""Drawing on frames: boxes for people to check what the agent saw, and
privacy masks painted over snapshots before they leave the hub."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from agent.detect.detector import Box

_COLOURS = {"person": (0, 200, 255), "car": (255, 160, 0), "motorcycle": (0, 255, 0), "bicycle": (255, 0, 255)}


def _pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    return int(box[0] * width), int(box[1] * height), int(box[2] * width), int(box[3] * height)


def draw_box(image: np.ndarray, box: Box, text: str, label: str, thick: int = 2) -> None:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = _pixels(box, width, height)
    colour = _COLOURS.get(label, (200, 200, 200))
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, thick)
    cv2.putText(image, text, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def draw_polygons(
    image: np.ndarray,
    polygons: Iterable[Sequence[tuple[float, float]]],
    colour: tuple[int, int, int],
    fill: bool = False,
) -> None:
    height, width = image.shape[:2]
    for polygon in polygons:
        points = np.array([(int(x * width), int(y * height)) for x, y in polygon], dtype=np.int32)
        if fill:
            cv2.fillPoly(image, [points], colour)
        else:
            cv2.polylines(image, [points], True, colour, 1, cv2.LINE_AA)
