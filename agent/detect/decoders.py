"""What a model returns, read into boxes, scores and class ids: one decoder per
output family. Boxes are (x1, y1, x2, y2) as fractions of the model's input,
best first."""

from __future__ import annotations

from typing import Any, Protocol

import cv2
import numpy as np

from agent.detect.runtime import Interpreter
from agent.detect.spec import YOLOX_STRIDES, ModelSpec

Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes [n, 4], scores [n], class ids [n]


class Decoder(Protocol):
    def decode(self, interpreter: Interpreter, min_score: float) -> Decoded: ...


class SsdDecoder:
    """The graph ends in TFLite_Detection_PostProcess: boxes are decoded and suppressed already."""

    def __init__(self, interpreter: Interpreter) -> None:
        self._boxes, self._classes, self._scores, self._count = postprocess_outputs(interpreter.get_output_details())

    def decode(self, interpreter: Interpreter, min_score: float) -> Decoded:
        n = int(np.ravel(interpreter.get_tensor(self._count))[0])
        scores = interpreter.get_tensor(self._scores)[0][:n]
        keep = scores >= min_score
        boxes = interpreter.get_tensor(self._boxes)[0][:n][keep][:, [1, 0, 3, 2]]  # ymin, xmin, ... -> x1, y1, ...
        classes = interpreter.get_tensor(self._classes)[0][:n][keep].astype(np.int64)
        return boxes, scores[keep], classes


def postprocess_outputs(details: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    """Tensor indices of (boxes, classes, scores, count). The op creates its outputs in that order;
    exporters may list them in another (TF2's follow the signature's names), but the tensor indices
    keep the op's order."""
    boxes, classes, scores, count = sorted(d["index"] for d in details)
    return boxes, classes, scores, count


class YoloxDecoder:
    """Raw grid output, one row per grid cell of each stride: dx, dy, log w, log h, objectness and
    class probabilities. Boxes come from the cell and its stride; a box's score is objectness x its
    best class; overlapping boxes of one class are suppressed by OpenCV's NMS."""

    def __init__(self, interpreter: Interpreter, spec: ModelSpec, nms_iou: float = 0.45) -> None:
        self._output = interpreter.get_output_details()[0]["index"]
        width, height = spec.input.width, spec.input.height
        cells, strides = [], []
        for s in YOLOX_STRIDES:
            ys, xs = np.mgrid[0 : height // s, 0 : width // s]
            cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
            strides.append(np.full(xs.size, s))
        self._cells = np.concatenate(cells).astype(np.float32)
        self._strides = np.concatenate(strides).astype(np.float32)[:, np.newaxis]
        self._scale = np.array([width, height, width, height], np.float32)
        self._nms_iou = nms_iou

    def decode(self, interpreter: Interpreter, min_score: float) -> Decoded:
        out = interpreter.get_tensor(self._output)[0]
        # A score is objectness x a probability, so it can only pass where objectness does.
        rows = np.flatnonzero(out[:, 4] >= min_score)
        raw = out[rows]
        classes = raw[:, 5:].argmax(axis=1)
        scores = raw[:, 4] * raw[np.arange(len(rows)), 5 + classes]
        sure = scores >= min_score
        rows, raw, classes, scores = rows[sure], raw[sure], classes[sure], scores[sure]
        stride = self._strides[rows]
        centre = (raw[:, :2] + self._cells[rows]) * stride
        size = np.exp(raw[:, 2:4]) * stride
        xywh = np.concatenate([centre - size / 2, size], axis=1)
        kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(), min_score, self._nms_iou)
        kept = np.asarray(kept, np.int64).reshape(-1)
        xyxy = np.concatenate([xywh[kept, :2], xywh[kept, :2] + xywh[kept, 2:]], axis=1) / self._scale
        return xyxy, scores[kept], classes[kept]


def make_decoder(interpreter: Interpreter, spec: ModelSpec) -> Decoder:
    if spec.decoder == "yolox":
        return YoloxDecoder(interpreter, spec)
    return SsdDecoder(interpreter)
