"""The agent's events scored against the hand-made ground truth of the footage.

For every clip of ground_truth.json and every model, the whole pipeline runs as
`camhub-agent replay` runs it (default config: motion gate on, media time), and
its events are scored per family (person, two-wheeler, vehicle):

- visits: continuous stays in the picture, counted by a person;
- new: objects the agent reported;
- matched: visits paired with an object whose first..last seen overlaps the
  visit in time (at most one object per visit, one visit per object);
- recall (matched / visits), precision (matched / new), objects per matched
  visit (new / matched: above 1, visits were split into several objects);
- delay: from a visit's first frame to its object's `new` (median, max);
- open: `new` without an `end`.

    .venv/bin/python benchmarks/evaluate.py [--models NAME_OR_PATH ...] [--clips vtest.avi ...]

Models default to every model of the catalog that the shared models folder holds
(`models/<catalog name>/*.tflite`); a name alone loads the installed copy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import MEDIA, SHARED

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, DetectorConfig, HubConfig
from agent.detect.catalog import CATALOG
from agent.detect.detector import Detector
from agent.errors import ModelError
from agent.events import ObjectEvent
from agent.pipeline import CameraPipeline
from agent.track.families import FAMILIES, family_of

TRUTH = MEDIA / "ground_truth.json"
Span = tuple[int, int]  # first and last frame, inclusive


@dataclass
class Obj:
    """One object the agent reported, in frames of the clip."""

    family: str
    first: int  # first seen
    new: int  # when `new` was published
    last: int  # last seen (at its `end`), else the clip's last frame
    ended: bool = False


@dataclass
class Score:
    visits: int
    new: int
    matched: int
    delays: list[float] = field(default_factory=list)  # seconds, per matched visit
    open: int = 0

    def row(self) -> list[str]:
        recall = f"{self.matched / self.visits:.2f}" if self.visits else ""
        precision = f"{self.matched / self.new:.2f}" if self.new else ""
        per_visit = f"{self.new / self.matched:.2f}" if self.matched else ""
        delay = f"{statistics.median(self.delays):.1f} / {max(self.delays):.1f}" if self.delays else ""
        return [str(self.visits), str(self.new), str(self.matched), recall, precision, per_visit, delay, str(self.open)]


def truth_visits(entry: dict[str, Any]) -> dict[str, list[Span]]:
    """Visits per family from one clip's ground truth. Parked vehicles given as a
    bare count are in view for the whole clip."""
    whole = (0, entry["frames"] - 1)
    visits: dict[str, list[Span]] = {family: [] for family in FAMILIES}
    for person in entry.get("people", []):
        visits["person"] += [(a, b) for a, b in person["visits"]]
    for key in ("vehicles", "vehicles_parked"):
        value = entry.get(key, [])
        if isinstance(value, int):
            visits["vehicle"] += [whole] * value
            continue
        for vehicle in value:
            two_wheeled = any(word in vehicle.get("type", "") for word in ("motor", "bicycle", "scooter"))
            a, b = vehicle.get("frames", whole)
            visits["two_wheeler" if two_wheeled else "vehicle"].append((a, b))
    return visits


def run(model: str, video: Path) -> tuple[list[Obj], float]:
    """The objects the pipeline reports on VIDEO, and the video's frame rate."""
    config = HubConfig(
        hub_id="evaluate",
        detector=DetectorConfig(model=model),
        cameras=[CameraConfig(id="evaluate", source=str(video))],
    )
    detector = Detector.from_config(config.detector)
    pipeline = CameraPipeline(config, config.cameras[0], detector)
    source = OpenCVSource("evaluate", str(video), realtime=False)
    source.open()
    fps = source.fps or 10.0
    events: list[object] = []
    origin = last = 0
    try:
        while (frame := source.read()) is not None:
            origin = frame.wall if frame.seq == 0 else origin
            last = frame.seq
            events += pipeline.process(frame)
    finally:
        source.close()
        events += pipeline.finish()
    return objects(events, origin, fps, last), fps


