"""How to feed a detection model and how to read what it returns.

A model of the catalog states its spec; any other file's spec is recognised
from its tensors, with the conventions of its output family filled in for what
tensors cannot show (colour order, letterbox or stretch, normalisation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.detect.labels import COCO80_LABELS, COCO_LABELS
from agent.errors import ModelError

Decoder = Literal["ssd", "yolox"]
# The raw-grid family predicts on grids of these strides, finest first.
YOLOX_STRIDES = (8, 16, 32)


@dataclass(frozen=True, slots=True)
class InputSpec:
    width: int
    height: int
    dtype: Literal["uint8", "float32"]
    layout: Literal["NHWC", "NCHW"]
    colour: Literal["RGB", "BGR"]
    fit: Literal["stretch", "letterbox"]  # letterbox: scaled to fit, top left, the rest filled with `fill`
    mean: float = 0.0  # float inputs get (pixel - mean) / std
    std: float = 1.0
    fill: int = 114

    def describe(self) -> str:
        norm = "" if self.mean == 0 and self.std == 1 else f" (x-{self.mean:g})/{self.std:g}"
        return f"{self.width}x{self.height} {self.dtype} {self.layout} {self.colour} {self.fit}{norm}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    input: InputSpec
    decoder: Decoder
    labels: tuple[str, ...]  # by class id
    max_boxes: int | None  # detections a frame at most; None: no cap


def recognise(path: Path, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> ModelSpec:
    """The spec of a model file from its tensors; ModelError when it is no layout the agent reads."""
    dtype = inputs[0]["dtype"].__name__ if len(inputs) == 1 else None
    if dtype in ("uint8", "float32") and len(inputs[0]["shape"]) == 4:
        shape = [int(n) for n in inputs[0]["shape"]]
        if len(outputs) == 4 and shape[3] == 3 and _ssd_shapes(outputs):
            return _ssd_spec(shape[2], shape[1], dtype, outputs)
        if len(outputs) == 1 and dtype == "float32" and 3 in (shape[1], shape[3]):
            spec = _yolox_spec(shape, outputs[0])
            if spec is not None:
                return spec
    found = ", ".join(_tensor(d) for d in inputs) + " -> " + ", ".join(_tensor(d) for d in outputs)
    raise ModelError(
        f"{path}: not a detector layout the agent can read ({found}); expected an SSD-style model ending in "
        "TFLite_Detection_PostProcess (image -> boxes [1,N,4], classes [1,N], scores [1,N], count [1]) or a "
        "YOLOX-style raw grid (image -> [1, anchors, 5 + classes] for strides 8, 16, 32)"
    )


def check_agrees(path: Path, declared: ModelSpec, found: ModelSpec) -> None:
    """A catalog model's file must have the tensors its entry declares."""
    visible = ("width", "height", "dtype", "layout")
    wrong = [f"{k}: {getattr(declared.input, k)} declared, {getattr(found.input, k)} in the file" for k in visible
             if getattr(declared.input, k) != getattr(found.input, k)]  # fmt: skip
    if declared.decoder != found.decoder:
        wrong.append(f"decoder: {declared.decoder} declared, {found.decoder} in the file")
    if wrong:
        raise ModelError(f"{path}: does not match its catalog entry ({'; '.join(wrong)})")


def _ssd_shapes(outputs: list[dict[str, Any]]) -> bool:
    ranks = sorted(len(d["shape"]) for d in outputs)
    return ranks == [1, 2, 2, 3] and any(len(d["shape"]) == 3 and d["shape"][-1] == 4 for d in outputs)


def _ssd_spec(width: int, height: int, dtype: str | None, outputs: list[dict[str, Any]]) -> ModelSpec:
    boxes = next(d for d in outputs if len(d["shape"]) == 3)
    # Float SSD graphs are trained on pixels scaled to [-1, 1]; quantized ones take 0..255 as they are.
    norm = {"mean": 127.5, "std": 127.5} if dtype == "float32" else {}
    spec = InputSpec(width, height, dtype, "NHWC", "RGB", "stretch", **norm)  # type: ignore[arg-type]
    return ModelSpec(spec, "ssd", COCO_LABELS, int(boxes["shape"][1]))


def _yolox_spec(shape: list[int], output: dict[str, Any]) -> ModelSpec | None:
    layout = "NCHW" if shape[1] == 3 else "NHWC"
    height, width = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
    grid = sum((height // s) * (width // s) for s in YOLOX_STRIDES)
    out = [int(n) for n in output["shape"]]
    if len(out) != 3 or out[1] != grid or out[2] <= 5:
        return None
    classes = out[2] - 5
    labels = COCO80_LABELS if classes == len(COCO80_LABELS) else tuple(f"class{i}" for i in range(classes))
    # YOLOX is trained on OpenCV's BGR pixels, 0..255, letterboxed.
    spec = InputSpec(width, height, "float32", layout, "BGR", "letterbox")  # type: ignore[arg-type]
    return ModelSpec(spec, "yolox", labels, None)


def _tensor(detail: dict[str, Any]) -> str:
    return f"{detail['dtype'].__name__}{list(int(n) for n in detail['shape'])}"
