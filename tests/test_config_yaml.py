"""YAML from anyone: merge keys work and keep their lines; tricks that would crash or
hang a loader (tags, deep nesting, alias bombs and loops, huge or non-UTF-8 files) end
in one `FILE:LINE: ...` line and exit 78, quickly and in bounded memory."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from agent.configfile import load_config
from agent.errors import ConfigError
from tests.shared import REPO

CAMERA = "{id: a, source: rtsp://h/s}"
MEMORY_LIMIT = 1 << 30  # address space of the child: a few times what check-config needs
TIMEOUT = 20  # seconds; a bounded loader answers in about one


def _bomb(levels: int) -> str:
    """Each level a list of ten aliases of the one before: 10**levels values, in a few hundred bytes."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# name -> (file contents, expected line, expected text after "FILE:LINE: ")
HOSTILE: dict[str, tuple[bytes, int, str]] = {
    "python-tag": (
        f"hub_id: !!python/object/apply:os.system [echo hi]\ncameras: [{CAMERA}]\n".encode(),
        1,
        r"tag !!python/object/apply:os\.system is not allowed here; expected no tag or one of !!seq",
    ),
    "unknown-tag": (
        f"hub_id: a\ncameras: [{CAMERA}]\nlog: {{level: !secret info}}\n".encode(),
        3,
        r"tag !secret is not allowed here; expected no tag or one of !!bool, !!float, !!int, !!null, !!str",
    ),
    "bad-int": (
        f"hub_id: a\nmqtt:\n  port: !!int abc\ncameras: [{CAMERA}]\n".encode(),
        3,
        r"mqtt\.port: not a valid !!int",
    ),
    "bad-date": (f"hub_id: 2024-13-45\ncameras: [{CAMERA}]\n".encode(), 1, r"hub_id: not a valid !!timestamp"),
    "deep-nesting": (
        b"hub_id: a\ncameras: " + b"[" * 100 + b"]" * 100 + b"\n",
        2,
        r"nested deeper than 50 levels; expected a config a few levels deep",
    ),
    "very-deep-nesting": (b"hub_id: a\ncameras: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", 2, r".*nesting.*"),
    "alias-bomb": (
        (_bomb(9) + f"hub_id: a\ncameras: [{CAMERA}]\n").encode(),
        5,  # l4 (10**5 values), the first level beyond the limit
        r"more than 60000 values \(aliases counted as what they repeat\); expected a config of a few thousand",
    ),
    "alias-loop": (
        f"hub_id: a\ncameras: &c [{CAMERA}, *c]\n".encode(),
        2,
        r"alias \*c is used inside its own anchor",
    ),
    "many-values": (
        b"hub_id: a\ncameras: [" + b"1, " * 100_000 + b"]\n",
        2,
        r"more than 60000 values .*",
    ),
    "ten-megabytes": (
        b"hub_id: a\n" + b"# padding\n" * 1_000_000,
        0,
        r"10000010 bytes; expected a config of at most 1024 KB",
    ),
    "not-utf8": (
        "hub_id: a\ncameras:\n  - id: a\n    source: caf\xe9.mp4\n".encode("latin-1"),
        4,
        r"byte 0xe9 at column 16 is not UTF-8; expected a file saved as UTF-8",
    ),
    "control-character": (
        f"hub_id: a\ncameras: [{CAMERA}]\nlog: {{level: \x07}}\n".encode(),
        3,
        r"YAML syntax error: .*control characters are not allowed",
    ),
    "two-documents": (f"hub_id: a\ncameras: [{CAMERA}]\n---\nhub_id: b\n".encode(), 3, r"YAML syntax error: .*"),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_ends_in_one_line_exit_78_quickly_in_bounded_memory(tmp_path: Path, name: str) -> None:
    data, line, message = HOSTILE[name]
    file = tmp_path / f"{name}.yaml"
    file.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", str(file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 78, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines[:5]
    prefix = f"{file}:{line}: "
    assert lines[0].startswith(prefix), lines[0]
    assert re.fullmatch(message, lines[0][len(prefix) :]), lines[0]


MERGED = """\
hub_id: a
x-camera: &camera
  fps: 2
  motion: &motion
    threshold: 30
    regions: 2
cameras:
  - <<: *camera
    id: gate
    source: rtsp://h/gate
  - <<: *camera
    id: yard
    source: rtsp://h/yard
    fps: 4
  - id: road
    source: rtsp://h/road
    motion:
      <<: [*motion, {threshold: 10, width: 320}]
      threshold: 40
tracker: {end_after: 10}
"""


def test_merge_keys_share_settings_and_own_keys_win(tmp_path: Path) -> None:
    file = tmp_path / "merged.yaml"
    file.write_text(MERGED)
    gate, yard, road = load_config(file, environ={}).cameras
    assert (gate.fps, gate.motion.threshold, gate.motion.regions) == (2, 30, 2)
    assert (yard.fps, yard.motion.threshold) == (4, 30)
    assert (road.fps, road.motion.threshold, road.motion.regions, road.motion.width) == (5, 40, 2, 320)


def test_a_mistake_in_merged_settings_names_each_camera_and_the_line_it_is_written_on(tmp_path: Path) -> None:
    file = tmp_path / "merged.yaml"
    file.write_text(MERGED.replace("fps: 2", "fps: fast"))
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    assert [line.removeprefix(f"{file}:") for line in caught.value.lines()] == [
        "3: cameras[0].fps: input should be a valid number, unable to parse string as a number (got 'fast')",
    ]


def test_merging_something_else_than_a_mapping_is_refused_at_its_line(tmp_path: Path) -> None:
    file = tmp_path / "merged.yaml"
    file.write_text("hub_id: a\ncameras:\n  - <<: [1, 2]\n    id: a\n    source: rtsp://h/s\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    assert caught.value.lines() == [
        f"{file}:3: cameras[0]: `<<` merges a mapping; expected <<: *name or <<: [*a, *b]",
        f"{file}:3: cameras[0]: `<<` merges a mapping; expected <<: *name or <<: [*a, *b]",
    ]
