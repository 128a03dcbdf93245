"""What the hub says about itself: the retained `status` (published when a
camera's state changes, and refreshed with every stats message) and the
periodic `stats`."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent import __version__
from agent.config import HubConfig
from agent.detect.detector import Detector
from agent.detect.model import sha256_of
from agent.evidence import EvidenceBudget
from agent.pipeline import CameraPipeline
from agent.system import SystemMeter
from agent.uplink.mqtt import Uplink
from agent.uplink.spool import Spool

STATUS_DEBOUNCE = 1.0  # seconds: a flapping camera must not flood the retained topic


class Worker(Protocol):
    def state(self) -> dict[str, Any]: ...


class Health:
    def __init__(
        self, config: HubConfig, config_path: Path, detector: Detector, spool: Spool, uplink: Uplink,
        pictures: Spool, budget: EvidenceBudget,
    ) -> None:  # fmt: skip
        self.config = config
        self.config_path = config_path
        self.detector = detector
        self.spool = spool
        self.pictures = pictures
        self.budget = budget
        self.uplink = uplink
        self.started = time.time()
        self.config_hash = _file_hash(config_path)
        self.model_hash = sha256_of(detector.model)[:12]
        self.meter = SystemMeter(config.spool.path.parent)
        self._lock = threading.Lock()
        self._changed = True
        self._last_status = 0.0
        self._last_stats = time.monotonic()
        self._seen: dict[str, tuple[int, int]] = {}  # camera -> (frames, invocations) at the last stats

    def reconfigure(self, config: HubConfig, detector: Detector, restarted: Iterable[str]) -> None:
        """After a reload: the RESTARTED cameras' new pipelines count from zero, the others go on."""
        self.config = config
        for camera_id in restarted:
            self._seen.pop(camera_id, None)
        self.config_hash = _file_hash(self.config_path)
        if detector is not self.detector:
            self.detector = detector
            self.model_hash = sha256_of(detector.model)[:12]
        with self._lock:
            self._changed = True

    def camera_changed(self, camera_id: str, state: Mapping[str, Any]) -> None:
        with self._lock:
            self._changed = True

    def tick(self, workers: Mapping[str, Worker], pipelines: Mapping[str, CameraPipeline]) -> bool:
        """Publish what is due; True when the status was republished."""
        now = time.monotonic()
        if now - self._last_stats >= self.config.mqtt.stats_interval:
            self.uplink.publish_stats(self.stats(workers, pipelines, now - self._last_stats))
            self._last_stats = now
            self._changed = True  # refresh uptime and ages in the retained status too
        with self._lock:
            due = self._changed and now - self._last_status >= STATUS_DEBOUNCE
            if due:
                self._changed = False
        if due:
            self._last_status = now
            self.uplink.set_status(self.status(workers, pipelines))
        return due

    def status(self, workers: Mapping[str, Worker], pipelines: Mapping[str, CameraPipeline]) -> dict[str, Any]:
        cameras = {}
        for camera_id, worker in workers.items():
            state = dict(worker.state())
            state["detect"] = pipelines[camera_id].enabled if camera_id in pipelines else False
            cameras[camera_id] = state
        return {
            "version": __version__,
            "hub": self.config.hub_id,
            "started": round(self.started, 1),
            "uptime": round(time.time() - self.started),
            "config_hash": self.config_hash,
            "model": {"file": self.detector.model.name, "sha256": self.model_hash, "runtime": self.detector.runtime},
            "cameras": cameras,
            "uplink": self.uplink.connection(),
        }

    def stats(self, workers: Mapping[str, Worker], pipelines: Mapping[str, CameraPipeline],
              interval: float) -> dict[str, Any]:  # fmt: skip
        cameras: dict[str, Any] = {}
        events: Counter[str] = Counter()
        times: list[float] = []
        for camera_id, pipeline in pipelines.items():
            c = pipeline.counters
            frames0, invokes0 = self._seen.get(camera_id, (0, 0))
            self._seen[camera_id] = (c.frames, c.invocations)
            frames, invokes = c.frames - frames0, c.invocations - invokes0
            cameras[camera_id] = {
                "capture_fps": workers[camera_id].state().get("fps", 0.0) if camera_id in workers else 0.0,
                "fps": round(frames / interval, 2),
                "detector_fps": round(invokes / interval, 2),
                "detect_ratio": round(invokes / frames, 3) if frames else 0.0,
                "motion": round(pipeline.last_decision.ratio, 4) if pipeline.last_decision else 0.0,
                # since the camera (re)started
                "rules": {kind: n for (kind, _), n in c.events.items() if kind in ("cross", "alert", "left")}
                | {"counts": c.counts, "pictures": c.pictures, "picture_bytes": c.picture_bytes},
                "left_watch_bytes": pipeline.left.nbytes if pipeline.left else 0,
            }
            for (kind, label), n in c.events.items():
                if kind == "new":
                    events[label] += n
            times += c.detect_ms
        return {
            "ts": round(time.time(), 1),
            "uptime": round(time.time() - self.started),
            "interval": round(interval, 1),
            "cameras": cameras,
            "detector": _percentiles(times),
            "events": dict(events),  # `new` objects by label since each camera (re)started
            "spool": self.spool.stats(),
            "evidence": {**self.budget.stats(), "spool": self.pictures.stats()},
            "system": self.meter.read(),
        }

    def summary_line(self, workers: Mapping[str, Worker]) -> str:
        """One line a person reads in `systemctl status`."""
        states = {cid: w.state().get("state", "?") for cid, w in workers.items()}
        online = sum(1 for s in states.values() if s == "online")
        down = [cid for cid, s in states.items() if s not in ("online", "ended")]
        spool = self.spool.stats()
        text = f"{online}/{len(states)} cameras online; spool {spool.get('depth', 0)} waiting"
        return text + (f"; not delivering: {', '.join(down)}" if down else "")


def _percentiles(times: list[float]) -> dict[str, float]:
    if not times:
        return {"ms_p50": 0.0, "ms_p95": 0.0}
    p50, p95 = np.percentile(times, [50, 95])
    return {"ms_p50": round(float(p50), 1), "ms_p95": round(float(p95), 1)}


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return ""
