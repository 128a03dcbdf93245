"""`camhub-agent run` as a process, against a real Mosquitto: events, status,
commands, reload and signals, and the systemd notify protocol."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np

from agent.events import parse_event
from tests.agent_process import AgentProcess, NotifySocket, spooled_ids
from tests.broker import Broker, Subscriber, free_port, wait_until
from tests.shared import MODEL, VTEST

PREFIX = "test/village"
MASK = "[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]"


def _config(tmp_path: Path, port: int, extra_camera: str = "") -> Path:
    config = tmp_path / "hub.yaml"
    config.write_text(f"""\
hub_id: hub-t
mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: {PREFIX}, stats_interval: 5, status_interval: 5}}
detector: {{model: {MODEL}}}
cameras:
  - id: street
    source: {VTEST}
    loop: true
    fps: 10
    masks: [{MASK}]
{extra_camera}spool: {{path: {tmp_path / "spool.db"}}}
""")
    return config


def _status(sub: Subscriber) -> dict:
    return sub.on("/status")[-1].json() if sub.on("/status") else {}


def _result(sub: Subscriber, name: str, request_id: str) -> dict | None:
    for message in sub.on(f"/cmd/{name}/result"):
        if message.json().get("id") == request_id:
            return message.json()
    return None


def _command(sub: Subscriber, name: str, request_id: str, payload: str) -> dict:
    sub.client.publish(f"{PREFIX}/hub-t/cmd/{name}", payload, qos=1)
    assert wait_until(lambda: _result(sub, name, request_id) is not None, 20), f"no result for {name}"
    return _result(sub, name, request_id) or {}


def test_run_publishes_events_and_status_then_stops_cleanly(
    tmp_path: Path, broker: Broker, subscribers: Callable[..., Subscriber], agents: Callable[..., AgentProcess]
) -> None:
    sub = subscribers(broker.port, f"{PREFIX}/#")
    agent = agents(_config(tmp_path, broker.port))
    assert sub.wait_for(lambda s: any(m.payload == b"online" for m in s.on("/availability")), 30), agent.stderr()
    assert sub.wait_for(lambda s: len([m for m in s.on("/street/events") if m.json()["type"] == "new"]) >= 2, 30)
    assert sub.wait_for(lambda s: _status(s).get("cameras", {}).get("street", {}).get("state") == "online", 15)
    status = _status(sub)
    assert status["hub"] == "hub-t" and status["model"]["runtime"] == "litert"
    assert status["cameras"]["street"]["detect"] is True
    assert sub.wait_for(lambda s: bool(s.on("/stats")), 15)
    stats = sub.on("/stats")[-1].json()
    assert stats["cameras"]["street"]["fps"] > 0 and "spool" in stats and "cpu_pct" in stats["system"]

    assert agent.stop() == 0
    assert sub.wait_for(lambda s: s.on("/availability")[-1].payload == b"offline", 10)
    events = [parse_event(m.payload, "street") for m in sub.on("/street/events")]
    news = {e.obj for e in events if e.type == "new"}
    ends = {e.obj for e in events if e.type == "end"}
    assert news and news == ends, "every object reported is closed when the agent stops"
    offline = sub.on("/availability")[-1].received
    assert all(m.received <= offline for m in sub.on("/street/events")), "the last events go out before `offline`"
    assert "Traceback" not in agent.stderr()


def test_bad_config_exits_78_with_one_line(tmp_path: Path, agents: Callable[..., AgentProcess]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("hub_id: hub-t\ncameras:\n  - {id: a, source: rtsp://h/s, fps: 0}\n")
    agent = agents(config)
    assert agent.process.wait(30) == 78
    assert agent.stderr().strip().splitlines() == [
        f"{config}:3: cameras[0].fps: input should be greater than 0 (got 0)"
    ]


def test_commands_snapshot_set_and_reload(
    tmp_path: Path, broker: Broker, subscribers: Callable[..., Subscriber], agents: Callable[..., AgentProcess]
) -> None:
    sub = subscribers(broker.port, f"{PREFIX}/#")
    config = _config(tmp_path, broker.port)
    agent = agents(config)
    assert sub.wait_for(lambda s: _status(s).get("cameras", {}).get("street", {}).get("state") == "online", 30)

    assert _command(sub, "ping", "p1", '{"id": "p1"}')["ok"] is True

    result = _command(sub, "snapshot", "s1", '{"id": "s1", "camera": "street"}')
    assert result["ok"] is True, result
    assert sub.wait_for(lambda s: bool(s.on("/street/snapshot")), 10)
    picture = cv2.imdecode(np.frombuffer(sub.on("/street/snapshot")[-1].payload, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[:2] == (576, 768)
    assert picture[: 576 // 2 - 4, : 768 // 2 - 4].max() < 40, "the privacy mask is painted over"
    assert picture[300:, 400:].mean() > 40

    assert _command(sub, "snapshot", "s2", '{"id": "s2", "camera": "nope"}')["ok"] is False

    line_config = "    lines: {road: {points: [[0.1, 0.8], [0.9, 0.8]]}}\n"
    config.write_text(config.read_text().replace("    fps: 10\n", "    fps: 10\n" + line_config))
    assert _command(sub, "reload", "r0", '{"id": "r0"}')["ok"] is True
    assert _command(sub, "snapshot", "s3", '{"id": "s3", "camera": "street", "draw": true}')["ok"] is True
    assert sub.wait_for(lambda s: len(s.on("/street/snapshot")) >= 2, 10)
    drawn = cv2.imdecode(np.frombuffer(sub.on("/street/snapshot")[-1].payload, np.uint8), cv2.IMREAD_COLOR)
    line = drawn[int(0.8 * 576) - 2 : int(0.8 * 576) + 3, 200:600].astype(int)
    assert ((line[..., 0] > 180) & (line[..., 1] < 90) & (line[..., 2] > 180)).any(), "the counting line is drawn"

    assert _command(sub, "set", "d1", '{"id": "d1", "camera": "street", "detect": false}')["ok"] is True
    assert sub.wait_for(lambda s: _status(s)["cameras"]["street"]["detect"] is False, 10)

    good_hash = _status(sub)["config_hash"]
    config.write_text(config.read_text().replace("fps: 10", "fps: ten"))
    refused = _command(sub, "reload", "r1", '{"id": "r1"}')
    assert refused["ok"] is False and "cameras[0].fps" in refused["error"], refused
    assert agent.process.poll() is None

    config.write_text(config.read_text().replace("fps: ten", "fps: 8"))
    reloaded = _command(sub, "reload", "r2", '{"id": "r2"}')
    assert reloaded["ok"] is True, reloaded
    assert sub.wait_for(lambda s: _status(s)["config_hash"] not in ("", good_hash), 10)
    assert sub.wait_for(lambda s: _status(s)["cameras"]["street"]["detect"] is True, 10)
    assert agent.stop() == 0


def test_sighup_reloads_and_systemd_hears_ready_watchdog_and_stopping(
    tmp_path: Path, broker: Broker, subscribers: Callable[..., Subscriber], agents: Callable[..., AgentProcess]
) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    sub = subscribers(broker.port, f"{PREFIX}/#")
    config = _config(tmp_path, broker.port)
    agent = agents(config, {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000"})
    try:
        assert wait_until(lambda: bool(notify.heard("READY=1")), 30), notify.messages
        assert wait_until(lambda: bool(notify.heard("WATCHDOG=1")), 10), notify.messages
        assert notify.heard("STATUS=1/1 cameras online"), notify.messages

        config.write_text(config.read_text().replace("fps: 10", "fps: 6"))
        first_hash = _status(sub).get("config_hash")
        agent.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: bool(notify.heard("RELOADING=1")), 10), notify.messages
        assert sub.wait_for(lambda s: _status(s).get("config_hash") not in (None, first_hash), 15)
        reloaded = len(sub.on("/stats"))
        assert sub.wait_for(lambda s: len(s.on("/stats")) > reloaded + 1, 20)
        for stats in sub.on("/stats")[reloaded:]:  # the new pipelines count from zero: no negative rates
            assert all(c["fps"] >= 0 and c["detector_fps"] >= 0 for c in stats.json()["cameras"].values())

        broken = tmp_path / "broken.tflite"
        broken.write_bytes(MODEL.read_bytes()[:2000])  # a TFL3 header, then nothing
        config.write_text(config.read_text().replace(str(MODEL), str(broken)))
        agent.process.send_signal(signal.SIGHUP)
        refused = "refused, still running the previous"
        assert wait_until(lambda: refused in agent.stderr() and "detector.model" in agent.stderr(), 15)
        assert agent.process.poll() is None
        frames = _status(sub)["cameras"]["street"]["frames"]
        assert sub.wait_for(lambda s: _status(s)["cameras"]["street"]["frames"] > frames, 15), "still processing"

        assert agent.stop() == 0
        assert wait_until(lambda: bool(notify.heard("STOPPING=1")), 5), notify.messages
    finally:
        notify.close()


def test_unusable_spool_path_exits_78_with_the_reason(tmp_path: Path, agents: Callable[..., AgentProcess]) -> None:
    config = _config(tmp_path, 1883)
    config.write_text(config.read_text().replace(str(tmp_path / "spool.db"), "/proc/camhub/spool.db"))
    agent = agents(config)
    assert agent.process.wait(30) == 78
    assert f"{config}:" in agent.stderr() and "spool.path: /proc/camhub/spool.db cannot be created" in agent.stderr()
    assert "Traceback" not in agent.stderr()


def test_events_spooled_before_a_sigkill_are_delivered_after_restart(
    tmp_path: Path, brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber],
    agents: Callable[..., AgentProcess],
) -> None:  # fmt: skip
    """The real agent, its broker unreachable, killed with SIGKILL while events wait in the
    spool; started again once the broker is up: every spooled event arrives, marked historical."""
    broker = brokers()  # not started: the hub is cut off
    config = _config(tmp_path, broker.port)
    first = agents(config)
    assert wait_until(lambda: len(spooled_ids(tmp_path / "spool.db")) >= 5, 60)
    first.process.kill()
    first.process.wait(10)
    waiting = spooled_ids(tmp_path / "spool.db")

    broker.start()
    sub = subscribers(broker.port, f"{PREFIX}/+/+/events")
    second = agents(config)

    def arrived(s: Subscriber) -> set[str]:
        return {m.json()["id"] for m in s.on("/street/events")}

    assert sub.wait_for(lambda s: waiting <= arrived(s), 60), f"missing: {waiting - arrived(sub)}"
    replayed = [e for m in sub.on("/street/events") if (e := parse_event(m.payload, "street")).id in waiting]
    assert replayed and all(e.historical for e in replayed)
    assert second.stop() == 0


def _runs(sub: Subscriber, camera: str) -> set[str]:
    """The pipelines (their start, the first part of an event's object id) that produced CAMERA's events so far."""
    return {parse_event(m.payload, camera).obj.split("-", 1)[0] for m in sub.on(f"/{camera}/events")}


def _frames(sub: Subscriber, camera: str) -> list[int]:
    """CAMERA's frame count in every status so far: it drops only when its capture is re-created."""
    return [c[camera]["frames"] for m in sub.on("/status") if camera in (c := m.json()["cameras"])]


def test_reload_restarts_only_the_cameras_whose_config_changed(
    tmp_path: Path, broker: Broker, subscribers: Callable[..., Subscriber], agents: Callable[..., AgentProcess]
) -> None:
    yard = f"  - {{id: yard, source: {VTEST}, loop: true, fps: 5}}\n"
    config = _config(tmp_path, broker.port, extra_camera=yard)
    config.write_text(config.read_text().replace("fps: 10", "fps: 5"))
    sub = subscribers(broker.port, f"{PREFIX}/#")
    agent = agents(config)
    assert sub.wait_for(lambda s: bool(_runs(s, "street")) and bool(_runs(s, "yard")), 60), agent.stderr()
    reconnects = {cid: c["reconnects"] for cid, c in _status(sub)["cameras"].items()}
    assert _command(sub, "set", "off", '{"id": "off", "camera": "street", "detect": false}')["ok"] is True

    # A burst of reloads with the same config (a comment added does not change it): nothing restarts.
    config.write_text("# edited, same settings\n" + config.read_text())
    for i in range(6):
        sub.client.publish(f"{PREFIX}/hub-t/cmd/reload", json.dumps({"id": f"r{i}"}), qos=1)
        if i % 2:
            agent.process.send_signal(signal.SIGHUP)
    assert sub.wait_for(lambda s: all(_result(s, "reload", f"r{i}") for i in range(6)), 30)
    results = [_result(sub, "reload", f"r{i}") for i in range(6)]
    assert all(r and r["ok"] and r["restarted"] == [] for r in results), results
    seen = {camera: len(_frames(sub, camera)) for camera in reconnects}
    assert sub.wait_for(lambda s: all(len(_frames(s, c)) > seen[c] + 1 for c in seen), 20), "status refreshed"
    for camera in reconnects:
        assert _status(sub)["cameras"][camera]["reconnects"] == reconnects[camera]
        assert _frames(sub, camera) == sorted(_frames(sub, camera)), f"{camera}: its capture was re-created"
        assert len(_runs(sub, camera)) == 1, f"{camera}: its pipeline was re-created: {_runs(sub, camera)}"
    assert _status(sub)["cameras"]["street"]["detect"] is False, "a kept pipeline keeps its `set`"

    # A change to one camera restarts that camera only.
    config.write_text(config.read_text().replace("loop: true, fps: 5", "loop: true, fps: 4"))
    result = _command(sub, "reload", "change", '{"id": "change"}')
    assert result["ok"] is True and result["restarted"] == ["yard"], result
    assert sub.wait_for(lambda s: len(_runs(s, "yard")) == 2, 30), "yard runs a new pipeline"
    assert sub.wait_for(lambda s: _frames(s, "yard") != sorted(_frames(s, "yard")), 15), "yard's capture restarts"
    street = len(_frames(sub, "street"))
    assert sub.wait_for(lambda s: len(_frames(s, "street")) > street, 10)
    assert len(_runs(sub, "street")) == 1 and _frames(sub, "street") == sorted(_frames(sub, "street"))
    assert agent.stop() == 0
    assert "Traceback" not in agent.stderr()


# Every character that breaks a naive `user:pass@` pattern, and non-ASCII: one camera each.
PASSWORDS = ["p@ss", "a/b/c", "x:y:z", "50%off", "no#hash", "why?not", "two words", "mật khẩu", "p@/ :%#?ờ"]


def test_no_password_leaves_the_running_agent(
    tmp_path: Path, broker: Broker, subscribers: Callable[..., Subscriber], agents: Callable[..., AgentProcess]
) -> None:
    """Cameras whose URL (password included) fails to open, in the WARNING log and in status; a reload
    refused for a config whose numeric MQTT password has the wrong type: no password in any of it."""
    dead = free_port()  # nothing listens there
    cameras = "".join(
        f"  - {{id: cam{i}, source: {json.dumps(f'rtsp://admin:{pw}@127.0.0.1:{dead}/s', ensure_ascii=False)}}}\n"
        for i, pw in enumerate(PASSWORDS)
    )
    config = tmp_path / "hub.yaml"
    config.write_text(f"""\
hub_id: hub-t
mqtt: {{host: 127.0.0.1, port: {broker.port}, topic_prefix: {PREFIX}, username: hub, password: "mqtt pässwörd"}}
detector: {{model: {MODEL}}}
cameras:
{cameras}spool: {{path: {tmp_path / "spool.db"}}}
""")
    sub = subscribers(broker.port, f"{PREFIX}/#")
    agent = agents(config)

    def all_failed(s: Subscriber) -> bool:
        cams = _status(s).get("cameras", {})
        return len(cams) == len(PASSWORDS) and all(c["last_error"] for c in cams.values())

    assert sub.wait_for(all_failed, 30), agent.stderr()
    config.write_text(config.read_text().replace('password: "mqtt pässwörd"', "password: 20242025, keepalive: x"))
    refused = _command(sub, "reload", "r1", '{"id": "r1"}')
    assert refused["ok"] is False and "mqtt.password" in refused["error"], refused
    assert agent.stop() == 0

    log = agent.stderr()
    assert "WARNING agent.capture.worker: camera cam8 reconnecting: cannot open rtsp://***@127.0.0.1" in log, log
    errors = {c["last_error"] for c in _status(sub)["cameras"].values()}
    assert errors == {f"cannot open rtsp://***@127.0.0.1:{dead}/s"}, errors
    reports = [m for m in sub.messages if m.topic.endswith(("/status", "/stats", "/result"))]
    published = [json.dumps(m.json(), ensure_ascii=False) for m in reports]
    for secret in [*PASSWORDS, "mqtt pässwörd", "20242025"]:
        for text in (log, *published):
            assert secret not in text and quote(secret, safe="") not in text, f"{secret!r} leaked: {text}"
