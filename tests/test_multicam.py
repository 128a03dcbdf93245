"""Several cameras in one `camhub-agent run` process, against a real Mosquitto and a
real RTSP server: a camera that dies, hangs or never answers slows no other camera,
its state reaches the retained status topic, startup still completes, and cameras
with equal fps caps are served equally.

States are polled with deadlines; throughput is compared as ratios between cameras
or between stats intervals of one run, never against a clock."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_process import AgentProcess, NotifySocket
from tests.broker import Broker, Message, Subscriber, free_port, wait_until
from tests.rtsp import RtspServer
from tests.shared import MODEL, QUIET, TREE, VTEST

PREFIX = "test/multicam"
HUB = "hub-mc"
TIMEOUTS = {"open_timeout": 2, "read_timeout": 2, "stall_timeout": 3}
DOWN = ("reconnecting", "offline")
DEADLINE = 30.0  # seconds to wait for a state: a limit for a broken build, not a measured time
CAP = 5  # fps cap of every camera here; the footage runs at 10 or 15 fps
FAIR = 0.8  # the slowest camera gets at least this share of the fastest one's processed fps
FILES = ("yard", "porch", "tree")  # the file cameras of the crowded hub


def _camera(camera_id: str, source: object, **settings: object) -> str:
    fields = {"id": camera_id, "source": str(source), "fps": CAP, **TIMEOUTS, **settings}
    return "  - {" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}\n"


def _config(directory: Path, port: int, cameras: list[str]) -> Path:
    config = directory / "hub.yaml"
    config.write_text(
        f"hub_id: {HUB}\n"
        f"mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: {PREFIX}, stats_interval: 5, status_interval: 5}}\n"
        f"detector: {{model: {MODEL}}}\n"
        f"spool: {{path: {directory / 'spool.db'}}}\n"
        "cameras:\n" + "".join(cameras)
    )
    return config


def _cameras(sub: Subscriber) -> dict[str, dict[str, Any]]:
    """Per-camera state in the newest retained status."""
    messages = sub.on(f"{HUB}/status")
    return messages[-1].json().get("cameras", {}) if messages else {}


def _all_online(message: Message, cameras: tuple[str, ...]) -> bool:
    states = message.json().get("cameras", {})
    return all(states.get(c, {}).get("state") == "online" for c in cameras)


def _state(sub: Subscriber, camera: str) -> str | None:
    return _cameras(sub).get(camera, {}).get("state")


def _stats_since(sub: Subscriber, wall: float) -> list[dict[str, Any]]:
    """Stats messages whose whole interval began after WALL (a time.time())."""
    stats = [m.json() for m in sub.on(f"{HUB}/stats")]
    return [s for s in stats if s["ts"] - s["interval"] >= wall]


def _next_stats(sub: Subscriber) -> dict[str, Any]:
    """The first stats message covering only time from now on."""
    now = time.time()
    assert sub.wait_for(lambda s: bool(_stats_since(s, now)), DEADLINE), "no stats message"
    return _stats_since(sub, now)[0]


def _stats_after_online(sub: Subscriber, cameras: tuple[str, ...]) -> list[dict[str, Any]]:
    """Stats messages whose whole interval began after the status first showed CAMERAS online."""
    since = next((m.received for m in sub.on(f"{HUB}/status") if _all_online(m, cameras)), None)
    later = [m.json() for m in sub.on(f"{HUB}/stats") if since is not None and m.received > since]
    return later[1:]  # the first one began before


def _processed(stats: list[dict[str, Any]], camera: str) -> float:
    """Frames CAMERA's pipeline processed over these stats intervals, per second."""
    frames = sum(s["cameras"][camera]["fps"] * s["interval"] for s in stats)
    return frames / sum(s["interval"] for s in stats)


def _outage_spares_the_file_camera(sub: Subscriber, agent: AgentProcess, begin: Callable[[], None]) -> float:
    """Starts an outage of camera `gate` with BEGIN; checks that the status shows it down
    while `yard` stays online and keeps delivering; returns yard's processed fps meanwhile."""
    reconnects = _cameras(sub)["gate"]["reconnects"]
    frames = _cameras(sub)["yard"]["frames"]
    begin()
    assert sub.wait_for(lambda s: _state(s, "gate") in DOWN, DEADLINE), agent.stderr()
    assert sub.wait_for(lambda s: _cameras(s)["gate"]["reconnects"] > reconnects, DEADLINE), "no reconnect attempt"
    assert _cameras(sub)["gate"]["last_error"]
    during = _next_stats(sub)  # an interval wholly inside the outage
    assert _state(sub, "gate") in DOWN, "gate came back within the measured interval"
    assert _state(sub, "yard") == "online" and _cameras(sub)["yard"]["frames"] > frames
    return _processed([during], "yard")


def _back_online(sub: Subscriber) -> float:
    """Waits until `gate` is online and processed again; returns yard's processed fps meanwhile."""
    assert sub.wait_for(lambda s: _state(s, "gate") == "online", DEADLINE)
    both = _next_stats(sub)
    assert _processed([both], "gate") > 0, "gate is online but its frames are not processed"
    return _processed([both], "yard")


