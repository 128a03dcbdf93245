"""`check-config` is as strict as `run`: whatever `run` would fail on after reading the
config (a model, labels, TLS or password file it cannot use, a spool it cannot create, a
polygon it cannot use) is refused by both, before the main loop, in the same single line
`FILE:LINE: key.path: ...`, with exit status 78 (which systemd does not restart on)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.detect.catalog import DEFAULT_MODEL
from tests.broker import PKI, make_pki
from tests.shared import MODEL, REPO, VTEST

TIMEOUT = 60  # generous: a check that is missed lets `run` start for real instead of failing fast


def _config(tmp: Path, *, detector: str = "", mqtt: str = "", spool: str = "", camera: str = "") -> str:
    """A working config (line numbers fixed), with the given lines replaced."""
    return (
        "hub_id: hub-t\n"  # 1
        "mqtt:\n"  # 2
        "  host: 127.0.0.1\n"  # 3
        f"  {mqtt or 'port: 1883'}\n"  # 4
        "detector:\n"  # 5
        f"  {detector or f'model: {MODEL}'}\n"  # 6
        "spool:\n"  # 7
        f"  path: {spool or tmp / 'spool.db'}\n"  # 8
        "cameras:\n"  # 9
        "  - id: gate\n"  # 10
        f"    source: {VTEST}\n"  # 11
        f"    {camera or 'fps: 5'}\n"  # 12
    )


def _text(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _tls(ca: Path, cert: Path | None = None, key: Path | None = None) -> str:
    pair = f", cert_file: {cert}, key_file: {key}" if cert else ""
    return f"tls: {{enabled: true, ca_file: {ca}{pair}}}"


BAD_MODEL = b"\x1c\0\0\0TFL3" + bytes(200)  # the header, then nothing a runtime can load
BINARY_LABELS = b"person\n\0\x01car\n"  # valid UTF-8, but not text
NOT_UTF8 = b"person\n\xff\xfe car\n"
EMPTY = b"\n"

# name -> (config from (tmp, pki), expected line, expected text after "FILE:LINE: ")
Case = Callable[[Path, PKI], str]
CASES: dict[str, tuple[Case, int, str]] = {
    "model-is-a-directory": (
        lambda tmp, pki: _config(tmp, detector=f"model: {tmp}"),
        6,
        r"detector\.model: .* is a directory; expected a file",
    ),
    "default-model-missing": (
        lambda tmp, pki: _config(tmp, detector="threads: 2"),
        5,
        rf"detector\.model: model {DEFAULT_MODEL} is not installed \(.*/models/{DEFAULT_MODEL}\.tflite not found\): "
        rf"run `camhub-agent model fetch {DEFAULT_MODEL}`, or set detector\.model",
    ),
    "model-not-loadable": (
        lambda tmp, pki: _config(tmp, detector=f"model: {_text(tmp, 'm.tflite', BAD_MODEL)}"),
        6,
        r"detector\.model: .*m\.tflite: the \w+ runtime cannot load it: .*",
    ),
    "labels-is-a-directory": (
        lambda tmp, pki: _config(tmp, detector=f"labels: {tmp}\n  model: {MODEL}"),
        6,
        r"detector\.labels: .* is a directory; expected a file",
    ),
    "labels-not-utf8": (
        lambda tmp, pki: _config(tmp, detector=f"labels: {_text(tmp, 'l.bin', NOT_UTF8)}\n  model: {MODEL}"),
        6,
        r"detector\.labels: .*l\.bin line 2 is not UTF-8 text .*; expected a text file with one label per line",
    ),
    "labels-binary-but-utf8": (
        lambda tmp, pki: _config(tmp, detector=f"labels: {_text(tmp, 'l.txt', BINARY_LABELS)}\n  model: {MODEL}"),
        6,
        r"detector\.labels: .*l\.txt line 2 holds control characters .*",
    ),
    "password-file-is-a-directory": (
        lambda tmp, pki: _config(tmp, mqtt=f"password_file: {tmp}"),
        4,
        r"mqtt\.password_file: .* is a directory; expected a file",
    ),
    "password-file-empty": (
        lambda tmp, pki: _config(tmp, mqtt=f"password_file: {_text(tmp, 'pw', EMPTY)}"),
        4,
        r"mqtt\.password_file: .*pw is empty; expected a text file with the password",
    ),
    "ca-not-pem": (
        lambda tmp, pki: _config(tmp, mqtt=_tls(_text(tmp, "ca.pem", b"not a certificate\n"))),
        4,
        r"mqtt\.tls\.ca_file: .*ca\.pem cannot be loaded; expected a PEM CA certificate",
    ),
    "cert-not-pem": (
        lambda tmp, pki: _config(tmp, mqtt=_tls(pki.ca_cert, _text(tmp, "c.pem", b"x\n"), pki.client_key)),
        4,
        r"mqtt\.tls\.cert_file: .*c\.pem cannot be loaded; expected a PEM certificate",
    ),
    "key-not-pem": (
        lambda tmp, pki: _config(tmp, mqtt=_tls(pki.ca_cert, pki.client_cert, _text(tmp, "k.pem", b"x\n"))),
        4,
        r"mqtt\.tls\.key_file: .*k\.pem cannot be loaded; expected a PEM private key of cert_file",
    ),
    "key-of-another-certificate": (
        lambda tmp, pki: _config(tmp, mqtt=_tls(pki.ca_cert, pki.client_cert, pki.server_key)),
        4,
        r"mqtt\.tls\.key_file: .* cannot be loaded; expected a PEM private key of cert_file",
    ),
    "spool-is-a-directory": (
        lambda tmp, pki: _config(tmp, spool=str(tmp)),
        8,
        r"spool\.path: .* is a directory; expected the path of the spool's file, e.g. .*/spool\.db",
    ),
    "spool-under-a-file": (
        lambda tmp, pki: _config(tmp, spool=f"{VTEST}/spool/spool.db"),
        8,
        r"spool\.path: .*vtest\.avi/spool/spool\.db cannot be created: .*vtest\.avi is not a directory; .*",
    ),
    "spool-where-no-file-can-be-made": (
        lambda tmp, pki: _config(tmp, spool="/proc/camhub/spool.db"),
        8,
        r"spool\.path: /proc/camhub/spool\.db cannot be created: no file can be made in /proc \(.*\); .*",
    ),
    "zone-crosses-itself": (
        lambda tmp, pki: _config(tmp, camera="zones: {road: [[0, 0], [1, 1], [1, 0], [0, 1]]}"),
        12,
        r"cameras\[0\]\.zones\.road: the side from point 1 to 2 crosses the side from point 3 to 4 .*; "
        r"expected the points in order around the area",
    ),
    "mask-crosses-itself": (
        lambda tmp, pki: _config(tmp, camera="masks:\n      - [[0, 0], [0.5, 0], [0.5, 0.5], [0.2, 0.5], [0.2, -0]]"),
        13,
        r"cameras\[0\]\.masks\[0\]: the side from point 4 to 5 crosses the side from point 1 to 2 .*|"
        r"cameras\[0\]\.masks\[0\]: the side from point 1 to 2 crosses the side from point 4 to 5 .*",
    ),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _agent(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAMHUB_STATE_DIR": str(tmp), "PYTHONPATH": str(REPO)}
    for name in ("NOTIFY_SOCKET", "CAMHUB_MODEL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=TIMEOUT
    )


@pytest.mark.parametrize("command", ["check-config", "run"])
@pytest.mark.parametrize("name", list(CASES))
def test_what_run_refuses_check_config_refuses_first_in_the_same_form(
    tmp_path: Path, pki: PKI, name: str, command: str
) -> None:
    make, line, message = CASES[name]
    file = tmp_path / "hub.yaml"
    file.write_text(make(tmp_path, pki))
    done = _agent(command, str(file) if command == "check-config" else f"--config={file}", tmp=tmp_path)
    assert done.returncode == 78, done.stderr
    assert "Traceback" not in done.stderr
    problems = [text for text in done.stderr.splitlines() if text.startswith(f"{file}:")]
    assert len(problems) == 1, done.stderr
    prefix = f"{file}:{line}: "
    assert problems[0].startswith(prefix), problems[0]
    assert re.fullmatch(message, problems[0][len(prefix) :]), problems[0]


def test_the_working_config_passes(tmp_path: Path, pki: PKI) -> None:
    file = tmp_path / "hub.yaml"
    file.write_text(_config(tmp_path, mqtt=_tls(pki.ca_cert, pki.client_cert, pki.client_key)))
    done = _agent("check-config", str(file), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "spool.db").exists(), "check-config creates nothing"
