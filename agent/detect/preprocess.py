"""A BGR picture into a model's input tensor, as its InputSpec says."""

from __future__ import annotations

import cv2
import numpy as np

from agent.detect.spec import InputSpec


class InputFeeder:
    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.size = (spec.width, spec.height)
        # Reused for every frame: a letterboxed picture only ever rewrites its own part and the border.
        self._canvas = np.full((spec.height, spec.width, 3), spec.fill, np.uint8)

    def prepare(self, bgr: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """The input tensor, and the fractions of the input's width and height the picture fills."""
        fitted, content = self._fit(bgr)
        spec = self.spec
        if spec.colour == "RGB":
            fitted = cv2.cvtColor(fitted, cv2.COLOR_BGR2RGB)
        if spec.dtype == "uint8":
            return fitted[np.newaxis], content
        if spec.layout == "NCHW":
            # One OpenCV call: to float, normalised and channels first.
            blob = cv2.dnn.blobFromImage(fitted, 1.0 / spec.std, mean=(spec.mean,) * 3, ddepth=cv2.CV_32F)
            return blob, content
        return ((fitted.astype(np.float32) - spec.mean) / spec.std)[np.newaxis], content

    def _fit(self, bgr: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        if self.spec.fit == "stretch":
            return cv2.resize(bgr, self.size, interpolation=cv2.INTER_LINEAR), (1.0, 1.0)
        height, width = bgr.shape[:2]
        r = min(self.spec.width / width, self.spec.height / height)
        w, h = min(round(width * r), self.spec.width), min(round(height * r), self.spec.height)
        canvas = self._canvas
        canvas[:h, :w] = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR)
        canvas[h:, :] = self.spec.fill
        canvas[:h, w:] = self.spec.fill
        return canvas, (w / self.spec.width, h / self.spec.height)
