"""Evidence pictures on real frames: a few kB, the object with its surroundings, masks painted over, and a daily
budget that keeps its last part for alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from agent.evidence import SHARES, EvidenceBudget, crop_with_context, evidence_jpeg
from tests.shared import VTEST, frame_at

PERSON = (0.33, 0.37, 0.39, 0.54)  # a walker in vtest.avi's first frames


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return frame_at(VTEST)


@pytest.mark.parametrize("target", [3000, 8000, 20000])
def test_a_picture_fits_its_target_and_uses_it(frame: np.ndarray, target: int) -> None:
    data = evidence_jpeg(frame, PERSON, [], target)
    assert data is not None and len(data) <= target
    assert len(data) > target * 0.5  # quality was raised to use the room, not left at the floor
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and min(picture.shape[:2]) >= 48


def test_the_crop_holds_the_object_and_its_surroundings(frame: np.ndarray) -> None:
    crop = crop_with_context(frame, PERSON, context=1.0)
    height, width = frame.shape[:2]
    box_w, box_h = (PERSON[2] - PERSON[0]) * width, (PERSON[3] - PERSON[1]) * height
    assert crop.shape[1] >= 2.5 * box_w and crop.shape[0] >= 2.5 * box_h
    assert crop.shape[1] < width and crop.shape[0] < height


def test_a_box_on_the_border_is_cropped_inside_the_picture(frame: np.ndarray) -> None:
    crop = crop_with_context(frame, (0.95, 0.9, 1.0, 1.0), context=1.0)
    assert crop.size > 0


def test_masks_are_painted_before_the_picture_leaves(frame: np.ndarray) -> None:
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    data = evidence_jpeg(frame, PERSON, [whole], 8000)
    assert data is not None
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture.max() < 16


def test_too_small_a_target_gives_no_picture(frame: np.ndarray) -> None:
    assert evidence_jpeg(frame, PERSON, [], 200) is None


def test_the_budget_keeps_its_last_part_for_alerts() -> None:
    now = [1_800_000_000.0]
    budget = EvidenceBudget(100_000, clock=lambda: now[0])
    assert budget.room("new") == 100_000 * SHARES["new"]
    budget.spend(int(100_000 * SHARES["new"]))
    assert budget.room("new") == 0
    assert budget.room("left") == pytest.approx(100_000 * (SHARES["left"] - SHARES["new"]), abs=1)
    assert budget.room("alert") == pytest.approx(100_000 * (1 - SHARES["new"]), abs=1)
    budget.spend(budget.room("alert"))
    assert budget.room("alert") == 0
    now[0] += 86_400  # the next day starts afresh
    assert budget.room("new") == 100_000 * SHARES["new"]


def test_the_budget_day_turns_at_midnight_in_the_hubs_time_zone() -> None:
    now = [datetime(2026, 12, 1, 23, 0, tzinfo=UTC).timestamp()]  # 06:00 on 2 December in Vietnam
    hanoi = EvidenceBudget(1000, "Asia/Ho_Chi_Minh", clock=lambda: now[0])
    utc = EvidenceBudget(1000, "UTC", clock=lambda: now[0])
    for budget in (hanoi, utc):
        budget.spend(budget.room("alert"))
    now[0] += 2 * 3600  # 01:00 UTC, 08:00 in Vietnam: a new day in UTC only
    assert utc.room("alert") == 1000
    assert hanoi.room("alert") == 0
