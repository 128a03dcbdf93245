"""What the village rules add to a camera's pipeline, per frame, as the agent runs them.

Two pipelines run over the same frames, interleaved frame by frame: one with no
rules, one wired as a village config makes it: two counting lines, two guarded
zones (entry with a night schedule, and a dwell time), a left-behind watch over
both zones, and evidence pictures for alerts (and for `new`, to make the
pictures' cost visible). Inside the wired one the rules, the watch and the
picture encoding are timed where they run; its share of the wired pipeline's
time is the figure the 5 % bound is about. The plain pipeline's time beside it
is the check that nothing else grew (it also carries the detector's noise).

    .venv/bin/python benchmarks/rules_overhead.py [--video PATH] [--frames 400]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import MEDIA, MODEL

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.evidence import EvidenceBudget
from agent.pipeline import CameraPipeline

YARD = [[0.1, 0.4], [0.5, 0.4], [0.5, 0.9], [0.1, 0.9]]
DOOR = [[0.6, 0.5], [0.95, 0.5], [0.95, 0.9], [0.6, 0.9]]
RULES: dict[str, Any] = {
    "lines": {"road": {"points": [[0.0, 0.55], [1.0, 0.55]]}, "path": {"points": [[0.5, 0.3], [0.5, 1.0]]}},
    "zones": {
        "yard": {"points": YARD, "entered": True, "schedule": "22:00-05:00", "left_behind": True},
        "door": {"points": DOOR, "dwell": 5, "left_behind": True},
    },
}


class Timer:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, target: Callable[..., Any]) -> None:
        self.target = target
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.target(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=MEDIA / "vtest.avi")
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    detector = Detector(MODEL)
    plain_camera = CameraConfig(id="cam", source=str(args.video))
    wired_camera = CameraConfig(id="cam", source=str(args.video), **RULES)
    config = HubConfig(hub_id="bench", cameras=[wired_camera], evidence={"new": True})
    plain = CameraPipeline(config, plain_camera, detector)
    wired = CameraPipeline(config, wired_camera, detector, budget=EvidenceBudget(10**9))
    assert wired.rules is not None and wired.left is not None
    rules, left = Timer(wired.rules.update), Timer(wired.left.update)
    pictures = Timer(wired._with_picture)
    wired.rules.update, wired.left.update, wired._with_picture = rules, left, pictures  # type: ignore[method-assign]
    source = OpenCVSource("cam", str(args.video), realtime=False)
    source.open()
    plain_s = wired_s = 0.0
    frames = 0
    while frames < args.frames and (frame := source.read()) is not None:
        for pipeline in (plain, wired) if frames % 2 else (wired, plain):  # neither always goes first
            started = time.perf_counter()
            pipeline.process(frame)
            spent = time.perf_counter() - started
            plain_s, wired_s = (plain_s + spent, wired_s) if pipeline is plain else (plain_s, wired_s + spent)
        frames += 1
    source.close()
    c = wired.counters
    per = 1e3 / frames
    print(f"{args.video.name}: {frames} frames, {c.invocations} detector invocations, events {dict(c.events)}")
    print(f"plain pipeline {plain_s * per:.2f} ms/frame, wired {wired_s * per:.2f} ms/frame")
    parts = f"rules {rules.seconds * per:.3f}, left watch {left.seconds * per:.3f}"
    parts += f", pictures {pictures.seconds * per:.3f}"
    print(f"in the wired one: {parts} ms/frame ({c.pictures} pictures, {c.picture_bytes} bytes)")
    rules_left = rules.seconds + left.seconds
    print(f"rules + left watch / wired pipeline: {100 * rules_left / wired_s:.2f} %")
    print(f"rules + left watch + pictures / wired pipeline: {100 * (rules_left + pictures.seconds) / wired_s:.2f} %")
    print(f"left watch memory: {wired.left.nbytes / 1024:.0f} KiB per camera")


if __name__ == "__main__":
    main()