def objects(events: list[object], origin: float, fps: float, last: int) -> list[Obj]:
    """The objects the presence events (`new` ... `end`) describe, in frames of the clip."""

    def frame(t: float) -> int:
        return round((t - origin) * fps)

    found: dict[str, Obj] = {}
    for event in events:
        if not isinstance(event, ObjectEvent):
            continue  # rule events and summaries describe no new object
        if event.type == "new":
            found[event.obj] = Obj(family_of(event.label), frame(event.start), frame(event.ts), last)
        elif event.type == "end" and event.obj in found:
            found[event.obj].last = frame(event.ts)
            found[event.obj].ended = True
    return list(found.values())


def match(visits: list[Span], objs: list[Obj]) -> dict[int, int]:
    """Visit index -> object index: a maximum matching of visits to objects that
    overlap them in time (augmenting paths, best overlap tried first)."""

    def overlap(v: Span, o: Obj) -> int:
        return min(v[1], o.last) - max(v[0], o.first) + 1

    candidates = [
        sorted((k for k, o in enumerate(objs) if overlap(v, o) > 0), key=lambda k, v=v: -overlap(v, objs[k]))
        for v in visits
    ]
    owner: dict[int, int] = {}  # object -> visit

    def augment(v: int, seen: set[int]) -> bool:
        for k in candidates[v]:
            if k not in seen:
                seen.add(k)
                if k not in owner or augment(owner[k], seen):
                    owner[k] = v
                    return True
        return False

    for v in range(len(visits)):
        augment(v, set())
    return {v: k for k, v in owner.items()}


def score(visits: list[Span], objs: list[Obj], fps: float) -> Score:
    pairs = match(visits, objs)
    delays = [(objs[k].new - visits[v][0]) / fps for v, k in sorted(pairs.items())]
    return Score(len(visits), len(objs), len(pairs), delays, sum(not o.ended for o in objs))


def evaluate(model: str, clip: str, entry: dict[str, Any]) -> dict[str, Score]:
    """Scores per family with any visit or any object."""
    objs, fps = run(model, MEDIA / clip)
    visits = truth_visits(entry)
    scores = {}
    for family in FAMILIES:
        mine = [o for o in objs if o.family == family]
        if visits[family] or mine:
            scores[family] = score(visits[family], mine, fps)
    return scores


def clips() -> dict[str, dict[str, Any]]:
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))
    return {name: entry for name, entry in truth.items() if isinstance(entry, dict) and (MEDIA / name).is_file()}


HEADER = ["clip", "model", "family", "visits", "new", "matched", "recall", "precision", "objects per matched visit"]
HEADER += ["delay to `new`, s (median / max)", "`new` without `end`"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    models = [str(p) for name in CATALOG for p in sorted((SHARED / "models" / name).glob("*.tflite"))[:1]]
    parser.add_argument("--models", nargs="+", default=models, help="model files (or catalog names)")
    parser.add_argument("--clips", nargs="+", default=list(clips()), help="clips of ground_truth.json")
    args = parser.parse_args()
    truth = clips()
    print("| " + " | ".join(HEADER) + " |")
    print("|" + " --- |" * len(HEADER))
    for clip in args.clips:
        for model in args.models:
            try:
                scores = evaluate(model, clip, truth[clip])
            except (ModelError, ValueError) as exc:  # a model this checkout cannot read: say so, go on
                print(f"{clip}: {model}: not evaluated: {exc}", file=sys.stderr)
                continue
            name = Path(model).parent.name if model.endswith(".tflite") else model
            for family, s in scores.items() or {"-": Score(0, 0, 0)}.items():
                print("| " + " | ".join([clip, name, family.replace("_", "-"), *s.row()]) + " |", flush=True)


if __name__ == "__main__":
    main()
