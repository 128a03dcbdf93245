"""The set-up picture: zones, counting lines with their `in` side, and masks drawn on a real frame."""

from __future__ import annotations

import numpy as np

from agent.annotate import draw_setup
from agent.config import CameraConfig
from tests.shared import VTEST, frame_at

MAGENTA = np.array([255, 0, 255])


def _magenta_rows(image: np.ndarray) -> np.ndarray:
    return np.nonzero((np.abs(image.astype(int) - MAGENTA).sum(axis=2) < 60).any(axis=1))[0]


def test_a_line_drawn_left_to_right_points_its_arrow_down_the_picture() -> None:
    camera = CameraConfig.model_validate(
        {"id": "gate", "source": str(VTEST), "lines": {"road": {"points": [[0.1, 0.5], [0.9, 0.5]]}}}
    )
    image = frame_at(VTEST)
    draw_setup(image, camera)
    rows = _magenta_rows(image)
    middle = image.shape[0] // 2
    assert rows.max() > middle + 20  # the arrow (and its label) below: `in` is on the right hand, facing right
    assert rows.min() >= middle - 16  # nothing far above but the line's own width and the label's height


def test_the_arrow_follows_the_direction_of_the_points() -> None:
    camera = CameraConfig.model_validate(
        {"id": "gate", "source": str(VTEST), "lines": {"road": {"points": [[0.9, 0.5], [0.1, 0.5]]}}}
    )
    image = frame_at(VTEST)
    draw_setup(image, camera)
    assert _magenta_rows(image).min() < image.shape[0] // 2 - 20  # drawn right to left: `in` is up


def test_zones_are_outlined_and_masks_painted_black() -> None:
    camera = CameraConfig.model_validate(
        {
            "id": "gate",
            "source": str(VTEST),
            "zones": {"yard": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]},
            "masks": [[[0.6, 0.6], [0.9, 0.6], [0.9, 0.9], [0.6, 0.9]]],
        }
    )
    image = frame_at(VTEST)
    before = image.copy()
    draw_setup(image, camera)
    h, w = image.shape[:2]
    assert image[int(0.75 * h), int(0.75 * w)].max() == 0
    edge = (int(0.25 * h), slice(int(0.1 * w) - 1, int(0.1 * w) + 2))  # across the zone's left side
    assert (image[edge] != before[edge]).any()
