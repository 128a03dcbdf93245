"""What the village rules add to a camera's pipeline, per frame.

The pipeline (decode, motion gate, detector, tracker) runs over the clip; after
every detector pass, the same tracks go through a RuleEngine with two counting
lines and two guarded zones (entry with a night schedule, and a dwell time).
Both are timed in the same run, on the same passes, interleaved pass by pass;
the ratio of the rules' time to the pipeline's is printed.

    .venv/bin/python benchmarks/rules_overhead.py [--video PATH] [--frames 400]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import MEDIA, MODEL

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.pipeline import CameraPipeline
from agent.rules.clock import WallClock
from agent.rules.engine import RuleEngine

RULES = {
    "lines": {"road": {"points": [[0.0, 0.55], [1.0, 0.55]]}, "path": {"points": [[0.5, 0.3], [0.5, 1.0]]}},
    "zones": {
        "yard": {
            "points": [[0.1, 0.4], [0.5, 0.4], [0.5, 0.9], [0.1, 0.9]],
            "entered": True,
            "schedule": "22:00-05:00",
        },
        "door": {"points": [[0.6, 0.5], [0.95, 0.5], [0.95, 0.9], [0.6, 0.9]], "dwell": 5},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=MEDIA / "vtest.avi")
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    camera = CameraConfig(id="cam", source=str(args.video), **RULES)  # type: ignore[arg-type]
    config = HubConfig(hub_id="bench", cameras=[camera])
    pipeline = CameraPipeline(config, camera, Detector(MODEL))
    engine = RuleEngine(camera, "Asia/Ho_Chi_Minh", WallClock(lambda: True))
    source = OpenCVSource("cam", str(args.video), realtime=False)
    source.open()
    pipeline_s = rules_s = 0.0
    frames = passes = findings = 0
    while frames < args.frames and (frame := source.read()) is not None:
        started = time.perf_counter()
        pipeline.process(frame)
        pipeline_s += time.perf_counter() - started
        frames += 1
        if pipeline.last_decision is not None and pipeline.last_decision.detect:
            tracks = pipeline.tracker.active()
            started = time.perf_counter()
            findings += len(engine.update(tracks, frame.mono, frame.wall))
            rules_s += time.perf_counter() - started
            passes += 1
    source.close()
    print(f"{args.video.name}: {frames} frames, {passes} detector passes, {findings} findings")
    print(f"pipeline {pipeline_s / frames * 1e3:.2f} ms/frame, rules {rules_s / frames * 1e3:.3f} ms/frame")
    print(f"rules / pipeline: {100 * rules_s / pipeline_s:.2f} %")


if __name__ == "__main__":
    main()
