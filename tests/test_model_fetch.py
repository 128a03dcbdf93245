"""`camhub-agent model fetch NAME` and `model list` against a real local HTTP
server serving the catalog's files from the development data."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agent.detect.catalog import CATALOG, DEFAULT_MODEL
from agent.detect.model import sha256_of
from tests.shared import MODELS, REPO

V1 = "ssd_mobilenet_v1_coco_quant"


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        # "/cut" announces the whole model, sends half of it, then closes.
        self.send_header("Content-Length", str(len(self.files.get(self.path.replace("cut", "good"), body))))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    v1 = MODELS[V1].read_bytes()
    corrupted = bytearray(v1)
    corrupted[1000] ^= 0xFF
    _Handler.files = {f"/{name}.tflite": path.read_bytes() for name, path in MODELS.items()}
    _Handler.files |= {"/good.tflite": v1, "/corrupt.tflite": bytes(corrupted), "/cut.tflite": v1[: len(v1) // 2]}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _agent(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAMHUB_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "agent", "model", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )


def _installed(state: Path) -> list[str]:
    return sorted(p.name for p in (state / "models").iterdir())


@pytest.mark.parametrize("name", MODELS)
def test_each_catalog_model_is_downloaded_verified_and_installed(name: str, server: str, tmp_path: Path) -> None:
    done = _agent("fetch", name, "--url", f"{server}/{name}.tflite", state=tmp_path)
    assert done.returncode == 0, done.stderr
    installed = tmp_path / "models" / f"{name}.tflite"
    assert json.loads(done.stdout) == {"model": name, "installed": str(installed), "sha256": CATALOG[name].sha256}
    assert sha256_of(installed) == CATALOG[name].sha256
    assert _installed(tmp_path) == [f"{name}.tflite"]


def test_a_verified_model_is_not_downloaded_again(server: str, tmp_path: Path) -> None:
    assert _agent("fetch", V1, "--url", f"{server}/good.tflite", state=tmp_path).returncode == 0
    before = len(_Handler.requests)
    done = _agent("fetch", V1, "--url", f"{server}/good.tflite", state=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(_Handler.requests) == before
    assert _installed(tmp_path) == [f"{V1}.tflite"]


def test_corrupted_download_is_refused_and_keeps_the_old_model(server: str, tmp_path: Path) -> None:
    assert _agent("fetch", V1, "--file", str(MODELS[V1]), state=tmp_path).returncode == 0
    (tmp_path / "models" / f"{V1}.tflite").write_bytes(b"an older, different model")
    done = _agent("fetch", V1, "--url", f"{server}/corrupt.tflite", state=tmp_path)
    assert done.returncode == 1
    assert "sha256 mismatch" in done.stderr and "Traceback" not in done.stderr
    assert _installed(tmp_path) == [f"{V1}.tflite"]
    assert (tmp_path / "models" / f"{V1}.tflite").read_bytes() == b"an older, different model"


def test_another_models_file_is_refused(tmp_path: Path) -> None:
    done = _agent("fetch", "yolox_nano", "--file", str(MODELS[V1]), state=tmp_path)
    assert done.returncode == 1
    assert f"expected {CATALOG['yolox_nano'].sha256}; the file was not installed" in done.stderr
    assert _installed(tmp_path) == []


def test_interrupted_download_leaves_no_half_file(server: str, tmp_path: Path) -> None:
    done = _agent("fetch", V1, "--url", f"{server}/cut.tflite", state=tmp_path)
    assert done.returncode == 1
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    assert _installed(tmp_path) == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    done = _agent("fetch", V1, "--url", "http://127.0.0.1:9/none.tflite", state=tmp_path)
    assert done.returncode == 1
    assert "model fetch failed" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    done = _agent("fetch", "yolo", state=tmp_path)
    assert done.returncode == 2
    assert "invalid choice: 'yolo'" in done.stderr and "'yolox_nano'" in done.stderr


def test_install_from_local_file(tmp_path: Path) -> None:
    done = _agent("fetch", "--file", str(MODELS[DEFAULT_MODEL]), state=tmp_path)  # no name: the default model
    assert done.returncode == 0, done.stderr
    assert sha256_of(tmp_path / "models" / f"{DEFAULT_MODEL}.tflite") == CATALOG[DEFAULT_MODEL].sha256


def test_list_shows_the_catalog_the_default_and_what_is_installed(tmp_path: Path) -> None:
    assert _agent("fetch", "yolox_nano", "--file", str(MODELS["yolox_nano"]), state=tmp_path).returncode == 0
    done = _agent("list", state=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {line[2:].split()[0]: line for line in done.stdout.splitlines()[1:-1]}
    assert sorted(rows) == sorted(CATALOG)
    assert rows["yolox_nano"].endswith(str(tmp_path / "models" / "yolox_nano.tflite"))
    assert "416x416 float32 NCHW BGR letterbox" in rows["yolox_nano"]
    assert all(rows[name].endswith(" no") for name in CATALOG if name != "yolox_nano")
    assert rows[DEFAULT_MODEL].startswith("* ") and sum(row.startswith("* ") for row in rows.values()) == 1
