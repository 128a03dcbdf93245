"""The real model on real pictures, through the CLI users run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from agent.detect.detector import Detector, Region
from tests.shared import CAR_JPG, MODEL, REPO, VTEST

ENV = {**os.environ, "CAMHUB_MODEL": str(MODEL)}


def _vtest_frame(index: int = 0) -> cv2.typing.MatLike:
    cap = cv2.VideoCapture(str(VTEST))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(MODEL, runtime="litert")


def test_car_on_licenseplate_jpg(detector: Detector) -> None:
    found = detector.detect(cv2.imread(str(CAR_JPG)))
    cars = [d for d in found if d.label == "car"]
    assert cars and cars[0].score > 0.6
    # The car fills the picture.
    assert cars[0].area > 0.5


def test_people_on_a_vtest_frame(detector: Detector) -> None:
    people = [d for d in detector.detect(_vtest_frame()) if d.label == "person" and d.score >= 0.5]
    assert len(people) >= 3
    for person in people:
        x1, y1, x2, y2 = person.box
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert y2 - y1 > x2 - x1  # people stand upright


def test_region_boxes_map_back_to_the_whole_frame(detector: Detector) -> None:
    image = _vtest_frame()
    whole = max((d for d in detector.detect(image) if d.label == "person"), key=lambda d: d.score)
    side = 300
    cx, cy = int((whole.box[0] + whole.box[2]) / 2 * 768), int((whole.box[1] + whole.box[3]) / 2 * 576)
    region = Region(max(0, cx - side // 2), max(0, cy - side // 2), side)
    near = [d for d in detector.detect(image, region) if d.label == "person"]
    assert any(abs(d.box[0] - whole.box[0]) < 0.02 and abs(d.box[3] - whole.box[3]) < 0.03 for d in near), near


def test_interpreter_is_created_once(detector: Detector) -> None:
    first = detector.interpreter
    detector.detect(_vtest_frame(5))
    detector.detect(_vtest_frame(6))
    assert detector.interpreter is first


def test_cli_detect_json_and_annotate(tmp_path: Path) -> None:
    out = tmp_path / "car.jpg"
    done = subprocess.run(
        [sys.executable, "-m", "agent", "detect", str(CAR_JPG), "--json", "--annotate", str(out)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and {r["label"] for r in records} <= {"person", "bicycle", "car", "motorcycle", "bus", "truck"}
    car = max(records, key=lambda r: r["score"])
    assert car["label"] == "car"
    assert set(car) == {"image", "label", "score", "box", "box_norm"}
    assert car["box"][2] > car["box"][0] and 0 <= car["box_norm"][0] < car["box_norm"][2] <= 1
    assert cv2.imread(str(out)).shape == cv2.imread(str(CAR_JPG)).shape


def test_cli_detect_unreadable_image(tmp_path: Path) -> None:
    bad = tmp_path / "not.jpg"
    bad.write_text("not a picture")
    done = subprocess.run(
        [sys.executable, "-m", "agent", "detect", str(bad)], capture_output=True, text=True, env=ENV, cwd=REPO
    )
    assert done.returncode == 1
    assert f"cannot read image {bad}" in done.stderr
    assert "Traceback" not in done.stderr


TFLITE_PYTHON = os.environ.get("CAMHUB_TFLITE_PYTHON")


@pytest.mark.skipif(not TFLITE_PYTHON, reason="set CAMHUB_TFLITE_PYTHON to a venv with tflite-runtime and numpy<2")
def test_same_detections_on_tflite_runtime(tmp_path: Path, detector: Detector) -> None:
    """The legacy runtime, in its own environment (it needs numpy<2), finds what LiteRT finds."""
    config = tmp_path / "tflite.yaml"
    config.write_text(
        f"hub_id: t\ndetector:\n  runtime: tflite\n  model: {MODEL}\ncameras:\n  - {{id: a, source: {VTEST}}}\n"
    )
    done = subprocess.run(
        [TFLITE_PYTHON, "-m", "agent", "detect", str(CAR_JPG), "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "with tflite runtime" in done.stderr
    theirs = [json.loads(line) for line in done.stdout.splitlines()]
    ours = [d for d in detector.detect(cv2.imread(str(CAR_JPG))) if d.label == "car" and d.score >= 0.5]
    assert [r["label"] for r in theirs if r["label"] == "car"] == ["car"] * len(ours)
    assert abs(theirs[0]["score"] - ours[0].score) < 0.05


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CAMHUB_MODEL"} | {"CAMHUB_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "replay", str(VTEST)], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 78
    assert done.stderr.strip() == (
        f"camhub-agent: model file {tmp_path}/models/detect.tflite not found: "
        "run `camhub-agent model fetch`, or set detector.model"
    )
