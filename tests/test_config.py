"""The bad-config corpus: every mistake gets one line naming file, line, key and
what is expected, exit status 78, and never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.config import HubConfig
from agent.configfile import load_config
from agent.errors import ConfigError
from tests.shared import MODEL, REPO, VTEST

GOOD = f"""\
hub_id: hub-1
mqtt:
  host: 127.0.0.1
detector:
  model: {MODEL}
spool:
  path: /tmp/camhub-test-spool/spool.db
cameras:
  - id: gate
    source: {VTEST}
"""

# (name, yaml, expected line, expected message after "FILE:LINE: ")
CORPUS = [
    ("syntax", "hub_id: a\ncameras: [\n  - id: x\n", 3, r"YAML syntax error: .*"),
    (
        "tab-indent",
        "hub_id: a\ncameras:\n\t- id: x\n",
        3,
        r"YAML syntax error: found character .*'\\t'.*; indent with spaces, not tabs",
    ),
    ("not-a-mapping", "- just\n- a list\n", 1, r"expected a mapping of keys .*"),
    ("empty-file", "", 1, r"expected a mapping of keys .*"),
    ("missing-hub", "cameras:\n  - {id: a, source: rtsp://h/s}\n", 1, r"hub_id: required key is missing"),
    ("missing-cameras", "hub_id: a\n", 1, r"cameras: required key is missing"),
    ("no-cameras", "hub_id: a\ncameras: []\n", 2, r"cameras: list should have at least 1 item .*"),
    (
        "bad-hub-id",
        "hub_id: Hub One\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        1,
        r"hub_id: got 'Hub One'; expected 1 to 32 lowercase letters, digits, '-' or '_'",
    ),
    (
        "unknown-key",
        "hub_id: a\nmqtt:\n  hots: x\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.hots: unknown key; expected one of: host, port, .*",
    ),
    (
        "unknown-top-key",
        "hub_id: a\ncamera:\n  - {id: a, source: rtsp://h/s}\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        2,
        r"camera: unknown key; expected one of: hub_id, mqtt, .*cameras.*",
    ),
    (
        "wrong-type",
        "hub_id: a\ncameras:\n  - id: a\n    source: rtsp://h/s\n    fps: fast\n",
        5,
        r"cameras\[0\]\.fps: input should be a valid number.*\(got 'fast'\)",
    ),
    (
        "out-of-range",
        "hub_id: a\nmqtt:\n  port: 99999\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.port: input should be less than or equal to 65535 \(got 99999\)",
    ),
    (
        "bad-choice",
        "hub_id: a\ndetector:\n  runtime: gpu\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"detector\.runtime: got 'gpu'; expected 'auto', 'litert' or 'tflite'",
    ),
    (
        "unknown-label",
        "hub_id: a\ndetector:\n  objects:\n    dog: {min_score: 0.5}\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        4,
        r"detector\.objects\.dog: got 'dog'; expected 'person', 'bicycle', 'car', 'motorcycle', 'bus' or 'truck'",
    ),
    (
        "area-order",
        "hub_id: a\ndetector:\n  objects:\n    car: {min_area: 0.5, max_area: 0.1}\n"
        "cameras:\n  - {id: a, source: rtsp://h/s}\n",
        4,
        r"detector\.objects\.car: min_area \(0\.5\) must not exceed .*",
    ),
    (
        "duplicate-camera",
        "hub_id: a\ncameras:\n  - {id: a, source: rtsp://h/s}\n  - {id: a, source: rtsp://h/t}\n",
        4,
        r"cameras\[1\]\.id: duplicate camera id 'a' \(cameras\[0\] has it\); each camera needs its own id",
    ),
    (
        "duplicate-key",
        "hub_id: a\nhub_id: b\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        2,
        r"hub_id: duplicate key \(first given on line 1\)",
    ),
    (
        "bad-polygon",
        "hub_id: a\ncameras:\n  - id: a\n    source: rtsp://h/s\n    zones:\n      road: [[0, 0], [1, 1]]\n",
        6,
        r"cameras\[0\]\.zones\.road: a polygon needs at least 3 points \[x, y\], got 2",
    ),
    (
        "flat-polygon",
        "hub_id: a\ncameras:\n  - id: a\n    source: rtsp://h/s\n    masks:\n      - [[0, 0], [0.5, 0.5], [1, 1]]\n",
        6,
        r"cameras\[0\]\.masks\[0\]: the polygon's points are in a line.*",
    ),
    (
        "point-out-of-frame",
        "hub_id: a\ncameras:\n  - id: a\n    source: rtsp://h/s\n    masks:\n      - [[0, 0], [1.5, 0], [1, 1]]\n",
        6,
        r"cameras\[0\]\.masks\[0\]\[1\]\[0\]: input should be less than or equal to 1.*",
    ),
    (
        "bad-url",
        "hub_id: a\ncameras:\n  - {id: a, source: 'ftp://h/s'}\n",
        3,
        r"cameras\[0\]\.source: unsupported URL scheme 'ftp'; expected rtsp://host/path .*, rtsps://, http:// or https://",
    ),
    (
        "missing-video-file",
        "hub_id: a\ncameras:\n  - {id: a, source: /nonexistent/clip.mp4}\n",
        3,
        r"cameras\[0\]\.source: file /nonexistent/clip\.mp4 does not exist; expected a readable file",
    ),
    (
        "unreadable-model",
        "hub_id: a\ndetector:\n  model: /nonexistent/detect.tflite\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"detector\.model: file /nonexistent/detect\.tflite does not exist; expected a readable file",
    ),
    (
        "model-not-tflite",
        f"hub_id: a\ndetector:\n  model: {VTEST}\ncameras:\n  - {{id: a, source: rtsp://h/s}}\n",
        3,
        r"detector\.model: file .*vtest\.avi is not a TFLite model \(no TFL3 header\)",
    ),
    (
        "unset-env",
        "hub_id: a\nmqtt:\n  password: ${CAMHUB_TEST_UNSET_SECRET}\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.password: environment variable CAMHUB_TEST_UNSET_SECRET is not set; set it or write "
        r"\$\{CAMHUB_TEST_UNSET_SECRET:-default\}",
    ),
    (
        "two-passwords",
        "hub_id: a\nmqtt:\n  password: x\n  password_file: /etc/hostname\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        2,
        r"mqtt: give password or password_file, not both",
    ),
    (
        "cert-without-key",
        "hub_id: a\nmqtt:\n  tls:\n    cert_file: /etc/hostname\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.tls: cert_file and key_file go together: give both or neither",
    ),
    (
        "mistyped-scheme-one-slash",
        "hub_id: a\ncameras:\n  - {id: a, source: 'rtsp:/admin:pw@h/s'}\n",
        3,
        r"cameras\[0\]\.source: looks like a URL with a mistyped scheme; expected rtsp://host/path .*",
    ),
    (
        "mistyped-scheme-no-colon",
        "hub_id: a\ncameras:\n  - {id: a, source: 'rtsp//admin:pw@h/s'}\n",
        3,
        r"cameras\[0\]\.source: looks like a URL with a mistyped scheme; expected rtsp://host/path .*",
    ),
    (
        "mistyped-scheme-letters",
        "hub_id: a\ncameras:\n  - {id: a, source: 'rstp://admin:pw@h/s'}\n",
        3,
        r"cameras\[0\]\.source: unsupported URL scheme 'rstp'; expected rtsp://host/path .*",
    ),
    (
        "url-without-host",
        "hub_id: a\ncameras:\n  - {id: a, source: 'rtsp:///s'}\n",
        3,
        r"cameras\[0\]\.source: URL without a host; expected rtsp://host/path .*",
    ),
    (
        "numeric-password",
        "hub_id: a\nmqtt:\n  password: 12\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.password: input should be a valid string; write it in quotes",
    ),
    (
        "too-many-cameras",
        "hub_id: a\ncameras:\n" + "".join(f"  - {{id: c{i}, source: rtsp://h/{i}}}\n" for i in range(17)),
        2,
        r"cameras: list should have at most 16 items after validation, not 17",
    ),
    (
        "too-many-points",
        "hub_id: a\ncameras:\n  - id: a\n    source: rtsp://h/s\n    masks:\n      - "
        + str([[i / 100, (i % 2) / 2] for i in range(33)])
        + "\n",
        6,
        r"cameras\[0\]\.masks\[0\]: list should have at most 32 items after validation, not 33",
    ),
    (
        "too-many-failover",
        "hub_id: a\nmqtt:\n  failover:\n" + "    - {host: b}\n" * 9 + "cameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.failover: list should have at most 8 items after validation, not 9",
    ),
    (
        "space-in-variable",
        "hub_id: a\nmqtt:\n  host: ${MQTT HOST}\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.host: bad variable reference \$\{MQTT HOST\}; expected \$\{NAME\} or \$\{NAME:-default\}, .*",
    ),
    (
        "unclosed-variable",
        "hub_id: a\nmqtt:\n  host: ${MQTT_HOST\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.host: bad variable reference \$\{MQTT_HOST; expected .*",
    ),
    (
        "bad-variable-in-a-password",
        "hub_id: a\nmqtt:\n  password: 'x${PW D}y'\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.password: bad variable reference; expected .*",
    ),
    (
        "bad-prefix",
        "hub_id: a\nmqtt:\n  topic_prefix: village/#\ncameras:\n  - {id: a, source: rtsp://h/s}\n",
        3,
        r"mqtt\.topic_prefix: got 'village/#'; expected .*",
    ),
]


@pytest.mark.parametrize(("name", "text", "line", "message"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_config_gets_one_clear_line(tmp_path: Path, name: str, text: str, line: int, message: str) -> None:
    file = tmp_path / f"{name}.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    lines = caught.value.lines()
    assert len(lines) == 1, lines
    prefix = f"{file}:{line}: "
    assert lines[0].startswith(prefix), lines[0]
    assert re.fullmatch(message, lines[0][len(prefix) :]), lines[0]


def test_several_mistakes_are_all_reported_in_line_order(tmp_path: Path) -> None:
    file = tmp_path / "many.yaml"
    file.write_text("hub_id: A\nmqtt:\n  port: 0\ncameras:\n  - {id: a, source: rtsp://h/s, fps: -1}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    assert [line.split(":")[1] for line in caught.value.lines()] == ["1", "3", "5"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.lines() == [f"{tmp_path / 'nope.yaml'}:0: cannot read the file: No such file or directory"]


def test_env_substitution_and_defaults(tmp_path: Path) -> None:
    file = tmp_path / "env.yaml"
    file.write_text(GOOD + "  - id: yard\n    source: rtsp://${CAM_USER:-admin}:${CAM_PW}@10.0.0.5/s\n")
    config = load_config(file, environ={"CAM_PW": "s3cret"})
    assert config.camera("yard").source == "rtsp://admin:s3cret@10.0.0.5/s"


def test_cli_exit_78_without_traceback(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("hub_id: a\ncameras:\n  - {id: a, source: rtsp://h/s, fps: fast}\n")
    done = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", str(file)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 78
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        == f"{file}:3: cameras[0].fps: input should be a valid number, unable to parse string as a number (got 'fast')"
    )


def test_check_config_masks_secrets(tmp_path: Path) -> None:
    file = tmp_path / "secret.yaml"
    file.write_text(GOOD.replace("  host: 127.0.0.1\n", "  host: 127.0.0.1\n  username: cam\n  password: ${PW}\n"))
    done = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", str(file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PW": "hunter2-very-secret", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "hunter2-very-secret" not in done.stdout + done.stderr
    assert "password: '**********'" in done.stdout


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = REPO / "config" / "example.yaml"
    load_config(example, environ={})
    text = example.read_text()
    missing = [key for key in _schema_keys(HubConfig) if not re.search(rf"\b{key}:", text)]
    assert missing == [], f"config/example.yaml does not show these keys: {missing}"


def _schema_keys(model: type[BaseModel]) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        for inner in _models_in(field.annotation):
            keys |= _schema_keys(inner)
    return keys


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def test_recheck_must_fit_twice_in_end_after(tmp_path: Path) -> None:
    file = tmp_path / "recheck.yaml"
    file.write_text(GOOD + "    motion: {recheck: 4}\ntracker:\n  end_after: 5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    assert caught.value.lines() == [
        f"{file}:11: cameras[0].motion.recheck: 4.0 must be at most half of the shortest tracker end_after (5.0): "
        "objects standing still would end between two re-checks"
    ]


def test_readme_config_reference_is_current() -> None:
    done = subprocess.run([sys.executable, "scripts/config_reference.py"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in (REPO / "README.md").read_text(), (
        "README.md's configuration reference is stale: run scripts/config_reference.py --write README.md"
    )


@pytest.mark.parametrize("form", ["rtsp:/", "rtsp//", "rstp://", "rtsp:", ""])
def test_a_mistyped_camera_url_never_shows_its_password(tmp_path: Path, form: str) -> None:
    password = "p@/ :%#?ờ mật"
    file = tmp_path / "hub.yaml"
    file.write_text(f"hub_id: a\ncameras:\n  - id: a\n    source: '{form}admin:{password}@10.0.0.5/s'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    text = str(caught.value)
    assert re.match(rf"{re.escape(str(file))}:4: cameras\[0\]\.source: .*URL", text), text
    assert "p@/" not in text and "ờ" not in text and "mật" not in text and "%#?" not in text, text
