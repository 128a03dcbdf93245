"""The capture worker against a real RTSP server on loopback: the server killed, hung
(SIGSTOP) and back; cameras that never answer. States are polled with deadlines; no
test asserts how long anything took."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from agent.capture.worker import CameraWorker
from agent.config import CameraConfig
from tests.broker import free_port, wait_until
from tests.rtsp import RtspServer
from tests.shared import VTEST

TIMEOUTS = {"open_timeout": 2.0, "read_timeout": 2.0, "stall_timeout": 3.0}
DOWN = ("reconnecting", "offline")
DEADLINE = 20.0  # seconds to wait for a state: a limit for a broken build, not a measured time


def worker_for(source: str, camera_id: str = "gate", **settings: object) -> CameraWorker:
    camera = CameraConfig(id=camera_id, source=source, **{**TIMEOUTS, **settings})
    worker = CameraWorker(camera, backoff_base=0.2, backoff_cap=1.0)
    worker.start()
    return worker


def state_of(worker: CameraWorker) -> str:
    return worker.state()["state"]


@pytest.fixture
def workers() -> Iterator[list[CameraWorker]]:
    """Workers to stop after the test, however it ends."""
    started: list[CameraWorker] = []
    yield started
    for worker in started:
        worker.stop(timeout=10)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word, like a camera whose firmware hung."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def new_frame_after(worker: CameraWorker, seq: int, timeout: float = 20.0) -> bool:
    return worker.wait_frame(seq, timeout=timeout) is not None


def test_frames_arrive(rtsp_server: RtspServer, workers: list[CameraWorker]) -> None:
    workers.append(worker := worker_for(rtsp_server.url))
    frame = worker.wait_frame(-1, timeout=20)
    assert frame is not None
    assert frame.camera == "gate" and frame.image.shape == (576, 768, 3)
    assert wait_until(lambda: state_of(worker) == "online", DEADLINE)
    assert new_frame_after(worker, frame.seq)
    state = worker.state()
    assert state["reconnects"] == 0 and state["last_error"] is None and state["fps"] > 0


def test_server_killed_then_back(rtsp_server: RtspServer, workers: list[CameraWorker]) -> None:
    workers.append(worker := worker_for(rtsp_server.url))
    before = worker.wait_frame(20, timeout=20)  # two seconds into the stream
    assert before is not None

    rtsp_server.kill()
    assert wait_until(lambda: state_of(worker) in DOWN, DEADLINE)
    assert wait_until(lambda: worker.state()["reconnects"] >= 2, DEADLINE)  # keeps trying
    down = worker.state()
    assert down["last_error"] and down["fps"] == 0.0

    rtsp_server.start()  # same port: the camera rebooted
    assert wait_until(lambda: state_of(worker) == "online", DEADLINE)
    after = worker.latest()  # among the first frames of the new connection
    assert after is not None and after.seq > before.seq  # sequence numbers survive the reconnect


def test_server_hung_then_resumed(rtsp_server: RtspServer, workers: list[CameraWorker]) -> None:
    workers.append(hung := worker_for(rtsp_server.url))
    workers.append(other := worker_for(str(VTEST), camera_id="yard", loop=True))
    assert hung.wait_frame(-1, timeout=20) is not None
    assert other.wait_frame(-1, timeout=20) is not None

    rtsp_server.hang()
    try:
        assert wait_until(lambda: state_of(hung) in DOWN, DEADLINE)
        # The hung camera blocks nothing but its own thread: the other keeps delivering.
        seq = other.latest().seq
        assert new_frame_after(other, seq)
        assert state_of(other) == "online"
        error = hung.state()["last_error"]
        assert "no frame" in error or "cannot open" in error  # the read timed out, or then the reopen
    finally:
        rtsp_server.resume()
    last = hung.latest()
    assert wait_until(lambda: state_of(hung) == "online", DEADLINE)
    assert new_frame_after(hung, last.seq)


def test_hung_server_restarted(rtsp_server: RtspServer, workers: list[CameraWorker]) -> None:
    workers.append(worker := worker_for(rtsp_server.url))
    assert worker.wait_frame(-1, timeout=20) is not None
    rtsp_server.hang()
    assert wait_until(lambda: state_of(worker) in DOWN, DEADLINE)
    rtsp_server.restart()  # SIGKILL works on a stopped process; the port is free again
    assert wait_until(lambda: state_of(worker) == "online", DEADLINE)


def test_cameras_that_never_answer(rtsp_server: RtspServer, silent_port: int, workers: list[CameraWorker]) -> None:
    closed = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/stream"  # nothing listens there
    silent = f"rtsp://127.0.0.1:{silent_port}/stream"
    workers.append(refused := worker_for(closed, camera_id="refused"))
    workers.append(mute := worker_for(silent, camera_id="mute"))
    workers.append(good := worker_for(rtsp_server.url, camera_id="good"))

    assert wait_until(lambda: state_of(refused) == "offline" and state_of(mute) in DOWN, DEADLINE)
    assert wait_until(lambda: mute.state()["reconnects"] >= 1, DEADLINE)
    first = good.wait_frame(-1, timeout=20)
    assert first is not None and new_frame_after(good, first.seq)
    assert state_of(good) == "online"
    for worker in (refused, mute):
        state = worker.state()
        assert state["last_frame_age"] is None and worker.latest() is None
        assert "cannot open" in state["last_error"]
    assert "hunter2" not in str(refused.state()) and "***@" in refused.state()["last_error"]
    # Stopping never hangs on a camera stuck in open(): at worst one open timeout.
    assert mute.stop(timeout=10) and refused.stop(timeout=10)
