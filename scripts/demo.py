"""Demo: a throwaway Mosquitto on a free loopback port, the agent on sample
footage (paced at its real frame rate, like a camera), and a subscriber that
prints every message the hub publishes."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt

from agent.detect.catalog import DEFAULT_MODEL

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAMHUB_SHARED", REPO.parent / "shared"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=SHARED / "media" / "vtest.avi")
    parser.add_argument(
        "--model", type=Path, default=next((SHARED / "models" / DEFAULT_MODEL).glob("*.tflite"), None),
        help="the .tflite file (default: the catalog's default model from the development data)",
    )  # fmt: skip
    args = parser.parse_args()
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory(prefix="camhub-demo-") as tmp:
        work = Path(tmp)
        port = _free_port()
        broker = _start_broker(mosquitto, work, port)
        config = _write_config(work, port, args.video, args.model)
        received: list[str] = []
        pictures: list[int] = []
        sub = _subscribe(port, received, pictures)
        print(f"demo: broker on 127.0.0.1:{port}, agent on {args.video.name}; events appear as they are published\n")
        agent = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)], cwd=REPO)
        try:
            status = agent.wait()
        except KeyboardInterrupt:
            agent.send_signal(signal.SIGTERM)
            status = agent.wait()
        time.sleep(0.5)  # let the last messages arrive
        sub.loop_stop()
        broker.terminate()
        broker.wait()
    messages = [json.loads(p) for p in received]
    kinds = Counter(m.get("type", "counts") for m in messages)
    print(f"\ndemo: agent exited with {status}; received {sum(kinds.values())} events and summaries: "
          f"{dict(kinds)}; {len(pictures)} pictures, {sum(pictures)} bytes")  # fmt: skip
    return status


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_broker(binary: str, work: Path, port: int) -> subprocess.Popen[bytes]:
    conf = work / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    if os.geteuid() == 0:
        lines.append("user root")  # mosquitto otherwise drops to a user that cannot read our temp dir
    conf.write_text("\n".join(lines) + "\n")
    broker = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return broker
        except OSError:
            time.sleep(0.05)
    raise SystemExit("demo: mosquitto did not start")


def _write_config(work: Path, port: int, video: Path, model: Path) -> Path:
    config = work / "hub.yaml"
    config.write_text(f"""\
hub_id: demo
mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: camhub, stats_interval: 20}}
detector: {{model: {model}}}
cameras:
  - id: cam1
    source: {video}
    fps: 10
    lines: {{middle: {{points: [[0.5, 0.0], [0.5, 1.0]]}}}}   # `in`: walking to the left of the picture
    counts_interval: 20
    zones:   # two spots where people stop in vtest.avi (the default video): a 5 s stay alerts, with a picture
      phone: {{points: [[0.37, 0.47], [0.45, 0.47], [0.45, 0.54], [0.37, 0.54]], objects: [person], dwell: 5}}
      corner: {{points: [[0.82, 0.68], [0.9, 0.68], [0.9, 0.76], [0.82, 0.76]], objects: [person], dwell: 5}}
spool: {{path: {work / "spool.db"}}}
""")
    return config


def _subscribe(port: int, received: list[str], pictures: list[int]) -> mqtt.Client:
    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if "/evidence/" in msg.topic:
            pictures.append(len(msg.payload))
            print(f"{msg.topic}  JPEG, {len(msg.payload)} bytes", flush=True)
            return
        text = msg.payload.decode(errors="replace")
        if msg.topic.endswith(("/events", "/counts")):
            received.append(text)
        elif msg.topic.endswith(("/status", "/stats")):
            text = text[:160] + ("..." if len(text) > 160 else "")
        print(f"{msg.topic}  {text}", flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="camhub-demo-viewer")
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("camhub/#", qos=1)
    client.loop_start()
    return client


if __name__ == "__main__":
    raise SystemExit(main())
