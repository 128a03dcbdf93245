"""The object detector: one persistent TFLite interpreter, fed and read as the
model's spec says (the catalog's entry for a known file, else what its tensors
show), behind one interface for every model family."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent.detect.catalog import entry_with_sha256
from agent.detect.decoders import make_decoder
from agent.detect.geometry import Box, Point, foot
from agent.detect.labels import load_labels
from agent.detect.model import resolve_model, sha256_of
from agent.detect.preprocess import InputFeeder
from agent.detect.runtime import Interpreter, RuntimeName, load_interpreter
from agent.detect.spec import ModelSpec, check_agrees, recognise

if TYPE_CHECKING:
    from agent.config import DetectorConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: Box

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    @property
    def foot(self) -> Point:
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
        self.spec = model_spec(model, self.interpreter)
        if labels is not None:
            self.spec = replace(self.spec, labels=load_labels(labels))
        self.labels = self.spec.labels
        self.min_score = min_score
        self.input_size = (self.spec.input.width, self.spec.input.height)
        self._input_index = self.interpreter.get_input_details()[0]["index"]
        self.feeder = InputFeeder(self.spec.input)
        self._decoder = make_decoder(self.interpreter, self.spec)

    @classmethod
    def from_config(cls, settings: DetectorConfig) -> Detector:
        """The detector SETTINGS describe; the model is resolved as `resolve_model` says (ModelError if missing)."""
        return cls(resolve_model(settings.model), settings.labels, settings.threads, settings.runtime)

    def detect(self, image: np.ndarray, region: Region | None = None) -> list[Detection]:
        """Detections on a BGR image (or on one square region of it), boxes
        normalised to the whole image, best first."""
        height, width = image.shape[:2]
        crop = image if region is None else image[region.y : region.y + region.size, region.x : region.x + region.size]
        tensor, (fill_x, fill_y) = self.feeder.prepare(crop)
        self.interpreter.set_tensor(self._input_index, tensor)
        self.interpreter.invoke()
        boxes, scores, classes = self._decoder.decode(self.interpreter, self.min_score)
        # From the model's input to the picture (a letterboxed one fills only part of it), clipped to it.
        xyxy = np.clip(boxes / np.array([fill_x, fill_y, fill_x, fill_y]), 0.0, 1.0)
        if region is not None:
            scale = np.array([crop.shape[1] / width, crop.shape[0] / height] * 2)
            xyxy = xyxy * scale + np.array([region.x / width, region.y / height] * 2)
        keep = (
            (classes >= 0)
            & (classes < len(self.labels))
            # A box clipped to nothing is an object outside the picture.
            & (xyxy[:, 2] - xyxy[:, 0] >= 1e-3)
            & (xyxy[:, 3] - xyxy[:, 1] >= 1e-3)
        )
        rounded = np.round(xyxy, 4).tolist()
        return [Detection(self.labels[classes[i]], float(scores[i]), tuple(rounded[i])) for i in np.flatnonzero(keep)]


def model_spec(path: Path, interpreter: Interpreter) -> ModelSpec:
    """The catalog's spec when the file is a catalog model (checked against its tensors), else the
    spec its tensors show."""
    found = recognise(path, interpreter.get_input_details(), interpreter.get_output_details())
    entry = entry_with_sha256(sha256_of(path))
    if entry is None:
        log.info("%s is not in the catalog: read as %s, input %s", path.name, found.decoder, found.input.describe())
        return found
    check_agrees(path, entry.spec, found)
    return entry.spec
