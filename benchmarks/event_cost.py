"""What an event costs on the hot path: building and encoding each v2 type, marking
a spooled payload historical, and parsing it back, beside the v1 agent's way (a
dict with every field, `historical` included, through the same `json.dumps`); and,
for scale, one detector invoke on a frame of vtest.avi (a busy frame makes a
few events). All interleaved in one run.

    .venv/bin/python benchmarks/event_cost.py [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import cv2
from common import MEDIA, MODEL

from agent.detect.detector import Detector
from agent.events import EventFactory, mark_historical, parse_event
from agent.rules.findings import Alert, Cross, LeftObject
from agent.track.tracker import Track, TrackEvent

WALL = 1_795_904_000.0


def v1(factory: EventFactory, event: TrackEvent) -> bytes:
    """The schema-1 event as the previous agent built and encoded it."""
    track = event.track
    obj = factory.object_id(track.id)
    body = {
        "v": 1, "id": f"{obj}.0", "obj": obj, "hub": "thon-1", "cam": factory.camera, "type": event.type,
        "label": track.label, "score": round(track.score, 2), "box": [round(v, 3) for v in track.box],
        "zones": list(track.zones), "start": round(track.start + WALL, 2), "ts": round(event.ts + WALL, 2),
        "historical": False,
    }  # fmt: skip
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    factory = EventFactory("gate")
    track = Track(id=7, label="motorcycle", score=0.8123, box=(0.1234, 0.2345, 0.3456, 0.6789), zones=["road"],
                  start=100.0, last_seen=101.0, confirmed=True)  # fmt: skip
    new = TrackEvent("new", track, 101.0)
    alert = Alert("yard", "dwell", track, 101.0, 81.0, clock_unsynced=False)
    left = LeftObject("dump", track.box, 90.0, 101.0, 7, "person")
    payload = factory.presence(new, WALL).encode()
    cases: dict[str, Callable[[], object]] = {
        "v1 dict + json.dumps (the old way)": lambda: v1(factory, new),
        "v2 new/update/end: build + encode": lambda: factory.presence(new, WALL).encode(),
        "v2 cross: build + encode": lambda: factory.cross(Cross("road", "in", track, 101.0), WALL).encode(),
        "v2 alert: build + encode": lambda: factory.alert(alert, WALL).encode(),
        "v2 left: build + encode": lambda: factory.left(left, WALL).encode(),
        "mark a spooled payload historical": lambda: mark_historical(payload),
        "parse (consumers, tests)": lambda: parse_event(payload, "gate"),
    }
    detector = Detector(MODEL)
    ok, image = cv2.VideoCapture(str(MEDIA / "vtest.avi")).read()
    assert ok, "cannot read vtest.avi"
    per_call: dict[str, list[float]] = {name: [] for name in cases}
    invokes: list[float] = []
    for _ in range(args.n // 100 + 1):  # interleaved in slices, so drifts in the machine's speed hit every case
        for name, case in cases.items():
            started = time.perf_counter()
            for _ in range(100):
                case()
            per_call[name].append((time.perf_counter() - started) / 100)
        started = time.perf_counter()
        detector.detect(image)
        invokes.append(time.perf_counter() - started)
    invoke = statistics.median(invokes[1:])  # the first slice warms up
    medians = {name: statistics.median(times[1:]) for name, times in per_call.items()}
    base = medians[next(iter(cases))]
    print(f"{'per event (median of slices)':<40} {'µs':>7} {'vs v1':>6} {'of an invoke':>13}")
    for name, each in medians.items():
        print(f"{name:<40} {each * 1e6:>7.1f} {each / base:>5.2f}x {each / invoke:>12.2%}")
    print(f"bytes: v1 {len(v1(factory, new))}, v2 {len(payload)}")


if __name__ == "__main__":
    main()
