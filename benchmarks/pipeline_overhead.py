"""The agent's pipeline versus the limit: decoding a frame plus one `invoke`.

All paths run in this one process, on the same frames of the same file, with
the same interpreter, interleaved frame by frame (each path has its own
decoder, advanced in lockstep) so that the machine's drifts in speed hit every
path alike. Each round covers the whole file; the median round is reported.

    .venv/bin/python benchmarks/pipeline_overhead.py [--video PATH] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from common import MEDIA, MODEL

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.pipeline import CameraPipeline


class Bare:
    """Decode, resize to the model input, invoke: nothing else."""

    def __init__(self, video: Path, detector: Detector) -> None:
        self.cap = cv2.VideoCapture(str(video))
        self.interpreter, self.size = detector.interpreter, detector.input_size
        self.index = self.interpreter.get_input_details()[0]["index"]

    def step(self) -> bool:
        ok, image = self.cap.read()
        if not ok:
            return False
        rgb = cv2.cvtColor(cv2.resize(image, self.size), cv2.COLOR_BGR2RGB)
        self.interpreter.set_tensor(self.index, rgb[np.newaxis])
        self.interpreter.invoke()
        return True


class Agent:
    """The agent's path: source -> gate -> detect -> filter -> track -> events."""

    def __init__(self, video: Path, detector: Detector, every_frame: bool) -> None:
        config = HubConfig(hub_id="bench", cameras=[CameraConfig(id="bench", source=str(video))])
        self.pipeline = CameraPipeline(config, config.cameras[0], detector, every_frame=every_frame)
        self.source = OpenCVSource("bench", str(video), realtime=False)
        self.source.open()

    def step(self) -> bool:
        frame = self.source.read()
        if frame is None:
            self.pipeline.finish()
            return False
        self.pipeline.process(frame)
        return True


def one_round(video: Path, detector: Detector) -> tuple[dict[str, float], int, int]:
    """Seconds per frame of each path over the whole file, frames, gated invocations."""
    paths = {
        "bare": Bare(video, detector),
        "every": Agent(video, detector, every_frame=True),
        "gated": Agent(video, detector, every_frame=False),
    }
    spent = dict.fromkeys(paths, 0.0)
    frames = 0
    running = True
    order = list(paths)
    while running:
        order.append(order.pop(0))  # rotate, so that no path always runs first after another
        for name in order:
            path = paths[name]
            started = time.perf_counter()
            running = path.step() and running
            spent[name] += time.perf_counter() - started
        frames += running
    gated = paths["gated"]
    assert isinstance(gated, Agent)
    return {k: v / max(frames, 1) for k, v in spent.items()}, frames, gated.pipeline.counters.invocations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=MEDIA / "vtest.avi")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    detector = Detector(MODEL, threads=args.threads)
    rounds = []
    for _ in range(args.rounds):
        per_frame, frames, invokes = one_round(args.video, detector)
        rounds.append(per_frame)
    ratios = {k: statistics.median(r[k] / r["bare"] for r in rounds) for k in rounds[0]}
    times = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(f"{args.video.name}: {frames} frames, runtime {detector.runtime}, {args.threads} threads, "
          f"median of {args.rounds} interleaved rounds")  # fmt: skip
    print(f"{'path':<42} {'ms/frame':>9} {'ratio':>7}")
    labels = {
        "bare": "decode + invoke (the limit)",
        "every": "pipeline, detector on every frame",
        "gated": f"pipeline, motion gate ({invokes} invokes)",
    }
    for key, label in labels.items():
        print(f"{label:<42} {times[key] * 1000:>9.2f} {ratios[key]:>6.3f}x")
    print("per round (every-frame ratio): " + ", ".join(f"{r['every'] / r['bare']:.3f}" for r in rounds))


if __name__ == "__main__":
    main()
