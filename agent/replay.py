"""`camhub-agent replay`: the whole pipeline but the network, as fast as
possible over a recorded file. Events are written exactly as they would be
published: events and counts one JSON per line, each evidence picture as a
line with its size (and the JPEG itself in --evidence-dir); a summary closes
the run."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import cv2

from agent.annotate import draw_box, draw_polygons
from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.evidence import EvidenceBudget, Picture
from agent.frame import Frame
from agent.pipeline import CameraPipeline, Output


def replay(
    video: Path,
    config: HubConfig | None,
    camera_id: str | None = None,
    events_out: Path | None = None,
    annotate: Path | None = None,
    every_frame: bool = False,
    evidence_dir: Path | None = None,
) -> int:
    if not video.is_file():
        print(f"camhub-agent: no such video file: {video}", file=sys.stderr)
        return 1
    config, camera = _replay_config(video, config, camera_id)
    detector = Detector.from_config(config.detector)
    budget = EvidenceBudget(int(config.evidence.daily_mb * 1024 * 1024), config.timezone)
    pipeline = CameraPipeline(config, camera, detector, every_frame=every_frame, budget=budget)
    if evidence_dir is not None:
        evidence_dir.mkdir(parents=True, exist_ok=True)
    source = OpenCVSource(camera.id, str(video), realtime=False)
    source.open()
    total = source.frame_count
    with ExitStack() as stack:
        out = stack.enter_context(events_out.open("w", encoding="utf-8")) if events_out else sys.stdout
        writer = stack.enter_context(_Annotator(annotate, source.fps or 10.0, pipeline)) if annotate else None
        started = time.perf_counter()
        progress = _progress(total) if sys.stderr.isatty() else None
        try:
            while (frame := source.read()) is not None:
                _emit(pipeline.process(frame), out, evidence_dir)
                if writer:
                    writer.write(frame)
                if progress:
                    progress(pipeline.counters.frames, time.perf_counter() - started)
        finally:
            source.close()
            _emit(pipeline.finish(), out, evidence_dir)
        elapsed = time.perf_counter() - started
    print(summary(pipeline, detector.runtime, elapsed), file=sys.stderr)
    return 0


class ReplayError(Exception):
    """A replay that cannot start; the message says why."""


def _replay_config(video: Path, config: HubConfig | None, camera_id: str | None) -> tuple[HubConfig, CameraConfig]:
    if config is None:
        config = HubConfig(hub_id="replay", cameras=[CameraConfig(id="replay", source=str(video))])
    ids = [c.id for c in config.cameras]
    if camera_id is not None and camera_id not in ids:
        raise ReplayError(f"no camera {camera_id!r} in the config; expected one of: {', '.join(ids)}")
    return config, config.cameras[ids.index(camera_id) if camera_id else 0]


def _emit(outputs: list[Output], out: IO[str], evidence_dir: Path | None) -> None:
    for item in outputs:
        if isinstance(item, Picture):
            line = {"picture": item.event_id, "bytes": len(item.jpeg)}
            if evidence_dir is not None:
                path = evidence_dir / f"{item.event_id}.jpg"
                path.write_bytes(item.jpeg)
                line["file"] = str(path)
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
        else:
            out.write(item.encode().decode() + "\n")
    if outputs:
        out.flush()


def _progress(total: int) -> Callable[[int, float], None]:
    def show(frames: int, elapsed: float) -> None:
        if frames % 25 == 0:
            of = f"/{total}" if total else ""
            print(f"\r  frame {frames}{of}  {frames / max(elapsed, 1e-9):.1f} fps", end="", file=sys.stderr)

    return show


def summary(pipeline: CameraPipeline, runtime: str, elapsed: float) -> str:
    c = pipeline.counters
    share = 100.0 * c.invocations / max(c.frames, 1)
    lines = [
        f"\rframes: {c.frames}  detector invocations: {c.invocations} ({share:.1f} % of frames)  runtime: {runtime}",
        f"time: {elapsed:.1f} s  ({c.frames / max(elapsed, 1e-9):.1f} fps)",
        "events: " + (", ".join(f"{t} {label}: {n}" for (t, label), n in sorted(c.events.items())) or "none"),
        f"counts: {c.counts}  pictures: {c.pictures} ({c.picture_bytes} bytes)",
    ]
    return "\n".join(lines)


class _Annotator:
    """Writes the replayed video with detections (thin) and tracks (thick, with ids) drawn."""

    def __init__(self, path: Path, fps: float, pipeline: CameraPipeline) -> None:
        self.path = path
        self.fps = fps
        self.pipeline = pipeline
        self.writer: cv2.VideoWriter | None = None

    def __enter__(self) -> _Annotator:
        return self

    def write(self, frame: Frame) -> None:
        image = frame.image.copy()
        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (image.shape[1], image.shape[0]))
        camera = self.pipeline.camera
        draw_polygons(image, [zone.points for zone in camera.zones.values()], (0, 255, 255))
        draw_polygons(image, camera.masks, (60, 60, 60), fill=True)
        for det in self.pipeline.last_detections:
            draw_box(image, det.box, "", det.label, thick=1)
        for track in self.pipeline.tracker.active():
            draw_box(image, track.box, f"#{track.id} {track.label}", track.label)
        self.writer.write(image)

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.release()
