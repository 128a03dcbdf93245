"""The village rules wired into `camhub-agent replay`, on real footage with the real
model: dwell alerts with their pictures on vtest.avi, counts, and quiet on the clips
where nothing should happen."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.contract import problems
from tests.shared import CARS, MODEL, QUIET, REPO, TREE, VTEST

ENV = {**os.environ, "CAMHUB_MODEL": str(MODEL)}
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
# Where two people stand still in vtest.avi (see test_rules_footage.py).
PHONE_CALL = (0.37, 0.47, 0.45, 0.54)
WAITING = (0.82, 0.68, 0.90, 0.76)


def _square(corners: tuple[float, float, float, float]) -> list[list[float]]:
    x1, y1, x2, y2 = corners
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def _replay(tmp_path: Path, video: Path, camera: dict) -> tuple[list[dict], str]:
    """Every line replay wrote (events and counts checked against their schemas), and its summary."""
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"hub_id": "t", "cameras": [{"id": "cam", "source": str(video), **camera}]}))
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "agent", "replay", str(video), "--config", str(config), "--events-out", str(out)]
    done = subprocess.run(
        [*command, "--evidence-dir", str(tmp_path / "evidence")],
        capture_output=True, text=True, env=ENV, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    for line in lines:
        topic = "cam/events" if "type" in line else "cam/counts" if "lines" in line else "cam/evidence"
        assert problems(topic, json.dumps(line)) == []
    return lines, done.stderr


@pytest.fixture(scope="module")
def vtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str]:
    zones = {
        name: {"points": _square(spot), "objects": ["person"], "dwell": 5}
        for name, spot in (("phone", PHONE_CALL), ("waiting", WAITING))
    }
    lines = {"middle": {"points": [[0.5, 0.0], [0.5, 1.0]]}}
    return _replay(tmp_path_factory.mktemp("vtest"), VTEST, {"zones": zones, "lines": lines, "counts_interval": 30})


def test_each_person_standing_still_raises_one_dwell_alert_with_a_picture(vtest: tuple[list[dict], str]) -> None:
    lines, summary = vtest
    alerts = [line for line in lines if line.get("type") == "alert"]
    assert [(a["zone"], a["reason"], a["label"], a.get("evidence")) for a in alerts] == [
        ("phone", "dwell", "person", True),
        ("waiting", "dwell", "person", True),
    ]
    pictures = [line for line in lines if "picture" in line]
    assert [p["picture"] for p in pictures] == [a["id"] for a in alerts]
    for alert, picture in zip(alerts, pictures, strict=True):
        assert lines.index(picture) == lines.index(alert) + 1, "the picture follows its event"
        jpeg = Path(picture["file"]).read_bytes()
        assert len(jpeg) == picture["bytes"] <= 8 * 1024
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and min(image.shape[:2]) >= 48
    assert "alert person: 2" in summary and f"pictures: 2 ({sum(p['bytes'] for p in pictures)} bytes)" in summary


def test_counts_cover_the_whole_clip_window_after_window(vtest: tuple[list[dict], str]) -> None:
    """vtest.avi is 79.5 s: summaries every 30 s, the last one flushed at the end."""
    lines, summary = vtest
    counts = [line for line in lines if "lines" in line]
    assert len(counts) == 3 and f"counts: {len(counts)}" in summary
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(counts))
    crossings = sum(n for c in counts for per in c["lines"]["middle"].values() for n in per.values())
    assert crossings >= 10  # people walk left and right across the middle all the time


@pytest.mark.parametrize("video", [QUIET, TREE], ids=["quiet", "tree"])
def test_no_alert_nor_left_event_where_nobody_comes(tmp_path: Path, video: Path) -> None:
    """A zone over the whole picture, guarded at every hour against any person entering
    and watching for things left: quiet.mp4 has nobody (a parked car, still all along),
    tree.avi a tree in the wind."""
    zone = {"points": WHOLE, "objects": ["person"], "entered": True, "dwell": 3, "left_behind": {"after": 5}}
    lines, summary = _replay(tmp_path, video, {"zones": {"yard": zone}})
    assert [line for line in lines if line.get("type") in ("alert", "left") or "picture" in line] == []
    assert "pictures: 0" in summary


@pytest.mark.xfail(
    strict=False,
    reason="every catalog model sees only 1-2 of the 4 cars from above as vehicles (the others as 'cell phone' or "
    "'suitcase'; see the evaluation table); the line logic is held on synthetic tracks in test_rules.py",
)
def test_a_line_across_the_lane_counts_two_cars_in_and_two_out(tmp_path: Path) -> None:
    """Cars 2 and 4 drive down the picture, 1 and 3 up (ground_truth.json); `in` is below the line."""
    lines, _ = _replay(tmp_path, CARS, {"lines": {"lane": {"points": [[0.0, 0.5], [1.0, 0.5]]}}})
    totals = {"in": 0, "out": 0}
    for counts in (line for line in lines if "lines" in line):
        for direction, labels in counts["lines"]["lane"].items():
            totals[direction] += sum(labels.values())
    assert totals == {"in": 2, "out": 2}
