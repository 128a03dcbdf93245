"""Region detection versus the whole frame, detection by detection.

On every Nth frame of a clip (motion measured on all of them), people are
detected three ways: the whole frame squeezed to the model's 300x300; squares
around motion at the model's size (motion.regions, up to --limit of them, else
the whole frame); and, as a costly upper bound, six fixed 300 px tiles at full
resolution. Printed per frame: detector invocations, people found (score >=
--score, duplicates merged), and people found by one way but not the whole
frame, split at 80 px height ("small": the far ones).

    .venv/bin/python benchmarks/regions.py [--video vtest.avi] [--limit 3] [--every 3]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import cv2
from common import MEDIA, MODEL

from agent.config import MotionConfig
from agent.detect.detector import Detection, Detector, Region
from agent.detect.geometry import iou
from agent.motion.background import MotionDetector
from agent.motion.regions import motion_regions

SAME = 0.3  # IoU above which two boxes are one person
SMALL_PX = 80


def people(found: list[Detection], score: float) -> list[Detection]:
    """Best first, dropping boxes that repeat a better one (regions and tiles overlap)."""
    kept: list[Detection] = []
    for det in sorted(found, key=lambda d: -d.score):
        if det.label == "person" and det.score >= score and all(iou(det.box, k.box) < SAME for k in kept):
            kept.append(det)
    return kept


def tiles(width: int, height: int, size: int) -> list[Region]:
    xs = sorted({0, (width - size) // 2, width - size})
    ys = sorted({0, height - size})
    return [Region(x, y, size) for x in xs for y in ys]


def missing(found: list[Detection], other: list[Detection]) -> list[Detection]:
    return [d for d in found if all(iou(d.box, o.box) < SAME for o in other)]


def compare(tally: Counter[str], way: str, got: list[Detection], whole: list[Detection], height: int) -> None:
    tally[f"{way} people"] += len(got)
    for det in missing(got, whole):
        small = (det.box[3] - det.box[1]) * height < SMALL_PX
        tally[f"{way}, not found by whole, {'small' if small else 'large'}"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=MEDIA / "vtest.avi")
    parser.add_argument("--limit", type=int, default=3, help="most squares per frame (motion.regions)")
    parser.add_argument("--every", type=int, default=3, help="detect on every Nth frame")
    parser.add_argument("--score", type=float, default=0.6, help="as the tracker's confirm_score")
    args = parser.parse_args()
    detector = Detector(MODEL)
    size = detector.input_size[0]
    motion = MotionDetector(MotionConfig(), [])
    cap = cv2.VideoCapture(str(args.video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    tally: Counter[str] = Counter()
    seq = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        boxes = motion.measure(image, seq / fps).boxes
        seq += 1
        if seq % args.every:
            continue
        height, width = image.shape[:2]
        whole = people(detector.detect(image), args.score)
        squares = motion_regions(boxes, (width, height), size, args.limit)
        around = people([d for r in squares for d in detector.detect(image, r)], args.score) if squares else whole
        tiled = people([d for r in tiles(width, height, size) for d in detector.detect(image, r)], args.score)
        tally["frames"] += 1
        tally["whole invocations"] += 1
        tally["regions invocations"] += max(len(squares), 1)
        tally["tiles invocations"] += len(tiles(width, height, size))
        tally["whole people"] += len(whole)
        compare(tally, "regions", around, whole, height)
        compare(tally, "tiles", tiled, whole, height)
        tally["whole, not found by regions"] += len(missing(whole, around))
        tally["whole, not found by tiles"] += len(missing(whole, tiled))
    frames = tally.pop("frames")
    print(f"{args.video.name}: {frames} frames, score >= {args.score}, regions limit {args.limit}; per frame:")
    for key, value in sorted(tally.items()):
        print(f"  {key:<38}{value / frames:>7.2f}")


if __name__ == "__main__":
    main()
