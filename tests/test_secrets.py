"""One masking function for everything a person reads: passwords with awkward characters, in logs (text and
JSON, tracebacks included), config errors and check-config output."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agent import secrets
from agent.configfile import load_config
from agent.errors import ConfigError
from agent.logs import setup_logging
from tests.shared import MODEL, REPO

# Every character that breaks a naive `user:pass@` pattern, and non-ASCII.
PASSWORDS = ["p@ss", "a/b/c", "x:y:z", "50%off", "no#hash", "why?not", "two words", "mật khẩu", "p@/ :%#?ờ"]


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    secrets.forget_all()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    secrets.forget_all()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_registered_camera_url_is_masked_raw_and_encoded(password: str) -> None:
    url = f"rtsp://admin:{password}@192.168.1.21:554/stream1"
    secrets.register_url(url)
    for text in (url, f"rtsp://admin:{quote(password, safe='')}@192.168.1.21/s", f"cannot open {url}: timeout"):
        masked = secrets.mask(text)
        assert password not in masked and quote(password, safe="") not in masked, masked
        assert "192.168.1.21" in masked


@pytest.mark.parametrize("password", ["p@ss", "a/b/c", "x:y:z", "50%off", "no#hash", "why?not", "mật"])
def test_an_unregistered_url_is_masked_by_its_shape(password: str) -> None:
    for scheme in ("rtsp://", "rtsps://", "http://", "rtsp:/", "rtsp:"):
        masked = secrets.mask(f"failed: {scheme}admin:{password}@10.0.0.5/live ok")
        assert password not in masked, masked
        assert masked.endswith("@10.0.0.5/live ok")


def test_ordinary_text_is_left_alone() -> None:
    secrets.register("ab")  # too short to be told from ordinary words: only the URL pattern covers it
    text = "camera gate: rtsp://10.0.0.5:554/stream opened at 12:30, ab contact admin@example"
    assert secrets.mask(text) == text


def test_mask_data_masks_nested_strings() -> None:
    secrets.register("hunter22")
    data = {"cameras": [{"source": "rtsp://u:hunter22@h/s", "n": 3}], "hunter22": None}
    assert secrets.mask_data(data) == {"cameras": [{"source": "rtsp://***@h/s", "n": 3}], "***": None}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_and_tracebacks_are_masked(fmt: str) -> None:
    out = io.StringIO()
    setup_logging("info", fmt, stream=out)
    secrets.register("two words")
    log = logging.getLogger("test.secrets")
    log.warning("camera %s: cannot open %s", "gate", "rtsp://admin:two words@10.0.0.5/s")
    try:
        raise RuntimeError("connect to rtsp://admin:two words@10.0.0.5/s refused")
    except RuntimeError:
        log.exception("camera failed")
    text = out.getvalue()
    assert "two words" not in text and "words@" not in text
    assert text.count("***@10.0.0.5") >= 2
    if fmt == "json":
        assert "***@10.0.0.5" in json.loads(text.splitlines()[1])["exc"]


def test_a_config_error_never_echoes_a_password(tmp_path: Path) -> None:
    file = tmp_path / "hub.yaml"
    file.write_text(
        "hub_id: a\nmqtt: {password: 20242025, keepalive: soon}\n"
        "cameras:\n  - {id: a, source: 'rtsp://u:mật khẩu@h/s', fps: fast}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    text = str(caught.value)
    assert "20242025" not in text and "khẩu" not in text
    assert f"{file}:2: mqtt.keepalive" in text


def test_check_config_output_masks_camera_passwords(tmp_path: Path) -> None:
    file = tmp_path / "hub.yaml"
    file.write_text(
        f"hub_id: a\ndetector: {{model: {MODEL}}}\nspool: {{path: {tmp_path / 'spool.db'}}}\n"
        "cameras:\n  - {id: a, source: 'rtsp://admin:p@/ :%#?ờ@10.0.0.5/s'}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", str(file)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert "p@/ :%#?ờ" not in done.stdout + done.stderr
    assert "rtsp://***@10.0.0.5/s" in done.stdout