def test_a_dying_or_hung_stream_slows_no_other_camera(
    tmp_path: Path,
    broker: Broker,
    subscribers: Callable[..., Subscriber],
    agents: Callable[..., AgentProcess],
    rtsp_server: RtspServer,
) -> None:
    sub = subscribers(broker.port, f"{PREFIX}/#")
    cameras = [_camera("yard", VTEST, loop="true"), _camera("gate", rtsp_server.url)]
    agent = agents(_config(tmp_path, broker.port, cameras))
    assert sub.wait_for(lambda s: _state(s, "yard") == _state(s, "gate") == "online", DEADLINE), agent.stderr()

    killed = _outage_spares_the_file_camera(sub, agent, rtsp_server.kill)
    late = subscribers(broker.port, f"{PREFIX}/{HUB}/status")  # a dashboard that connects now
    assert late.wait_for(lambda s: bool(s.on("/status")), DEADLINE)
    retained = late.on("/status")[0]
    assert retained.retain and retained.json()["cameras"]["gate"]["state"] in DOWN
    rtsp_server.start()  # same port: the camera rebooted
    normal = _back_online(sub)
    hung = _outage_spares_the_file_camera(sub, agent, rtsp_server.hang)
    rtsp_server.resume()
    assert sub.wait_for(lambda s: _state(s, "gate") == "online", DEADLINE), agent.stderr()

    # The outages cost the file camera nothing: it is processed as fast as while both were up.
    assert killed >= FAIR * normal and hung >= FAIR * normal, (killed, hung, normal)
    yard = [m.json()["cameras"]["yard"]["state"] for m in sub.on(f"{HUB}/status")]
    assert set(yard[yard.index("online") :]) == {"online"}, "once online, the file camera is never reported down"
    assert agent.process.poll() is None and "Traceback" not in agent.stderr()


@pytest.fixture(scope="module")
def crowded_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Subscriber, NotifySocket, AgentProcess]]:
    """One agent with three looping file cameras and two that never answer (nothing listens
    on one port; the other accepts TCP and stays silent), all with the same fps cap."""
    directory = tmp_path_factory.mktemp("crowded")
    broker = Broker(directory / "broker").start()
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel completes the handshakes; nobody replies
    sub = Subscriber(broker.port, [f"{PREFIX}/#"])
    notify = NotifySocket(directory / "notify.sock")
    cameras = [
        _camera("yard", VTEST, loop="true"),
        _camera("porch", QUIET, loop="true"),
        _camera("tree", TREE, loop="true"),
        _camera("refused", f"rtsp://127.0.0.1:{free_port()}/stream"),
        _camera("mute", f"rtsp://127.0.0.1:{silent.getsockname()[1]}/stream"),
    ]
    agent = AgentProcess(_config(directory, broker.port, cameras), {"NOTIFY_SOCKET": str(notify.path)})
    try:
        yield sub, notify, agent
    finally:
        agent.close()
        notify.close()
        sub.close()
        silent.close()
        broker.kill()


def test_cameras_that_never_answer_block_neither_startup_nor_the_others(
    crowded_hub: tuple[Subscriber, NotifySocket, AgentProcess],
) -> None:
    sub, notify, agent = crowded_hub
    assert sub.wait_for(lambda s: all(_state(s, c) == "online" for c in FILES), DEADLINE), agent.stderr()
    assert sub.wait_for(lambda s: _state(s, "refused") == "offline" and _state(s, "mute") in DOWN, DEADLINE)
    # While the agent still waits for the dead cameras' first frame, the others are already processed.
    early = _next_stats(sub)
    assert all(_processed([early], c) > 0 for c in FILES), early["cameras"]

    # READY=1 comes after the start timeout (30 s), with the cameras that failed named.
    assert wait_until(lambda: notify.heard("READY=1") is not None, 60), notify.messages
    ready = notify.heard("READY=1") or ""
    assert "STATUS=3/5 cameras online" in ready and "refused" in ready and "mute" in ready, ready
    for camera in ("refused", "mute"):
        state = _cameras(sub)[camera]
        assert state["frames"] == 0 and state["last_frame_age"] is None and "cannot open" in state["last_error"]
    assert agent.process.poll() is None and "Traceback" not in agent.stderr()


def test_equal_caps_are_served_equally(crowded_hub: tuple[Subscriber, NotifySocket, AgentProcess]) -> None:
    sub, _, agent = crowded_hub
    assert sub.wait_for(lambda s: all(_state(s, c) == "online" for c in FILES), DEADLINE), agent.stderr()
    assert sub.wait_for(lambda s: len(_stats_after_online(s, FILES)) >= 2, DEADLINE), "too few stats messages"
    stats = _stats_after_online(sub, FILES)
    fps = {c: _processed(stats, c) for c in FILES}
    assert min(fps.values()) >= FAIR * max(fps.values()), fps
    # The cap holds for every camera, whatever its own frame rate (10 fps, or 15 for the tree).
    assert max(fps.values()) <= CAP * 1.1, fps
    assert {c: _processed(stats, c) for c in ("refused", "mute")} == {"refused": 0.0, "mute": 0.0}
