"""Spool and uplink throughput against a local Mosquitto.

    .venv/bin/python benchmarks/spool_throughput.py [--events 5000] [--backlog 10000]

Prints: the cost of one durable `put` (synchronous=FULL, the default, vs
NORMAL) and of an ack; events/s end to end (put -> PUBLISH -> PUBACK -> delete)
in steady state with 1 and with 20 messages in flight; a 10,000-event backlog
drained while live events keep coming (drain rate, live latency during the
drain vs. idle); spool bytes per event on disk; and MQTT bytes per event on
the wire, counted by a TCP relay between the hub and the broker.
Absolute times depend on the machine and its disk: compare the rows.
"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import HubConfig
from agent.events import ObjectEvent
from agent.uplink.mqtt import Uplink
from agent.uplink.spool import Spool
from tests.broker import Broker, Subscriber, free_port, wait_until

MB = 1024 * 1024
TOPIC = "camhub/hub1/cam1/events"


def event(seq: int, tag: str) -> ObjectEvent:
    now = round(time.time(), 2)
    return ObjectEvent(camera="cam1", id=f"{tag}-cam1-{seq // 3}.{seq}", type="new", label="motorcycle", score=0.81,
                       box=(0.124, 0.301, 0.252, 0.613), zones=("road",), start=now, ts=now)  # fmt: skip


def payload(seq: int) -> bytes:
    return event(seq, "p").encode()


class CountingRelay:
    """A TCP relay 127.0.0.1:port -> the broker, counting bytes each way and
    delaying each by DELAY seconds (half a round trip of a slow link)."""

    def __init__(self, target: int, delay: float = 0.0) -> None:
        self.target = target
        self.delay = delay
        self.up = self.down = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            broker = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, broker, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(broker, client, "down"), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
        threading.Thread(target=self._deliver, args=(chunks, dst), daemon=True).start()
        try:
            while data := src.recv(65536):
                setattr(self, way, getattr(self, way) + len(data))
                chunks.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        chunks.put((0.0, b""))

    @staticmethod
    def _deliver(chunks: queue.Queue[tuple[float, bytes]], dst: socket.socket) -> None:
        try:
            while data := (item := chunks.get())[1]:
                time.sleep(max(0.0, item[0] - time.monotonic()))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()


def bench_put(directory: Path, n: int) -> list[tuple[str, str]]:
    rows = []
    body = payload(0)
    for sync in ("FULL", "NORMAL"):
        path = directory / f"put-{sync}.db"
        spool = Spool(path, 1000 * MB, 86400.0, synchronous=sync)  # type: ignore[arg-type]
        started = time.perf_counter()
        ids = [spool.put(TOPIC, body) for _ in range(n)]
        put_us = (time.perf_counter() - started) / n * 1e6
        started = time.perf_counter()
        for i in range(0, n, 20):  # acks come in batches as PUBACKs arrive
            spool.ack(ids[i:i + 20])
        ack_us = (time.perf_counter() - started) / n * 1e6
        rows.append((f"put, synchronous={sync}", f"{put_us:8.0f} µs/event"))
        rows.append((f"ack (batches of 20), synchronous=NORMAL after {sync} puts", f"{ack_us:8.0f} µs/event"))
        spool.close()
    path = directory / "size.db"
    spool = Spool(path, 1000 * MB, 86400.0)
    for _ in range(n):
        spool.put(TOPIC, body)
    spool.close()
    per_row = path.stat().st_size / n
    rows.append((f"spool file per event (topic+payload {len(TOPIC) + len(body)} B)", f"{per_row:8.0f} B"))
    return rows


def make_uplink(directory: Path, name: str, port: int, inflight: int) -> tuple[Uplink, Spool]:
    config = HubConfig.model_validate({
        "hub_id": "hub1", "cameras": [{"id": "cam1", "source": "rtsp://127.0.0.1/cam1"}],
        "mqtt": {"host": "127.0.0.1", "port": port, "max_inflight": inflight, "reconnect_max_delay": 1.0},
        "spool": {"path": str(directory / f"{name}.db")},
    })
    spool = Spool(config.spool.path, 1000 * MB, 86400.0)
    return Uplink(config, spool), spool


def bench_steady(directory: Path, port: int, n: int, inflight: int, rtt: float = 0.0) -> float:
    relay = CountingRelay(port, rtt / 2) if rtt else None
    uplink, spool = make_uplink(directory, f"steady{inflight}-{rtt}", relay.port if relay else port, inflight)
    uplink.start()
    wait_until(lambda: uplink.connection()["connected"], 10)
    started = time.perf_counter()
    for i in range(n):
        uplink.send_event(event(i, f"s{inflight}"))
    wait_until(lambda: spool.stats()["depth"] == 0, 300, 0.005)
    rate = n / (time.perf_counter() - started)
    uplink.stop()
    spool.close()
    return rate


def live_latencies(uplink: Uplink, sub: Subscriber, tag: str, until: threading.Event, limit: int) -> list[float]:
    """Send live events at 20/s until UNTIL is set (or LIMIT sent); seconds from send_event to arrival."""
    sent: dict[str, float] = {}
    seq = 0
    while not until.is_set() and seq < limit:
        e = event(seq, tag)
        sent[e.id] = time.monotonic()
        uplink.send_event(e)
        seq += 1
        time.sleep(0.05)
    wait_until(lambda: len([m for m in sub.on("/events") if tag.encode() in m.payload]) >= len(sent), 60)
    arrived = {json.loads(m.payload)["id"]: m.received for m in sub.on("/events") if tag.encode() in m.payload}
    return [arrived[i] - t for i, t in sent.items() if i in arrived]


def bench_drain(directory: Path, port: int, backlog: int) -> dict[str, Any]:
    uplink, spool = make_uplink(directory, "drain", port, 20)
    for i in range(backlog):  # made while offline: the uplink is not started yet
        uplink.send_event(event(i, "backlog"))
    sub = Subscriber(port, ["camhub/hub1/+/events"], check_contract=False)  # the tests check; this measures
    uplink.start()
    started = time.perf_counter()
    drained = threading.Event()
    result: dict[str, Any] = {}

    def watch() -> None:
        wait_until(lambda: len(sub.on("/events")) >= backlog and spool.stats()["depth"] == 0, 600, 0.01)
        result["seconds"] = time.perf_counter() - started
        drained.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    wait_until(lambda: uplink.connection()["connected"], 10)  # events sent before this are historical too
    during = live_latencies(uplink, sub, "during", drained, 10**9)
    watcher.join()
    idle = live_latencies(uplink, sub, "idle", threading.Event(), 100)
    result.update(rate=backlog / result["seconds"], during=during, idle=idle)
    uplink.stop()
    sub.close()
    spool.close()
    return result


def bench_wire(directory: Path, port: int, n: int) -> tuple[float, float, int]:
    relay = CountingRelay(port)
    uplink, spool = make_uplink(directory, "wire", relay.port, 20)
    uplink.start()
    wait_until(lambda: uplink.connection()["connected"], 10)
    up0, down0 = relay.up, relay.down  # leave out CONNECT, availability, SUBSCRIBE
    for i in range(n):
        uplink.send_event(event(i, "w"))
    wait_until(lambda: spool.stats()["depth"] == 0, 120, 0.005)
    up, down = (relay.up - up0) / n, (relay.down - down0) / n
    uplink.stop()
    spool.close()
    return up, down, len(payload(0))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        broker = Broker(directory / "broker", port=free_port(), persistence=False)
        broker.start()
        try:
            rows = bench_put(directory, 2000)
            for inflight in (1, 20):
                rate = bench_steady(directory, broker.port, args.events, inflight)
                rows.append((f"steady state, loopback, max_inflight={inflight}", f"{rate:8.0f} events/s"))
            for inflight in (1, 20):
                rate = bench_steady(directory, broker.port, 100, inflight, rtt=0.1)
                rows.append((f"steady state, 100 ms round trip, max_inflight={inflight}", f"{rate:8.0f} events/s"))
            drain = bench_drain(directory, broker.port, args.backlog)
            rows.append((f"drain a {args.backlog}-event backlog (max_inflight=20)", f"{drain['rate']:8.0f} events/s"))
            rows.append(("a live event queued behind that backlog (FIFO) would wait",
                         f"{args.backlog / drain['rate'] * 1e3:8.0f} ms"))
            for name in ("idle", "during"):
                lat = drain[name]
                rows.append((f"live event latency {name} drain: p50 / p95 / max ({len(lat)} events)",
                             f"{pct(lat, 50) * 1e3:.1f} / {pct(lat, 95) * 1e3:.1f} / {max(lat) * 1e3:.1f} ms"))
            up, down, size = bench_wire(directory, broker.port, 2000)
            rows.append((f"MQTT bytes per event, hub -> broker (JSON payload {size} B)", f"{up:8.1f} B"))
            rows.append(("MQTT bytes per event, broker -> hub (PUBACK)", f"{down:8.1f} B"))
        finally:
            broker.kill()
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
