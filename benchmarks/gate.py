"""The motion gate versus detection on every frame, through the agent's pipeline.

For each clip, the same `CameraPipeline` runs twice (gated, then --every-frame;
optionally a third time gated with region detection): frames, detector
invocations, CPU seconds, events by type and label, the gate's reasons, and
which every-frame `new` tracks the gated run also found.

Frames are stamped with their time in the video (seq / fps), not with the
clock at decoding: a file decodes many times faster than real time, and the
gate's keep-alive and re-check intervals, its background time constant and the
tracker's end_after are all in seconds of the scene.

    .venv/bin/python benchmarks/gate.py [--clips quiet.mp4 vtest.avi] [--regions 3]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from common import MEDIA, MODEL

from agent.config import CameraConfig, HubConfig, MotionConfig
from agent.detect.detector import Detector
from agent.detect.geometry import Box, iou
from agent.events import Event
from agent.frame import Frame
from agent.motion.gate import GateDecision
from agent.pipeline import CameraPipeline

TRACK_IOU = 0.3  # boxes of one person in two runs, a frame apart at most
FOUND_COVERAGE = 0.5  # share of a track's frames the other run must cover


@dataclass
class Run:
    name: str
    frames: int = 0
    invocations: int = 0
    cpu: float = 0.0
    gate_cpu: float = 0.0  # of `cpu`, in MotionGate.check
    events: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    tracks: dict[int, str] = field(default_factory=dict)  # tracker id -> label, of confirmed (`new`) tracks
    # confirmed tracks seen per frame: frame index -> [(track id, label, box)]
    seen: dict[int, list[tuple[int, str, Box]]] = field(default_factory=dict)


def run(video: Path, detector: Detector, name: str, every_frame: bool, regions: int) -> Run:
    camera = CameraConfig(id="bench", source=str(video), motion=MotionConfig(regions=regions))
    pipe = CameraPipeline(HubConfig(hub_id="bench", cameras=[camera]), camera, detector, every_frame=every_frame)
    result = Run(name)
    pipe.gate.check = _timed(pipe.gate.check, result)  # type: ignore[method-assign]
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    epoch = time.time()
    cpu_start = _cpu()
    while True:
        ok, image = cap.read()
        if not ok:
            break
        mono = result.frames / fps
        events = pipe.process(Frame("bench", result.frames, mono, epoch + mono, image))
        if pipe.last_decision is not None:
            result.reasons[pipe.last_decision.reason] += 1
        _note(result, pipe, events)
        result.frames += 1
    _note(result, pipe, pipe.finish())
    result.cpu = _cpu() - cpu_start
    cap.release()
    result.invocations = pipe.counters.invocations
    return result


def _timed(check: Callable[[np.ndarray, float, int], GateDecision], result: Run) -> Callable[..., GateDecision]:
    def timed(image: np.ndarray, ts: float, active_tracks: int) -> GateDecision:
        started = time.process_time()
        try:
            return check(image, ts, active_tracks)
        finally:
            result.gate_cpu += time.process_time() - started

    return timed


def _cpu() -> float:
    """CPU seconds of this process, every thread (the interpreter runs its own)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _note(result: Run, pipe: CameraPipeline, events: list[Event]) -> None:
    for event in events:
        result.events[f"{event.type} {event.label}"] += 1
    # Events carry the published id, not the tracker's: follow identities through
    # the tracker's own snapshots, taken after every frame.
    for track in pipe.tracker.active():
        if track.confirmed:
            result.seen.setdefault(result.frames, []).append((track.id, track.label, track.box))
            result.tracks[track.id] = track.label


def found(reference: Run, other: Run, label: str) -> tuple[int, int]:
    """(tracks of LABEL in REFERENCE, how many OTHER also has): a reference track
    counts as found when OTHER's confirmed tracks of the same label overlap it
    (IoU >= TRACK_IOU) on at least FOUND_COVERAGE of its frames."""
    frames_of: dict[int, list[int]] = {}
    for index, tracks in reference.seen.items():
        for track_id, track_label, _ in tracks:
            if track_label == label:
                frames_of.setdefault(track_id, []).append(index)
    hits = 0
    for track_id, frames in frames_of.items():
        covered = sum(_covered(reference, other, track_id, index, label) for index in frames)
        hits += covered >= FOUND_COVERAGE * len(frames)
    return len(frames_of), hits


def _covered(reference: Run, other: Run, track_id: int, index: int, label: str) -> bool:
    box = next(b for i, _, b in reference.seen[index] if i == track_id)
    return any(lab == label and iou(box, b) >= TRACK_IOU for _, lab, b in other.seen.get(index, []))


def report(clip: str, runs: list[Run]) -> None:
    base = runs[0]
    print(f"\n{clip}")
    print(f"  {'run':<16}{'frames':>7}{'invocations':>13}{'% frames':>10}{'CPU s':>8}{'CPU ratio':>11}"
          f"{'gate ms/frame':>15}  events")  # fmt: skip
    for r in runs:
        events = ", ".join(f"{k}: {v}" for k, v in sorted(r.events.items())) or "none"
        print(f"  {r.name:<16}{r.frames:>7}{r.invocations:>13}{100 * r.invocations / max(r.frames, 1):>9.1f}%"
              f"{r.cpu:>8.2f}{r.cpu / max(base.cpu, 1e-9):>11.3f}{1000 * r.gate_cpu / max(r.frames, 1):>15.3f}"
              f"  {events}")  # fmt: skip
    for r in runs[1:]:
        reasons = ", ".join(f"{k} {v}" for k, v in r.reasons.most_common())
        print(f"  {r.name} gate reasons: {reasons}")
        for label in sorted(set(base.tracks.values())):
            total, hits = found(base, r, label)
            own = sum(v == label for v in r.tracks.values())
            print(f"  {r.name}: found {hits} of {total} every-frame {label} tracks"
                  f" ({100 * hits / max(total, 1):.0f} %); its own {label} tracks: {own}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", default=["quiet.mp4", "vtest.avi"], help="files in the shared media")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--regions", type=int, default=0, help="also run gated with up to N motion regions")
    args = parser.parse_args()
    detector = Detector(args.model)
    for clip in args.clips:
        video = MEDIA / clip
        runs = [run(video, detector, "every-frame", True, 0), run(video, detector, "gated", False, 0)]
        if args.regions:
            runs.append(run(video, detector, f"gated+regions{args.regions}", False, args.regions))
        report(clip, runs)


if __name__ == "__main__":
    main()
