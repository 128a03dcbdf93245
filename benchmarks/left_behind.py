"""False `left` findings on the development footage, and what the watch costs.

Each clip runs once through the agent's pipeline (decode, motion gate,
detector, tracker) with left-behind watches beside it on the gate's small grey
frame, over a zone covering the whole picture: one with the default `after`
(30 s) and one with a short `after` (5 s), which sees far more candidates and
so tests the judgement harder. None of these clips has anything left behind,
so every finding is a false alert.

The cost is measured side by side on the same frames: the pipeline's time per
frame (decode + process) and the default watch's (including listing the
tracked objects it needs), as a ratio. Frames are stamped with their time in
the video (seq / fps), as the other benchmarks do.

    .venv/bin/python benchmarks/left_behind.py [--clips quiet.mp4 vtest.avi]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
from common import MEDIA, MODEL

from agent.config import CameraConfig, HubConfig, LeftBehindConfig
from agent.detect.detector import Detector
from agent.frame import Frame
from agent.pipeline import CameraPipeline
from agent.rules.left_behind import LeftBehindWatch, WatchedZone
from agent.track.tracker import Track

CLIPS = ["quiet.mp4", "tree.avi", "vtest.avi", "car-detection.mp4"]
WHOLE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
AFTERS = (LeftBehindConfig().after, 5.0)


def run(video: Path, detector: Detector) -> tuple[int, float, float, dict[float, LeftBehindWatch], dict[float, list]]:
    """Frames, pipeline seconds, the default watch's seconds, the watches and their findings by `after`."""
    camera = CameraConfig(id="bench", source=str(video))
    pipeline = CameraPipeline(HubConfig(hub_id="bench", cameras=[camera]), camera, detector)
    watches = {
        after: LeftBehindWatch([WatchedZone("all", WHOLE, LeftBehindConfig(after=after))], camera.motion.threshold)
        for after in AFTERS
    }
    found: dict[float, list] = {after: [] for after in AFTERS}

    def tracking() -> list[Track]:
        return [t for t in pipeline.tracker.active() if t.confirmed]

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames, pipe_s, watch_s = 0, 0.0, 0.0
    while True:
        started = time.perf_counter()
        ok, image = cap.read()
        if not ok:
            break
        ts = frames / fps
        pipeline.process(Frame("bench", frames, ts, ts, image))
        measured = time.perf_counter()
        grey = pipeline.gate.motion.grey
        assert grey is not None
        found[AFTERS[0]] += watches[AFTERS[0]].update(grey, ts, tracking)
        done = time.perf_counter()
        found[AFTERS[1]] += watches[AFTERS[1]].update(grey, ts, tracking)
        pipe_s += measured - started
        watch_s += done - measured
        frames += 1
    cap.release()
    return frames, pipe_s, watch_s, watches, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", nargs="+", default=CLIPS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    detector = Detector(MODEL, threads=args.threads)
    print(f"runtime {detector.runtime}, {args.threads} threads; zone: the whole picture")
    header = f"{'clip':<18} {'frames':>6} {'pipeline ms':>11} {'watch ms':>8} {'ratio':>7} {'KB':>5}"
    print(header + "".join(f" {'left, ' + format(a, 'g') + ' s':>10}" for a in AFTERS))
    for name in args.clips:
        frames, pipe_s, watch_s, watches, found = run(MEDIA / name, detector)
        size = watches[AFTERS[0]].nbytes
        ratio = (pipe_s + watch_s) / pipe_s
        counts = "".join(f" {len(found[a]):>10}" for a in AFTERS)
        print(f"{name:<18} {frames:>6} {pipe_s / frames * 1e3:>11.2f} {watch_s / frames * 1e3:>8.3f} "
              f"{ratio:>6.3f}x {size / 1024:>5.0f}{counts}")  # fmt: skip
        for after in AFTERS:
            verdicts = ", ".join(f"{k} {v}" for k, v in watches[after].verdicts.most_common()) or "none"
            print(f"    after {after:g} s, blobs judged: {verdicts}")
            for left in found[after]:
                print(f"    after {after:g} s: {left}")


if __name__ == "__main__":
    main()
