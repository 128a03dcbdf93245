"""Four cameras in one `camhub-agent run` on this machine: three looping files
(vtest.avi, quiet.mp4, tree.avi) and one RTSP stream (an H.264 transcode of
vtest.avi from the GStreamer server in tests/rtsp_server.py), all with the same
fps cap, publishing to a real Mosquitto on loopback.

Two phases, each run for --seconds:
  capped     every camera capped at --fps with the motion gate on: what a hub does all day;
  saturated  the footage played --speed times faster, a cap of 60 fps and the detector on
             every frame: more frames than the one shared detector can take, so the
             scheduler's fairness under load shows.

Per camera, from the agent's own stats messages (intervals after every camera went
online): processed fps, detector invocations per second and capture fps; the spread
of processed fps (max/min, over the whole run and in the worst interval); the agent's
CPU % and peak RSS (stats `system.peak_rss_mb`, and VmHWM from /proc/PID/status).

    .venv/bin/python benchmarks/multicam.py [--seconds 180] [--fps 5] [--speed 4] [--phases capped saturated]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
from common import MEDIA, MODEL, REPO

from tests.broker import Broker, Subscriber, wait_until
from tests.rtsp import FFMPEG, RtspServer, make_h264

PREFIX = "bench/multicam"
HUB = "bench"
STATS_INTERVAL = 10.0
FILES = {"yard": "vtest.avi", "porch": "quiet.mp4", "tree": "tree.avi"}
STREAM = "gate"  # the RTSP camera
MAX_CAP = 60  # the schema's highest fps cap


@dataclass
class Phase:
    name: str
    cap: float
    speed: int  # footage played this many times faster than recorded
    every_frame: bool


def sped_up(source: Path, target: Path, speed: int) -> Path:
    """SOURCE as H.264 with every frame kept and SPEED times the frame rate."""
    fps = cv2.VideoCapture(str(source)).get(cv2.CAP_PROP_FPS)
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-i", str(source), "-an", "-vf", f"setpts=PTS/{speed}", "-r", f"{fps * speed:g}",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-pix_fmt", "yuv420p", str(target)],
        check=True, timeout=300,
    )  # fmt: skip
    return target


def footage(workdir: Path, speed: int) -> tuple[dict[str, Path], Path]:
    """The three files and the RTSP server's clip (vtest.avi as H.264) for one phase."""
    vtest = MEDIA / "vtest.avi"
    if speed == 1:
        return {cam: MEDIA / name for cam, name in FILES.items()}, make_h264(vtest, workdir / "stream.mp4", seconds=80)
    files = {cam: sped_up(MEDIA / name, workdir / f"{cam}-x{speed}.mp4", speed) for cam, name in FILES.items()}
    return files, sped_up(vtest, workdir / f"stream-x{speed}.mp4", speed)


def write_config(workdir: Path, port: int, sources: dict[str, str], phase: Phase) -> Path:
    motion = ", motion: {enabled: false}" if phase.every_frame else ""
    loop = {cam: ", loop: true" if cam != STREAM else "" for cam in sources}
    cameras = "".join(
        f"  - {{id: {cam}, source: '{src}', fps: {phase.cap:g}{loop[cam]}{motion}}}\n" for cam, src in sources.items()
    )
    config = workdir / f"{phase.name}.yaml"
    config.write_text(
        f"hub_id: {HUB}\n"
        f"mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: {PREFIX}, stats_interval: {STATS_INTERVAL:g}}}\n"
        f"detector: {{model: {MODEL}}}\n"
        f"spool: {{path: {workdir / (phase.name + '-spool.db')}}}\n"
        f"cameras:\n{cameras}"
    )
    return config


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of PID, from the kernel."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def all_online(sub: Subscriber, cameras: list[str]) -> bool:
    status = sub.on(f"{HUB}/status")
    states = status[-1].json().get("cameras", {}) if status else {}
    return all(states.get(cam, {}).get("state") == "online" for cam in cameras)


