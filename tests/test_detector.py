"""The real model on real pictures, through the CLI users run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.detect.catalog import CATALOG, DEFAULT_MODEL
from agent.detect.decoders import postprocess_outputs
from agent.detect.detector import Detection, Detector, Region
from agent.detect.geometry import iou
from agent.detect.spec import recognise
from agent.errors import ModelError
from tests.shared import CAR_JPG, MODEL, MODELS, REPO, VTEST, frame_at

ENV = {**os.environ, "CAMHUB_MODEL": str(MODEL)}


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
    people = [d for d in detector.detect(frame_at(VTEST)) if d.label == "person" and d.score >= 0.5]
    assert len(people) >= 3
    for person in people:
        x1, y1, x2, y2 = person.box
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert y2 - y1 > x2 - x1  # people stand upright


def test_region_boxes_map_back_to_the_whole_frame(detector: Detector) -> None:
    image = frame_at(VTEST)
    whole = max((d for d in detector.detect(image) if d.label == "person"), key=lambda d: d.score)
    side = 300
    cx, cy = int((whole.box[0] + whole.box[2]) / 2 * 768), int((whole.box[1] + whole.box[3]) / 2 * 576)
    region = Region(max(0, cx - side // 2), max(0, cy - side // 2), side)
    near = [d for d in detector.detect(image, region) if d.label == "person"]
    assert any(abs(d.box[0] - whole.box[0]) < 0.02 and abs(d.box[3] - whole.box[3]) < 0.03 for d in near), near


def test_interpreter_is_created_once(detector: Detector) -> None:
    first = detector.interpreter
    detector.detect(frame_at(VTEST, 5))
    detector.detect(frame_at(VTEST, 6))
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


@pytest.fixture(scope="module")
def detectors() -> dict[str, Detector]:
    return {name: Detector(path, runtime="litert") for name, path in MODELS.items()}


@pytest.mark.parametrize("name", MODELS)
def test_catalog_models_are_what_their_tensors_show(name: str, detectors: dict[str, Detector]) -> None:
    """Each catalog model the development data holds: the file is recognised as its entry says."""
    interpreter = detectors[name].interpreter
    found = recognise(MODELS[name], interpreter.get_input_details(), interpreter.get_output_details())
    assert found == CATALOG[name].spec
    assert detectors[name].spec == CATALOG[name].spec


def _people(found: list[Detection], floor: float) -> list[Detection]:
    return [d for d in found if d.label == "person" and d.score >= floor]


@pytest.mark.parametrize("name", ["ssd_mobilenet_v2_coco_quant", "yolox_nano"])
def test_every_model_finds_the_same_people_where_they_are(name: str, detectors: dict[str, Detector]) -> None:
    """The clearest people of a vtest.avi frame, as v1 sees them, are found by every model in the
    same place: each family's decoding (and YOLOX's letterbox on a 4:3 frame) maps boxes back right."""
    image = frame_at(VTEST)
    reference = _people(detectors["ssd_mobilenet_v1_coco_quant"].detect(image), 0.6)
    theirs = _people(detectors[name].detect(image), 0.5)
    assert len(reference) >= 3
    for person in reference:
        assert max(iou(person.box, d.box) for d in theirs) > 0.4, (person, theirs)
    assert all(d.box[3] - d.box[1] > d.box[2] - d.box[0] for d in theirs)  # people stand upright


def test_yolox_suppresses_overlaps_within_a_class_only(detectors: dict[str, Detector]) -> None:
    """Across a clip's frames: never two boxes of one class on the same object, while one object
    may carry two labels (the parked van is seen as a car and as a truck)."""
    cap = cv2.VideoCapture(str(VTEST))
    both = 0
    for index in range(0, 200, 10):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = cap.read()
        assert ok
        found = detectors["yolox_nano"].detect(image)
        pairs = [(a, b) for i, a in enumerate(found) for b in found[i + 1 :] if iou(a.box, b.box) > 0.45]
        assert all(a.label != b.label for a, b in pairs), pairs
        both += any({a.label, b.label} == {"car", "truck"} for a, b in pairs)
        scores = [d.score for d in found]
        assert scores == sorted(scores, reverse=True)
    cap.release()
    assert both > 0


def test_yolox_regions_map_back_to_the_whole_frame(detectors: dict[str, Detector]) -> None:
    detector, image = detectors["yolox_nano"], frame_at(VTEST)
    whole = max(_people(detector.detect(image), 0.5), key=lambda d: d.score)
    cx, cy = int((whole.box[0] + whole.box[2]) / 2 * 768), int((whole.box[1] + whole.box[3]) / 2 * 576)
    region = Region(max(0, cx - 150), max(0, cy - 150), 300)
    assert max(iou(whole.box, d.box) for d in _people(detector.detect(image, region), 0.3)) > 0.7


def test_postprocess_outputs_are_told_apart_in_any_listing_order(detectors: dict[str, Detector]) -> None:
    details = detectors["ssd_mobilenet_v1_coco_quant"].interpreter.get_output_details()
    by_name = tuple(next(d["index"] for d in details if d["name"] == f"TFLite_Detection_PostProcess{s}")
                    for s in ("", ":1", ":2", ":3"))  # fmt: skip
    assert postprocess_outputs(details) == by_name
    assert postprocess_outputs(details[::-1]) == by_name
    # How TF2 exports (EfficientDet-Lite) list them: by signature name, with other tensor indices.
    tf2 = [{"name": f"StatefulPartitionedCall:{i}", "index": index} for i, index in enumerate((601, 599, 598, 600))]
    assert postprocess_outputs(tf2) == (598, 599, 600, 601)


def test_a_model_of_another_kind_is_refused_with_what_it_is(detectors: dict[str, Detector]) -> None:
    """A classifier, and an SSD with int8 input (no such files exist here, so their tensor details
    stand in for them)."""
    inputs = [{"name": "input", "index": 0, "shape": np.array([1, 224, 224, 3]), "dtype": np.uint8}]
    outputs = [{"name": "probabilities", "index": 1, "shape": np.array([1, 1001]), "dtype": np.uint8}]
    with pytest.raises(ModelError) as caught:
        recognise(Path("mobilenet.tflite"), inputs, outputs)
    assert str(caught.value).startswith(
        "mobilenet.tflite: not a detector layout the agent can read (uint8[1, 224, 224, 3] -> uint8[1, 1001]); "
        "expected an SSD-style model"
    )
    ssd = detectors["ssd_mobilenet_v1_coco_quant"].interpreter
    int8 = [{**ssd.get_input_details()[0], "dtype": np.int8}]
    with pytest.raises(ModelError, match=r"\(int8\[1, 300, 300, 3\] -> float32\[1, 10, 4\], "):
        recognise(Path("ssd_int8.tflite"), int8, ssd.get_output_details())


def test_a_damaged_model_file_is_a_config_error(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(MODEL.read_bytes()[:100_000])  # the TFLite header is intact, the rest is cut
    done = subprocess.run(
        [sys.executable, "-m", "agent", "detect", str(CAR_JPG)],
        capture_output=True,
        text=True,
        env={**os.environ, "CAMHUB_MODEL": str(damaged)},
        cwd=REPO,
    )
    assert done.returncode == 78
    assert done.stderr.startswith(f"camhub-agent: {damaged}: the litert runtime cannot load it: ")
    assert "Traceback" not in done.stderr


def test_a_catalog_name_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(f"hub_id: t\ndetector:\n  model: yolox_nano\ncameras:\n  - {{id: a, source: {VTEST}}}\n")
    env = {**os.environ, "CAMHUB_STATE_DIR": str(tmp_path / "state")}
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), frame_at(VTEST))
    detect = [sys.executable, "-m", "agent", "detect", str(frame), "--json", "--config", str(config)]
    missing = subprocess.run(detect, capture_output=True, text=True, env=env, cwd=REPO)
    assert missing.returncode == 78
    assert missing.stderr.strip() == (
        f"camhub-agent: model yolox_nano is not installed ({tmp_path}/state/models/yolox_nano.tflite not found): "
        "run `camhub-agent model fetch yolox_nano`, or set detector.model"
    )
    fetch = [sys.executable, "-m", "agent", "model", "fetch", "yolox_nano", "--file", str(MODELS["yolox_nano"])]
    assert subprocess.run(fetch, capture_output=True, env=env, cwd=REPO).returncode == 0
    done = subprocess.run(detect, capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert sum(json.loads(line)["label"] == "person" for line in done.stdout.splitlines()) >= 3


TFLITE_PYTHON = os.environ.get("CAMHUB_TFLITE_PYTHON")


@pytest.mark.skipif(not TFLITE_PYTHON, reason="set CAMHUB_TFLITE_PYTHON to a venv with tflite-runtime and numpy<2")
@pytest.mark.parametrize("name", MODELS)
def test_same_detections_on_tflite_runtime(name: str, tmp_path: Path, detectors: dict[str, Detector]) -> None:
    """The legacy runtime, in its own environment (it needs numpy<2), finds what LiteRT finds."""
    config = tmp_path / "tflite.yaml"
    config.write_text(
        f"hub_id: t\ndetector:\n  runtime: tflite\n  model: {MODELS[name]}\ncameras:\n  - {{id: a, source: {VTEST}}}\n"
    )
    frame = tmp_path / "frame.png"
    image = frame_at(VTEST)
    cv2.imwrite(str(frame), image)
    done = subprocess.run(
        [TFLITE_PYTHON, "-m", "agent", "detect", str(frame), "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "with tflite runtime" in done.stderr
    theirs = [json.loads(line) for line in done.stdout.splitlines()]
    ours = [d for d in detectors[name].detect(image) if d.score >= 0.6 and d.label in {"person", "car", "truck"}]
    assert len(ours) >= 3
    for det in ours:
        twin = max(theirs, key=lambda r: iou(r["box_norm"], det.box) if r["label"] == det.label else 0)
        assert twin["label"] == det.label and iou(twin["box_norm"], det.box) > 0.8
        assert abs(twin["score"] - det.score) < 0.05


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CAMHUB_MODEL"} | {"CAMHUB_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "replay", str(VTEST)], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 78
    assert done.stderr.strip() == (
        f"camhub-agent: model {DEFAULT_MODEL} is not installed "
        f"({tmp_path}/models/{DEFAULT_MODEL}.tflite not found): "
        f"run `camhub-agent model fetch {DEFAULT_MODEL}`, or set detector.model"
    )
