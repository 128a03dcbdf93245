"""A small agent stand-in for process-level uplink tests: builds Spool + Uplink
from a hub config file, sends N events and keeps running until SIGTERM.

    python tests/uplink_driver.py CONFIG.yaml --events 200 --tag run1

stdout, one JSON object per line: {"connected": true} when first connected,
{"done": N, "depth": D} after the last event was spooled, {"stopped": {...}} on
SIGTERM. Every 0.5 s it publishes `Uplink.connection()` on the stats topic.
Also the helpers the in-process tests share: `make_event`, `event_id`, `hub_settings`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

if __name__ == "__main__":  # run as a script: make `agent` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.configfile import load_config
from agent.events import ObjectEvent
from agent.uplink.mqtt import Uplink
from agent.uplink.spool import Spool

HUB = "hub1"


def hub_settings(spool: Path, port: int, cameras: int = 3, **mqtt: Any) -> dict[str, Any]:
    """A hub config as plain data (for HubConfig or a YAML file)."""
    return {
        "hub_id": HUB,
        "cameras": [{"id": f"cam{i}", "source": f"rtsp://127.0.0.1:8554/cam{i}"} for i in range(1, cameras + 1)],
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_max_delay": 2.0, **mqtt},
        "spool": {"path": str(spool)},
    }


def event_id(camera: str, tag: str, seq: int) -> str:
    """TAG stands for the run; every 3 events share an object. SEQ (decimal) gives the order."""
    return f"{tag}-{camera}-{seq // 3}.{seq}"


def make_event(camera: str, tag: str, seq: int, kind: Literal["new", "update", "end"] = "new") -> ObjectEvent:
    """An event as the pipeline makes them, with a predictable id."""
    now = round(time.time(), 2)
    return ObjectEvent(camera=camera, id=event_id(camera, tag, seq), type=kind, label="motorcycle", score=0.81,
                       box=(0.12, 0.3, 0.25, 0.61), zones=("road",), start=now, ts=now)  # fmt: skip


def _say(**fields: Any) -> None:
    print(json.dumps(fields, default=str), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--tag", default="run")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second; 0: as fast as possible")
    args = parser.parse_args()

    config = load_config(args.config)
    spool = Spool.from_config(config.spool)
    uplink = Uplink(config, spool)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    uplink.start()
    uplink.set_status({"state": "running", "tag": args.tag})
    cameras = [c.id for c in config.cameras]
    for seq in range(args.events):
        uplink.send_event(make_event(cameras[seq % len(cameras)], args.tag, seq))
        if args.rate:
            time.sleep(1.0 / args.rate)
    _say(done=args.events, depth=spool.stats()["depth"])
    announced = False
    while not stopping.wait(0.5):
        if uplink.connection()["connected"]:
            if not announced:
                _say(connected=True)
                announced = True
            uplink.publish_stats({"uplink": uplink.connection(), "spool": spool.stats()})
    uplink.stop()
    _say(stopped=uplink.connection(), spool=spool.stats())
    spool.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
