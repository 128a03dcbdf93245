"""`camhub-agent model fetch` against a real local HTTP server serving the model."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agent.detect.model import DEFAULT_MODEL_SHA256, sha256_of
from tests.shared import MODEL, REPO


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(MODEL_BYTES)))
        self.end_headers()
        self.wfile.write(body)  # "/cut" sends fewer bytes than announced, then closes

    def log_message(self, *args: object) -> None:
        pass


MODEL_BYTES = MODEL.read_bytes()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    corrupted = bytearray(MODEL_BYTES)
    corrupted[1000] ^= 0xFF
    _Handler.files = {
        "/good.tflite": MODEL_BYTES,
        "/corrupt.tflite": bytes(corrupted),
        "/cut.tflite": MODEL_BYTES[: len(MODEL_BYTES) // 2],
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _fetch(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAMHUB_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "agent", "model", "fetch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )


def test_good_download_is_verified_and_installed(server: str, tmp_path: Path) -> None:
    done = _fetch("--url", f"{server}/good.tflite", state=tmp_path)
    assert done.returncode == 0, done.stderr
    installed = tmp_path / "models" / "detect.tflite"
    assert sha256_of(installed) == DEFAULT_MODEL_SHA256
    assert sorted(p.name for p in installed.parent.iterdir()) == ["detect.tflite"]


def test_corrupted_download_is_refused_and_keeps_the_old_model(server: str, tmp_path: Path) -> None:
    assert _fetch("--url", f"{server}/good.tflite", state=tmp_path).returncode == 0
    done = _fetch("--url", f"{server}/corrupt.tflite", state=tmp_path)
    assert done.returncode == 1
    assert "sha256 mismatch" in done.stderr and "Traceback" not in done.stderr
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir()) == ["detect.tflite"]
    assert sha256_of(models / "detect.tflite") == DEFAULT_MODEL_SHA256


def test_interrupted_download_leaves_no_half_file(server: str, tmp_path: Path) -> None:
    done = _fetch("--url", f"{server}/cut.tflite", state=tmp_path)
    assert done.returncode == 1
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    assert list((tmp_path / "models").iterdir()) == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    done = _fetch("--url", "http://127.0.0.1:9/none.tflite", state=tmp_path)
    assert done.returncode == 1
    assert "model fetch failed" in done.stderr and "Traceback" not in done.stderr


def test_install_from_local_file(tmp_path: Path) -> None:
    done = _fetch("--file", str(MODEL), state=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sha256_of(tmp_path / "models" / "detect.tflite") == DEFAULT_MODEL_SHA256
