"""What `camhub-agent run` says about itself, against a real Mosquitto and a real RTSP camera:
the retained status goes out when what it says changes, at every connect and every
`mqtt.status_interval`, never merely because uptime, frames and rates moved; stats leave out
the zero counts that say nothing.

Which status message came for which reason is told by content and order (a refresh says the
same as the one before it); the waits are deadlines for a broken build, never measurements."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from tests.agent_process import AgentProcess
from tests.broker import Broker, Subscriber
from tests.rtsp import RtspServer
from tests.shared import MODEL, VTEST

PREFIX = "test/telemetry"
STATS = 5  # mqtt.stats_interval
# mqtt.status_interval: longer than the quiet spells watched (three stats intervals after the last
# status; a camera going down and staying down, then a broker restart), so a status seen within them
# was not the periodic refresh.
STATUS = 50
DEADLINE = 15.0
DOWN = ("reconnecting", "offline")


def _config(directory: Path, port: int, gate: str) -> Path:
    config = directory / "hub.yaml"
    config.write_text(f"""\
hub_id: hub-tel
mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: {PREFIX}, stats_interval: {STATS}, status_interval: {STATUS}}}
detector: {{model: {MODEL}}}
cameras:
  - {{id: yard, source: {VTEST}, loop: true, fps: 5}}
  - {{id: gate, source: "{gate}", fps: 5, open_timeout: 2, read_timeout: 2, stall_timeout: 3}}
spool: {{path: {directory / "spool.db"}}}
""")
    return config


def _statuses(sub: Subscriber) -> list[dict[str, Any]]:
    return [m.json() for m in sub.on("/status")]


def _states(status: dict[str, Any]) -> dict[str, str]:
    return {cid: camera["state"] for cid, camera in status.get("cameras", {}).items()}


def _said(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a status tells an operator, without what moves by itself (uptime, frames, rates, counters)."""
    cameras = {cid: (c["state"], c["last_error"], c["detect"]) for cid, c in status["cameras"].items()}
    link = status["uplink"]
    return status["config_hash"], cameras, link["broker"], link["last_error"]


def _zeros(value: Any, path: str = "") -> list[str]:
    """Paths of the zero numbers and empty sections in VALUE."""
    if isinstance(value, dict):
        if not value:
            return [path]
        return [p for key, inner in value.items() for p in _zeros(inner, f"{path}.{key}")]
    return [path] if value == 0 and not isinstance(value, bool) else []


def test_status_goes_out_on_a_change_a_connect_and_the_interval_only(
    tmp_path: Path, brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber],
    agents: Callable[..., AgentProcess], rtsp_server: RtspServer,
) -> None:  # fmt: skip
    # Without persistence a restarted broker has no retained status: the one seen after it is the hub's.
    broker = brokers(persistence=False).start()
    sub = subscribers(broker.port, f"{PREFIX}/#")
    agent = agents(_config(tmp_path, broker.port, rtsp_server.url))
    both = {"yard": "online", "gate": "online"}
    assert sub.wait_for(lambda s: bool(_statuses(s)) and _states(_statuses(s)[-1]) == both, 30), agent.stderr()

    # Three stats intervals in which frames, fps and uptime move and nothing else does: no status.
    quiet = len(sub.on("/status"))
    stats = len(sub.on("/stats"))
    assert sub.wait_for(lambda s: len(s.on("/stats")) >= stats + 3, 4 * STATS)
    assert len(sub.on("/status")) == quiet, _statuses(sub)[quiet - 1 :]

    # After status_interval the same status again, its counters refreshed.
    assert sub.wait_for(lambda s: len(s.on("/status")) > quiet, STATUS)
    before, refresh = _statuses(sub)[quiet - 1 : quiet + 1]
    assert _said(refresh) == _said(before) and refresh["uptime"] > before["uptime"]
    assert refresh["cameras"]["yard"]["frames"] > before["cameras"]["yard"]["frames"]

    # The camera loses power: each new state goes out at once, long before the next refresh; once it
    # is offline, its retries (with the same error) send nothing.
    refreshed = len(sub.on("/status"))
    rtsp_server.kill()
    assert sub.wait_for(lambda s: _states(_statuses(s)[-1])["gate"] == "offline", DEADLINE), agent.stderr()
    settled = len(sub.on("/status"))
    stats = len(sub.on("/stats"))
    assert sub.wait_for(lambda s: len(s.on("/stats")) >= stats + 2, 3 * STATS)
    since = _statuses(sub)[refreshed - 1 :]
    assert all(_said(a) != _said(b) for a, b in pairwise(since)), "each one says something new"
    assert len(sub.on("/status")) == settled, _statuses(sub)[settled - 1 :]

    # The broker restarts: the hub's status is there again, saying which broker and why it was lost.
    broker.restart()
    assert sub.wait_for(lambda s: any(m["uplink"]["reconnects"] == 1 for m in _statuses(s)), DEADLINE)
    fresh = next(m for m in _statuses(sub) if m["uplink"]["reconnects"] == 1)
    assert fresh["uplink"]["connected"] is True and fresh["uplink"]["last_error"], fresh["uplink"]
    assert _states(fresh)["gate"] in DOWN

    # Stats: no zero counts, no empty sections, whole megabytes.
    last = sub.on("/stats")[-1].json()
    trimmed = {k: last.get(k) for k in ("spool", "evidence", "uplink")}
    trimmed["rules"] = {cid: camera.get("rules") for cid, camera in last["cameras"].items()}
    assert not _zeros({k: v for k, v in trimmed.items() if v is not None}), _zeros(trimmed)
    assert all(isinstance(v, int) for k, v in last["system"].items() if k.endswith("_mb")), last["system"]
    assert agent.stop() == 0
    assert "Traceback" not in agent.stderr()
