"""The village rules in `camhub-agent run`, against a real Mosquitto: a dwell alert on
vtest.avi whose picture follows on the evidence topic, the line counts retained, and
the picture budget kept through a reload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from agent.events import parse_counts, parse_event
from tests.agent_process import AgentProcess
from tests.broker import Broker, Subscriber
from tests.shared import MODEL, VTEST

PREFIX = "test/village"


def _config(tmp_path: Path, port: int) -> Path:
    """The man on the phone in vtest.avi stands in `phone` ~6 s from about 40 s into the clip."""
    config = tmp_path / "hub.yaml"
    config.write_text(f"""\
hub_id: hub-t
mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: {PREFIX}, stats_interval: 5}}
detector: {{model: {MODEL}}}
cameras:
  - id: street
    source: {VTEST}
    fps: 10
    zones:
      phone: {{points: [[0.37, 0.47], [0.45, 0.47], [0.45, 0.54], [0.37, 0.54]], objects: [person], dwell: 4}}
    lines:
      middle: {{points: [[0.5, 0.0], [0.5, 1.0]]}}
    counts_interval: 10
spool: {{path: {tmp_path / "spool.db"}}}
""")
    return config


def _alerts(sub: Subscriber) -> list:
    return [e for e in (parse_event(m.payload, "street") for m in sub.on("/street/events")) if e.type == "alert"]


def _stats(sub: Subscriber, after: float) -> dict:
    """The latest stats received after AFTER (a monotonic time of arrival)."""
    late = [m for m in sub.on("/stats") if m.received > after]
    return late[-1].json() if late else {}


def test_run_sends_a_dwell_alert_with_its_picture_and_retained_counts(
    tmp_path: Path, broker: Broker, subscribers: Callable[..., Subscriber], agents: Callable[..., AgentProcess]
) -> None:
    sub = subscribers(broker.port, f"{PREFIX}/#")
    config = _config(tmp_path, broker.port)
    agent = agents(config)
    assert sub.wait_for(lambda s: bool(_alerts(s)), 120), agent.stderr()
    alert = _alerts(sub)[0]
    assert (alert.zone, alert.reason, alert.label, alert.evidence) == ("phone", "dwell", "person", True)
    topic = f"{PREFIX}/hub-t/street/evidence/{alert.id}"
    assert sub.wait_for(lambda s: any(m.topic == topic for m in s.messages), 10)
    picture = next(m for m in sub.messages if m.topic == topic)
    assert not picture.retain and len(picture.payload) <= 8 * 1024
    assert cv2.imdecode(np.frombuffer(picture.payload, np.uint8), cv2.IMREAD_COLOR) is not None

    assert sub.wait_for(lambda s: bool(s.on("/street/counts")), 20)
    live = parse_counts(sub.on("/street/counts")[-1].payload, "street")
    assert not live.historical and live.end - live.start >= 10.0
    newcomer = subscribers(broker.port, f"{PREFIX}/hub-t/street/counts")
    assert newcomer.wait_for(lambda s: bool(s.messages), 5), "the latest counts are retained"
    assert newcomer.messages[0].retain

    assert sub.wait_for(lambda s: _stats(s, picture.received).get("evidence", {}).get("bytes", 0) > 0, 15)
    stats = _stats(sub, picture.received)
    assert stats["evidence"]["bytes"] >= len(picture.payload)
    assert stats["cameras"]["street"]["rules"]["alert"] >= 1 and stats["cameras"]["street"]["rules"]["counts"] >= 1

    # A reload that changes the budget keeps what the day has spent: no second day's pictures.
    config.write_text(config.read_text() + "evidence: {daily_mb: 1}\n")
    sub.client.publish(f"{PREFIX}/hub-t/cmd/reload", '{"id": "r1"}', qos=1)
    assert sub.wait_for(lambda s: bool(s.on("/cmd/reload/result")), 20)
    assert sub.on("/cmd/reload/result")[-1].json()["ok"] is True
    reloaded = sub.on("/cmd/reload/result")[-1].received
    assert sub.wait_for(lambda s: _stats(s, reloaded).get("evidence", {}).get("budget") == 1024 * 1024, 15)
    assert _stats(sub, reloaded)["evidence"]["bytes"] >= stats["evidence"]["bytes"]
    assert agent.stop() == 0
    assert "Traceback" not in agent.stderr()