def run_phase(workdir: Path, broker: Broker, phase: Phase, seconds: float) -> dict[str, Any]:
    files, clip = footage(workdir, phase.speed)
    server = RtspServer(clip, workdir)
    server.start()
    sub = Subscriber(broker.port, [f"{PREFIX}/#"], check_contract=False)  # the tests check; this measures
    sources = {**{cam: str(path) for cam, path in files.items()}, STREAM: server.url}
    config = write_config(workdir, broker.port, sources, phase)
    log = (workdir / f"{phase.name}.log").open("w")
    agent = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)], cwd=REPO, stderr=log)
    try:
        if not wait_until(lambda: all_online(sub, list(sources)), 60):
            raise RuntimeError(f"cameras did not come online; see {log.name}")
        online = time.monotonic()
        # Measure only intervals that began after every camera was online.
        wait_until(lambda: len(measured(sub, online)) * STATS_INTERVAL >= seconds, seconds + 3 * STATS_INTERVAL)
        stats = measured(sub, online)
        hwm = vm_hwm_mb(agent.pid)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        log.close()
        sub.close()
        server.kill()
    return summarize(stats, list(sources), hwm)


def measured(sub: Subscriber, online: float) -> list[dict[str, Any]]:
    return [m.json() for m in sub.on(f"{HUB}/stats") if m.received > online][1:]


def spread(values: list[float]) -> float:
    """Max over min: 1.0 when every camera got the same."""
    return max(values) / max(min(values), 1e-9)


def summarize(stats: list[dict[str, Any]], cameras: list[str], hwm: float) -> dict[str, Any]:
    if not stats:
        raise RuntimeError("no complete stats interval: run longer")
    seconds = sum(s["interval"] for s in stats)

    def rate(cam: str, key: str) -> float:
        return sum(s["cameras"][cam][key] * s["interval"] for s in stats) / seconds

    per_camera = {
        cam: {
            "fps": rate(cam, "fps"),
            "detector_fps": rate(cam, "detector_fps"),
            "capture_fps": rate(cam, "capture_fps"),
        }
        for cam in cameras
    }
    return {
        "seconds": seconds,
        "cameras": per_camera,
        "spread": spread([c["fps"] for c in per_camera.values()]),
        "worst_interval_spread": max(spread([s["cameras"][c]["fps"] for c in cameras]) for s in stats),
        "cpu_pct": sum(s["system"]["cpu_pct"] * s["interval"] for s in stats) / seconds,
        "peak_rss_mb": stats[-1]["system"]["peak_rss_mb"],
        "vm_hwm_mb": hwm,
        "detector_ms_p50": stats[-1]["detector"]["ms_p50"],
    }


def report(phase: Phase, result: dict[str, Any]) -> None:
    gate = "every frame" if phase.every_frame else "motion gate"
    print(f"\n{phase.name}: cap {phase.cap:g} fps, footage x{phase.speed}, {gate}, {result['seconds']:.0f} s measured")
    print(f"{'camera':<8} {'processed fps':>14} {'detector fps':>13} {'capture fps':>12}")
    for cam, c in result["cameras"].items():
        print(f"{cam:<8} {c['fps']:>14.2f} {c['detector_fps']:>13.2f} {c['capture_fps']:>12.2f}")
    print(f"spread of processed fps (max/min): {result['spread']:.3f} over the run, "
          f"{result['worst_interval_spread']:.3f} in the worst {STATS_INTERVAL:g} s interval")  # fmt: skip
    print(f"agent CPU {result['cpu_pct']:.0f} % (of one core; {os.cpu_count()} cores), detector p50 "
          f"{result['detector_ms_p50']:.1f} ms, peak RSS {result['peak_rss_mb']:.0f} MB (stats), "
          f"VmHWM {result['vm_hwm_mb']:.0f} MB (/proc)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="measured time per phase")
    parser.add_argument("--fps", type=float, default=5.0, help="the cap of every camera in the capped phase")
    parser.add_argument("--speed", type=int, default=4, help="footage speed-up in the saturated phase")
    parser.add_argument("--phases", nargs="+", choices=["capped", "saturated"], default=["capped", "saturated"])
    args = parser.parse_args()
    phases = {
        "capped": Phase("capped", args.fps, 1, every_frame=False),
        "saturated": Phase("saturated", MAX_CAP, args.speed, every_frame=True),
    }
    with tempfile.TemporaryDirectory(prefix="camhub-multicam-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir / "broker").start()
        try:
            for name in args.phases:
                report(phases[name], run_phase(workdir, broker, phases[name], args.seconds))
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
