"""Drawing on frames: boxes for people to check what the agent saw, and
privacy masks painted over snapshots before they leave the hub."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from agent.config import CameraConfig
from agent.detect.geometry import Box, Polygon, to_pixels

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
    polygons: Iterable[Polygon],
    colour: tuple[int, int, int],
    fill: bool = False,
) -> None:
    height, width = image.shape[:2]
    for polygon in polygons:
        points = to_pixels(polygon, width, height)
        if fill:
            cv2.fillPoly(image, [points], colour)
        else:
            cv2.polylines(image, [points], True, colour, 1, cv2.LINE_AA)


def draw_setup(image: np.ndarray, camera: CameraConfig) -> None:
    """Draw CAMERA's zones, counting lines (with an arrow to their `in` side) and masks on IMAGE, so a volunteer
    can check from a phone that the rules cover what they should."""
    height, width = image.shape[:2]
    draw_polygons(image, camera.masks, (0, 0, 0), fill=True)
    for name, zone in camera.zones.items():
        colour = (0, 0, 255) if zone.guarded or zone.left_behind else (0, 255, 255)
        draw_polygons(image, [zone.points], colour)
        x, y = zone.points[0]
        _label(image, name, (int(x * width), int(y * height)), colour)
    for name, line in camera.lines.items():
        (ax, ay), (bx, by) = ((px * width, py * height) for px, py in line.points)
        cv2.line(image, (int(ax), int(ay)), (int(bx), int(by)), (255, 0, 255), 2, cv2.LINE_AA)
        # `in` is on the right hand facing from the first point to the second: the normal (-dy, dx) in pixels,
        # whose y axis points down.
        mx, my, dx, dy = (ax + bx) / 2, (ay + by) / 2, bx - ax, by - ay
        scale = 0.06 * max(width, height) / max(np.hypot(dx, dy), 1e-6)
        tip = (int(mx - dy * scale), int(my + dx * scale))
        cv2.arrowedLine(image, (int(mx), int(my)), tip, (255, 0, 255), 2, cv2.LINE_AA, tipLength=0.3)
        _label(image, f"{name}: in", tip, (255, 0, 255))


def _label(image: np.ndarray, text: str, at: tuple[int, int], colour: tuple[int, int, int]) -> None:
    x, y = max(at[0], 2), max(at[1], 14)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
