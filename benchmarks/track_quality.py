"""How well the tracker turns flickering detections into events, on the shared footage.

The model runs once over every frame of each video; the tracker then replays
those detections at the full frame rate and at every 2nd and 3rd frame (a
slower Pi, or a motion gate that skips frames). For each video and rate it
prints `new`/`update`/`end` per label, whether every `new` was closed by an
`end`, and the tracker's own CPU time per pass. vtest.avi holds 21 person
visits (12 people, some coming back): the floor is one `new` per visit.

    .venv/bin/python benchmarks/track_quality.py [--every 1,2,3] [--min-score 0.5] [--spans]

`--min-score` is one detection floor for every label (default: DetectorConfig's per label);
`--spans` lists every confirmed track: id, label, first and last seen, where.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import cv2
from common import MEDIA, MODEL

from agent.config import DetectorConfig, ObjectFilter, TrackerConfig
from agent.detect.detector import Detection, Detector
from agent.detect.filters import CameraFilter
from agent.detect.labels import TRACKED_LABELS
from agent.track.tracker import Tracker, TrackEvent

VIDEOS = ("vtest.avi", "car-detection.mp4", "tree.avi", "quiet.mp4")
VTEST_VISITS = 21


def detect_all(video: Path, detector: Detector, keep: CameraFilter) -> tuple[list[list[Detection]], float]:
    """Filtered detections of every frame, and the video's frame rate."""
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(keep.apply(detector.detect(image)))
    cap.release()
    return frames, fps


def replay(frames: list[list[Detection]], fps: float, every: int) -> tuple[list[TrackEvent], float]:
    """Events of one tracker fed every EVERY-th frame, and its CPU seconds per pass."""
    tracker = Tracker(TrackerConfig())
    events: list[TrackEvent] = []
    passes = range(0, len(frames), every)
    cpu = time.process_time()
    for i in passes:
        events += tracker.update(frames[i], i / fps)
    cpu = time.process_time() - cpu
    events += tracker.flush(len(frames) / fps)
    return events, cpu / max(len(passes), 1)


def summary(events: list[TrackEvent]) -> str:
    counts = Counter((e.type, e.track.label) for e in events)
    parts = [f"{kind} {label}: {n}" for (kind, label), n in sorted(counts.items())]
    news = Counter(e.track.id for e in events if e.type == "new")
    ends = Counter(e.track.id for e in events if e.type == "end")
    closed = "every new closed by one end" if news == ends else "UNCLOSED or extra ends"
    return f"{', '.join(parts) or 'no events'}; {closed}"


def spans(events: list[TrackEvent]) -> None:
    first = {e.track.id: e for e in events if e.type == "new"}
    for end in (e for e in events if e.type == "end"):
        t = end.track
        box = first[t.id].track.box
        print(
            f"    #{t.id:<4} {t.label:<10} {t.start:6.1f}s -> {t.last_seen:6.1f}s"
            f"  from ({(box[0] + box[2]) / 2:.2f},{box[3]:.2f}) to ({(t.box[0] + t.box[2]) / 2:.2f},{t.box[3]:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", default="1,2,3", help="detector on every Nth frame, comma-separated")
    parser.add_argument("--min-score", type=float, help="one detection floor for every label")
    parser.add_argument("--spans", action="store_true", help="list the confirmed tracks")
    args = parser.parse_args()
    rates = [int(n) for n in args.every.split(",")]
    settings = DetectorConfig()
    if args.min_score is not None:
        settings = DetectorConfig(objects={label: ObjectFilter(min_score=args.min_score) for label in TRACKED_LABELS})
    floor = min(rule.min_score for rule in settings.objects.values())
    detector = Detector(MODEL, min_score=floor)
    keep = CameraFilter(settings)
    print(f"detection floors { {label: rule.min_score for label, rule in settings.objects.items()} }")
    for name in VIDEOS:
        frames, fps = detect_all(MEDIA / name, detector, keep)
        print(f"{name}: {len(frames)} frames at {fps:.0f} fps")
        for every in rates:
            events, cpu = replay(frames, fps, every)
            people = sum(1 for e in events if e.type == "new" and e.track.label == "person")
            per_visit = f", {people / VTEST_VISITS:.2f} person `new` per visit" if name == "vtest.avi" else ""
            print(f"  every {every} frame(s): {summary(events)}{per_visit}; tracker {cpu * 1e3:.3f} ms CPU per pass")
            if args.spans:
                spans(events)


if __name__ == "__main__":
    main()
