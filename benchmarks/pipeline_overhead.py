"""The agent's pipeline versus the limit: decoding a frame plus one `invoke`.

Both run in this one process on the same frames of the same file with the same
interpreter, alternating rounds so that machine noise hits both alike; the
best round of each is compared.

    .venv/bin/python benchmarks/pipeline_overhead.py [--video PATH] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from common import MEDIA, MODEL

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.pipeline import CameraPipeline


def bare(video: Path, detector: Detector) -> tuple[float, int]:
    """Decode, resize to the model input, invoke: nothing else."""
    interpreter, size = detector.interpreter, detector.input_size
    index = interpreter.get_input_details()[0]["index"]
    cap = cv2.VideoCapture(str(video))
    frames = 0
    started = time.perf_counter()
    while True:
        ok, image = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(cv2.resize(image, size), cv2.COLOR_BGR2RGB)
        interpreter.set_tensor(index, rgb[np.newaxis])
        interpreter.invoke()
        frames += 1
    cap.release()
    return time.perf_counter() - started, frames


def pipeline(video: Path, detector: Detector, every_frame: bool) -> tuple[float, int, int]:
    """The agent's path: source -> gate -> detect -> filter -> track -> events (as JSON)."""
    config = HubConfig(hub_id="bench", cameras=[CameraConfig(id="bench", source=str(video))])
    pipe = CameraPipeline(config, config.cameras[0], detector, every_frame=every_frame)
    source = OpenCVSource("bench", str(video), realtime=False)
    source.open()
    started = time.perf_counter()
    while (frame := source.read()) is not None:
        pipe.process(frame)
    pipe.finish()
    source.close()
    return time.perf_counter() - started, pipe.counters.frames, pipe.counters.invocations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=MEDIA / "vtest.avi")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    detector = Detector(MODEL, threads=args.threads)
    best = {"bare": float("inf"), "pipeline": float("inf"), "gated": float("inf")}
    frames = invokes = 0
    for _ in range(args.rounds):
        seconds, frames = bare(args.video, detector)
        best["bare"] = min(best["bare"], seconds / frames)
        seconds, _, _ = pipeline(args.video, detector, every_frame=True)
        best["pipeline"] = min(best["pipeline"], seconds / frames)
        seconds, _, invokes = pipeline(args.video, detector, every_frame=False)
        best["gated"] = min(best["gated"], seconds / frames)
    print(f"{args.video.name}: {frames} frames, runtime {detector.runtime}, {args.threads} threads, "
          f"best of {args.rounds} rounds")
    print(f"{'path':<40} {'ms/frame':>9} {'ratio':>7}")
    rows = [
        ("decode + invoke (the limit)", best["bare"]),
        ("pipeline, detector on every frame", best["pipeline"]),
        (f"pipeline, motion gate ({invokes} invokes)", best["gated"]),
    ]
    for name, per_frame in rows:
        print(f"{name:<40} {per_frame * 1000:>9.2f} {per_frame / best['bare']:>6.3f}x")


if __name__ == "__main__":
    main()
