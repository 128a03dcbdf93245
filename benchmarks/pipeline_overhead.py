"""The agent's pipeline versus the limit (decoding a frame plus one `invoke`),
for every catalog model the development data holds, and each model's invoke
time relative to ssd_mobilenet_v1_coco_quant.

Each model's paths run in this one process on the same frames of the same
file, interleaved frame by frame (each path has its own decoder, advanced in
lockstep, and the order rotates), so that the machine's drifts in speed hit
every path alike; the invokes of all models are compared the same way, all
models on each frame. Times are medians over frames: on a shared machine a few
frames stall whatever runs, and the median leaves those out. With --rounds N
each model's paths run N times over the frames (fresh paths each time), all
rounds pooled: a slow spell of the machine then weighs on one round only.

    .venv/bin/python benchmarks/pipeline_overhead.py [--video PATH] [--frames 300] [--rounds 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import MEDIA, catalog_models

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.pipeline import CameraPipeline

REFERENCE = "ssd_mobilenet_v1_coco_quant"


class Bare:
    """Decode, prepare the model's input, invoke: nothing else. Each step decodes the next frame after
    its invoke, as a loop of only these would: the runtime's threads keep spinning a little after
    invoke returns, and on two cores whatever runs next pays for that, here as in the agent."""

    def __init__(self, video: Path, detector: Detector) -> None:
        self.cap = cv2.VideoCapture(str(video))
        self.detector = detector
        self.index = detector.interpreter.get_input_details()[0]["index"]
        self.image = self._read()

    def step(self) -> bool:
        if self.image is None:
            return False
        tensor, _ = self.detector.feeder.prepare(self.image)
        self.detector.interpreter.set_tensor(self.index, tensor)
        self.detector.interpreter.invoke()
        self.image = self._read()
        return True

    def _read(self) -> np.ndarray | None:
        ok, image = self.cap.read()
        return image if ok else None


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


def overhead(video: Path, detector: Detector, limit: int) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    """Seconds of every frame on each path of one model (wall clock, and CPU of this thread outside
    invoke: the agent's own work, which waiting for a busy CPU does not inflate), and the gated
    path's invocations."""
    paths: dict[str, Any] = {
        "bare": Bare(video, detector),
        "every": Agent(video, detector, every_frame=True),
        "gated": Agent(video, detector, every_frame=False),
    }
    wall: dict[str, list[float]] = {key: [] for key in paths}
    cpu: dict[str, list[float]] = {key: [] for key in paths}
    invoke = _CpuOfInvoke(detector)
    order = list(paths)
    try:
        for _ in range(limit):
            order.append(order.pop(0))  # rotate, so that no path always runs first after another
            for key in order:
                started, started_cpu, invoke.seconds = time.perf_counter(), time.thread_time(), 0.0
                if not paths[key].step():
                    return wall, cpu, paths["gated"].pipeline.counters.invocations
                wall[key].append(time.perf_counter() - started)
                cpu[key].append(time.thread_time() - started_cpu - invoke.seconds)
        return wall, cpu, paths["gated"].pipeline.counters.invocations
    finally:
        invoke.remove()


def pooled(
    video: Path, detector: Detector, limit: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    """overhead() ROUNDS times, each path's frames of all rounds together (cut to the frames every
    path ran, so that frame k of one path still pairs with frame k of the others); the gated
    invokes of the first round."""
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    invokes = 0
    for round_ in range(rounds):
        more_wall, more_cpu, gated = overhead(video, detector, limit)
        frames = min(len(times) for times in more_wall.values())
        for key in more_wall:
            wall.setdefault(key, []).extend(more_wall[key][:frames])
            cpu.setdefault(key, []).extend(more_cpu[key][:frames])
        invokes = gated if round_ == 0 else invokes
    return wall, cpu, invokes


class _CpuOfInvoke:
    """Counts this thread's CPU inside invoke, to leave it out: the runtime's threads wait for each
    other there, spinning longer the busier the machine."""

    def __init__(self, detector: Detector) -> None:
        self.seconds = 0.0
        self._detector = detector
        self._invoke = detector.interpreter.invoke
        detector.interpreter.invoke = self  # type: ignore[method-assign]

    def __call__(self) -> None:
        started = time.thread_time()
        self._invoke()
        self.seconds += time.thread_time() - started

    def remove(self) -> None:
        self._detector.interpreter.invoke = self._invoke  # type: ignore[method-assign]


def invoke_times(video: Path, detectors: dict[str, Detector], limit: int) -> dict[str, list[float]]:
    """Seconds of each model's invoke, all models on each frame in turn."""
    cap = cv2.VideoCapture(str(video))
    spent: dict[str, list[float]] = {name: [] for name in detectors}
    order = list(detectors)
    for _ in range(limit):
        ok, image = cap.read()
        if not ok:
            break
        order.append(order.pop(0))
        for name in order:
            detector = detectors[name]
            tensor, _ = detector.feeder.prepare(image)
            detector.interpreter.set_tensor(detector.interpreter.get_input_details()[0]["index"], tensor)
            started = time.perf_counter()
            detector.interpreter.invoke()
            spent[name].append(time.perf_counter() - started)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=MEDIA / "vtest.avi")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    detectors = {name: Detector(path, threads=args.threads) for name, path in catalog_models().items()}
    invoke = invoke_times(args.video, detectors, args.frames)
    runtime = next(iter(detectors.values())).runtime
    print(f"{args.video.name}: {args.frames} frames x {args.rounds} rounds, runtime {runtime}, {args.threads} threads. "
          "invoke: all models interleaved on each frame; limit, pipeline: each model's three paths interleaved "
          "frame by frame. ms: median per frame; ratio (wall clock) and +ms CPU (this thread, outside invoke): "
          "median over frames of the ratio and the difference on the same frame")  # fmt: skip
    print(f"{'':<28} {'':>9} {'':>6} {'':>9} {'every frame':>19} {'motion gate':>19}")
    print(f"{'model':<28} {'invoke ms':>9} {'vs v1':>6} {'limit ms':>9}" + f" {'ratio':>9} {'+ms CPU':>9}" * 2)
    for name, detector in detectors.items():
        wall, cpu, invokes = pooled(args.video, detector, args.frames, args.rounds)
        row = [_ms(invoke[name]), _ratio(invoke[name], invoke[REFERENCE]), _ms(wall["bare"])]
        for path in ("every", "gated"):
            row += [_ratio(wall[path], wall["bare"]), _extra_ms(cpu[path], cpu["bare"])]
        print(f"{name:<28} {row[0]:>9.2f} {row[1]:>5.2f}x {row[2]:>9.2f} {row[3]:>8.3f}x {row[4]:>9.2f} "
              f"{row[5]:>8.3f}x {row[6]:>9.2f}  ({invokes} gated invokes)", flush=True)  # fmt: skip


def _ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _extra_ms(times: list[float], reference: list[float]) -> float:
    """What the path costs over the reference, frame by frame: the part that does not grow with invoke."""
    return statistics.median(a - b for a, b in zip(times, reference, strict=False)) * 1000


def _ratio(times: list[float], reference: list[float]) -> float:
    """Frame by frame, so that what varies with the frame (its decoding, its objects) cancels out."""
    return statistics.median(a / b for a, b in zip(times, reference, strict=False))


if __name__ == "__main__":
    main()
