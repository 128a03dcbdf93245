"""Bytes that leave the hub per camera-hour: the agent's events, versus the same
events as schema 1 spelled them, versus the same footage as an H.264 stream
(libx264 at its default quality), versus a naive agent that publishes every
detection of every frame. All from one run on the same file.

    .venv/bin/python benchmarks/bandwidth.py [--video PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from common import MEDIA, MODEL

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.events import Event
from agent.pipeline import CameraPipeline

TOPIC = "quangbinh/thon1/thon-1/gate/events"


def on_wire(payload: int) -> int:
    """An MQTT 5 QoS 1 PUBLISH: fixed header (2), topic (2 + length), packet id (2),
    properties length (1), payload; plus the 4-byte PUBACK coming back."""
    return 2 + 2 + len(TOPIC) + 2 + 1 + payload + 4


def as_v1(event: Event) -> bytes:
    """EVENT as schema 1 had it: with `obj`, `hub`, `cam` and `historical: false`."""
    body = json.loads(event.encode())
    v1 = {"v": 1, "id": body.pop("id"), "obj": event.obj, "hub": "thon-1", "cam": event.camera}
    del body["v"]
    return json.dumps({**v1, **body, "historical": False}, separators=(",", ":")).encode()


def run(video: Path, detector: Detector) -> tuple[list[Event], list[bytes], float]:
    """Events as built, naive per-detection messages, and the footage's duration (s)."""
    config = HubConfig(hub_id="thon-1", cameras=[CameraConfig(id="gate", source=str(video))])
    pipeline = CameraPipeline(config, config.cameras[0], detector, every_frame=True)
    source = OpenCVSource("gate", str(video), realtime=False)
    source.open()
    events, naive = [], []
    first = last = None
    while (frame := source.read()) is not None:
        first = first if first is not None else frame.wall
        last = frame.wall
        events += pipeline.process(frame)
        for det in pipeline.last_detections:
            message = {"hub": "thon-1", "cam": "gate", "label": det.label, "score": round(det.score, 2),
                       "box": [round(v, 3) for v in det.box], "ts": round(frame.wall, 2)}  # fmt: skip
            naive.append(json.dumps(message, separators=(",", ":")).encode())
    events += pipeline.finish()
    source.close()
    fps = source.fps or 10.0
    return events, naive, (last - first) + 1 / fps if first is not None else 0.0


def h264_bytes(video: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stream.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-an", "-c:v", "libx264", str(out)],
                       check=True)  # fmt: skip
        return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=MEDIA / "vtest.avi")
    args = parser.parse_args()
    started = time.perf_counter()
    built, naive, seconds = run(args.video, Detector(MODEL))
    events = [e.encode() for e in built]
    stream = h264_bytes(args.video)
    rows = [
        ("H.264 stream (libx264 defaults)", 1, stream),
        ("naive: every detection, every frame", len(naive), sum(on_wire(len(m)) for m in naive)),
        ("the same events in schema v1", len(built), sum(on_wire(len(as_v1(e))) for e in built)),
        ("camhub-agent events (schema v2)", len(events), sum(on_wire(len(m)) for m in events)),
    ]
    per_hour = 3600 / seconds
    print(f"{args.video.name}: {seconds:.1f} s of footage, measured in {time.perf_counter() - started:.0f} s")
    print(f"{'what leaves the hub':<38} {'messages':>9} {'bytes':>11} {'MB/camera-hour':>15} {'vs events':>10}")
    agent_bytes = rows[-1][2]
    for name, count, size in rows:
        print(f"{name:<38} {count:>9} {size:>11,} {size * per_hour / 1e6:>15.3f} {size / agent_bytes:>9.3g}x")
    sizes = [len(m) for m in events]
    news = sum(1 for m in events if json.loads(m)["type"] == "new")
    print(f"events: {len(events)} ({news} new), {min(sizes)}-{max(sizes)} bytes of JSON each, "
          f"{agent_bytes / len(events):.0f} bytes on the wire each")


if __name__ == "__main__":
    main()
