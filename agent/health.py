"""What the hub says about itself: the retained `status` and the periodic `stats`.

Rural links are paid by the byte, so the status, which is retained and read by
whoever connects, is sent when what it says changes (a camera's state or error,
detection switched, the config, the model, the broker and its errors), at every
connect, and otherwise only every `mqtt.status_interval`: its uptime, frame
counts, rates and counters change all the time and are in stats. Stats leave
out counts that are zero (absent means 0)."""

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

# Seconds between two looks at the status when no camera reported a change (the uplink's state
# has no callback), and the least gap between two status messages: a flapping camera must not
# flood the retained topic.
STATUS_CHECK = 1.0
# What of the uplink's state the status is republished for; its counters go in stats.
LINK_STATE = ("broker", "protocol", "last_error", "last_refusal", "refused_topics")


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
        self._status_interval = config.mqtt.status_interval  # like every mqtt setting, fixed until a restart
        self._lock = threading.Lock()
        self._changed = True
        self._last_check = self._last_status = float("-inf")
        self._published: tuple[Any, ...] | None = None  # what the last status sent said
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
        """Publish what is due; True when stats or status went out (the summary line may have changed)."""
        now = time.monotonic()
        stats_due = now - self._last_stats >= self.config.mqtt.stats_interval
        if stats_due:
            self.uplink.publish_stats(self.stats(workers, pipelines, now - self._last_stats))
            self._last_stats = now
        return self._status_tick(workers, pipelines, now) or stats_due

    def _status_tick(self, workers: Mapping[str, Worker], pipelines: Mapping[str, CameraPipeline], now: float) -> bool:
        """Publish the status if it says something new, or status_interval passed; True if it went out."""
        with self._lock:
            look = (self._changed or now - self._last_check >= STATUS_CHECK) and now - self._last_status >= STATUS_CHECK
            if look:
                self._changed = False
        if not look:
            return False
        self._last_check = now
        status = self.status(workers, pipelines)
        said = _meaning(status)
        if said == self._published and now - self._last_status < self._status_interval:
            return False
        if not self.uplink.set_status(status):
            return False  # offline: the uplink keeps it for the connect; looked at again in a second
        self._published, self._last_status = said, now
        return True

    def status(self, workers: Mapping[str, Worker], pipelines: Mapping[str, CameraPipeline]) -> dict[str, Any]:
        cameras = {}
        for camera_id, worker in workers.items():
            state = dict(worker.state())
            pipeline = pipelines.get(camera_id)
            state["detect"] = pipeline.enabled if pipeline else False
            if pipeline and pipeline.left and pipeline.left.nbytes:  # fixed once the first frame is seen
                state["left_watch_bytes"] = pipeline.left.nbytes
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
            # counts since the camera (re)started
            rules = {kind: n for (kind, _), n in c.events.items() if kind in ("cross", "alert", "left")}
            rules |= {"counts": c.counts, "pictures": c.pictures, "picture_bytes": c.picture_bytes}
            cameras[camera_id] = {
                "capture_fps": workers[camera_id].state().get("fps", 0.0) if camera_id in workers else 0.0,
                "fps": round(frames / interval, 2),
                "detector_fps": round(invokes / interval, 2),
                "motion": round(pipeline.last_decision.ratio, 4) if pipeline.last_decision else 0.0,
            } | _nonzero({"rules": _nonzero(rules)})
            for (kind, label), n in c.events.items():
                if kind == "new":
                    events[label] += n
            times += c.detect_ms
        link = self.uplink.connection()
        counters = {k: v for k, v in link.items() if k not in (*LINK_STATE, "connected", "commands")}
        return {
            "ts": round(time.time(), 1),
            "uptime": round(time.time() - self.started),
            "interval": round(interval, 1),
            "cameras": cameras,
            "detector": _percentiles(times),
            "events": dict(events),  # `new` objects by label since each camera (re)started
            "spool": _nonzero(self.spool.stats()),
            "evidence": _nonzero(self._evidence()),
            "uplink": _nonzero({**counters, "commands": _nonzero(link["commands"])}),
            "system": self.meter.read(),
        }

    def _evidence(self) -> dict[str, Any]:
        budget = self.budget.stats()
        return {**budget, "refused": _nonzero(budget["refused"]), "spool": _nonzero(self.pictures.stats())}

    def summary_line(self, workers: Mapping[str, Worker]) -> str:
        """One line a person reads in `systemctl status`."""
        states = {cid: w.state().get("state", "?") for cid, w in workers.items()}
        online = sum(1 for s in states.values() if s == "online")
        down = [cid for cid, s in states.items() if s not in ("online", "ended")]
        spool = self.spool.stats()
        text = f"{online}/{len(states)} cameras online; spool {spool.get('depth', 0)} waiting"
        return text + (f"; not delivering: {', '.join(down)}" if down else "")


def _meaning(status: Mapping[str, Any]) -> tuple[Any, ...]:
    """What STATUS says that an operator acts on: without its uptime, frame counts, rates and counters."""
    cameras = {cid: (c["state"], c["last_error"], c["detect"]) for cid, c in status["cameras"].items()}
    link = {key: status["uplink"][key] for key in LINK_STATE}
    return status["version"], status["config_hash"], status["model"], cameras, link


def _nonzero(values: Mapping[str, Any]) -> dict[str, Any]:
    """VALUES without the zero counts and empty sections, which say nothing: absent means 0."""
    return {k: v for k, v in values.items() if v}


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
