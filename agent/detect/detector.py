"""The object detector: one persistent TFLite interpreter for SSD-style models
whose graph ends in the standard `TFLite_Detection_PostProcess` op (SSD
MobileNet, SSDLite MobileDet, EfficientDet-Lite)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.detect.geometry import foot
from agent.detect.labels import load_labels
from agent.detect.runtime import RuntimeName, load_interpreter

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]  # x1, y1, x2, y2, normalised to the frame


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: Box

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    @property
    def foot(self) -> tuple[float, float]:
        return foot(self.box)


@dataclass(frozen=True, slots=True)
class Region:
    """A square of the frame, in pixels, to run the model on instead of the whole frame."""

    x: int
    y: int
    size: int


class Detector:
    """Runs the model on BGR frames; the interpreter is created once and reused."""

    def __init__(
        self,
        model: Path,
        labels: Path | None = None,
        threads: int = 2,
        runtime: RuntimeName = "auto",
        min_score: float = 0.3,
    ) -> None:
        self.interpreter, self.runtime = load_interpreter(model, threads, runtime)
        self.model = model
        self.labels = load_labels(labels)
        self.min_score = min_score
        inp = self.interpreter.get_input_details()[0]
        self._input_index = inp["index"]
        self._input_dtype = inp["dtype"]
        self.input_size = (int(inp["shape"][2]), int(inp["shape"][1]))  # width, height
        self._outputs = _output_indices(self.interpreter.get_output_details())

    def detect(self, image: np.ndarray, region: Region | None = None) -> list[Detection]:
        """Detections on a BGR image (or on one square region of it), boxes
        normalised to the whole image, best first."""
        height, width = image.shape[:2]
        crop = image if region is None else image[region.y : region.y + region.size, region.x : region.x + region.size]
        self.interpreter.set_tensor(self._input_index, self._prepare(crop))
        self.interpreter.invoke()
        boxes, classes, scores, count = (self.interpreter.get_tensor(i)[0] for i in self._outputs)
        n = min(int(np.ravel(count)[0]), len(scores))
        # ymin, xmin, ymax, xmax -> x1, y1, x2, y2, clipped to the picture, then into whole-image coordinates.
        xyxy = np.clip(boxes[:n, [1, 0, 3, 2]], 0.0, 1.0)
        if region is not None:
            scale = np.array([crop.shape[1] / width, crop.shape[0] / height] * 2)
            xyxy = xyxy * scale + np.array([region.x / width, region.y / height] * 2)
        keep = (
            (scores[:n] >= self.min_score)
            & (classes[:n] >= 0)
            & (classes[:n] < len(self.labels))
            # A box clipped to nothing is an object outside the picture.
            & (xyxy[:, 2] - xyxy[:, 0] >= 1e-3)
            & (xyxy[:, 3] - xyxy[:, 1] >= 1e-3)
        )
        rounded = np.round(xyxy, 4).tolist()
        return [
            Detection(self.labels[int(classes[i])], float(scores[i]), tuple(rounded[i]))
            for i in np.flatnonzero(keep)
        ]

    def _prepare(self, bgr: np.ndarray) -> np.ndarray:
        resized = cv2.resize(bgr, self.input_size)
        rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        if self._input_dtype == np.uint8:
            return rgb[np.newaxis]
        # Float SSD graphs are trained on inputs scaled to [-1, 1].
        return ((rgb.astype(np.float32) - 127.5) / 127.5)[np.newaxis]


def _output_indices(details: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    """Indices of (boxes, classes, scores, count).

    TF1-exported graphs name them TFLite_Detection_PostProcess[:1|:2|:3] in that
    order; TF2 exports reorder them, so fall back on shapes (boxes are [1,N,4],
    count is [1]) and on the usual TF2 order (scores before classes)."""
    by_name = {d["name"]: d["index"] for d in details}
    names = [f"TFLite_Detection_PostProcess{s}" for s in ("", ":1", ":2", ":3")]
    if all(n in by_name for n in names):
        return tuple(by_name[n] for n in names)  # type: ignore[return-value]
    if len(details) != 4:
        raise ValueError(f"expected 4 detection outputs (boxes, classes, scores, count), the model has {len(details)}")
    boxes = next(d["index"] for d in details if len(d["shape"]) == 3 and d["shape"][-1] == 4)
    count = next(d["index"] for d in details if len(d["shape"]) == 1)
    scores, classes = (d["index"] for d in details if len(d["shape"]) == 2)
    return boxes, classes, scores, count
