"""Helpers for tests against a real RTSP server (tests/rtsp_server.py): `from tests.rtsp import ...`.

Typical fixtures: `make_h264(VTEST, tmp_path_factory.mktemp("rtsp") / "clip.mp4")` once per
session, then `RtspServer(clip, tmp_path)` with start() / kill() / hang() / resume() / restart()."""

from __future__ import annotations

import select
import signal
import subprocess
from pathlib import Path

from tests.broker import free_port

SERVER_SCRIPT = Path(__file__).resolve().parent / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: the GStreamer RTSP bindings are not in the venv
FFMPEG = "/usr/bin/ffmpeg"


def make_h264(source: Path, target: Path, seconds: float = 20.0) -> Path:
    """An H.264 mp4 of the first SECONDS of SOURCE, with a keyframe every 10 frames so a client
    that joins or rejoins decodes within a second."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-t", str(seconds), "-i", str(source), "-an",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-pix_fmt", "yuv420p", str(target)],
        check=True, timeout=120,
    )  # fmt: skip
    return target


class RtspServer:
    """tests/rtsp_server.py in a child process, on a fixed loopback port across restarts."""

    def __init__(self, clip: Path, log_dir: Path, port: int | None = None) -> None:
        self.clip = clip
        self.port = port or free_port()
        self.log_path = log_dir / f"rtsp-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"

    def start(self, timeout: float = 15.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.clip), str(self.port)],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.kill()
            raise RuntimeError(f"RTSP server did not start: {self.log_path.read_text(errors='replace')[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the server vanishes without a goodbye, as a camera losing power does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def hang(self) -> None:
        """SIGSTOP: sockets stay open and nothing answers, as a hung camera firmware does."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.kill()
        self.start()
