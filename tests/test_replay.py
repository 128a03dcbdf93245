"""The whole pipeline (all but the network) over real footage with the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agent.events import parse_event
from tests.contract import problems
from tests.shared import MODEL, REPO, TREE, VTEST

VISITS = 21  # vtest.avi: 12 people making 21 visits (counted by hand, re-entries are new visits)
ENV = {**os.environ, "CAMHUB_MODEL": str(MODEL)}


def _replay(video: Path, tmp_path: Path, *args: str) -> tuple[list[dict], str]:
    """The events replay wrote (each checked against the schema), and its summary."""
    out = tmp_path / "events.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "agent", "replay", str(video), "--events-out", str(out), *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert [p for line in lines for p in problems("replay/events", line)] == []
    return [json.loads(line) for line in lines], done.stderr


@pytest.fixture(scope="module")
def vtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str]:
    return _replay(VTEST, tmp_path_factory.mktemp("vtest"))


def test_vtest_about_one_new_per_visit(vtest: tuple[list[dict], str]) -> None:
    events, _ = vtest
    news = [e for e in events if e["type"] == "new" and e["label"] == "person"]
    assert VISITS * 0.7 <= len(news) <= VISITS * 1.5, len(news)


def test_vtest_every_new_is_closed_by_one_end(vtest: tuple[list[dict], str]) -> None:
    events, _ = vtest
    by_obj: dict[str, list[str]] = {}
    for event in events:
        by_obj.setdefault(event["id"].rpartition(".")[0], []).append(event["type"])
    for kinds in by_obj.values():
        assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("new") == 1 and kinds.count("end") == 1, kinds


def test_vtest_events_are_compact_and_well_formed(vtest: tuple[list[dict], str]) -> None:
    events, _ = vtest
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    for event in events:
        assert set(event) == {"v", "id", "type", "label", "score", "box", "zones", "start", "ts"}
        assert event["v"] == 2 and parse_event(json.dumps(event), "replay").id == event["id"]
        assert len(json.dumps(event, separators=(",", ":"))) <= 200
        x1, y1, x2, y2 = event["box"]
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert event["start"] <= event["ts"]


def test_vtest_summary_counts_match_the_events(vtest: tuple[list[dict], str]) -> None:
    events, summary = vtest
    assert "frames: 795" in summary
    assert "detector invocations:" in summary
    counts = Counter((e["type"], e["label"]) for e in events)
    for (kind, label), n in counts.items():
        assert f"{kind} {label}: {n}" in summary


def test_tree_at_most_one_event(tmp_path: Path) -> None:
    events, _ = _replay(TREE, tmp_path)
    assert len([e for e in events if e["type"] == "new"]) <= 1
    assert len(events) <= 2  # at most its new and its end


def test_annotated_video_is_written(tmp_path: Path) -> None:
    out = tmp_path / "tree.mp4"
    _replay(TREE, tmp_path, "--annotate", str(out))
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--camera", "nope"], "camhub-agent: no camera 'nope' in the config; expected one of: replay"),
        (["--events-out", "/nonexistent/dir/x.jsonl"], "No such file or directory: '/nonexistent/dir/x.jsonl'"),
    ],
)
def test_replay_bad_arguments_get_one_line(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "agent", "replay", str(TREE), *args], capture_output=True,
                          text=True, env=ENV, cwd=REPO)  # fmt: skip
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr


def test_replay_of_a_broken_file_gets_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.avi"
    broken.write_bytes(VTEST.read_bytes()[:3000])
    done = subprocess.run([sys.executable, "-m", "agent", "replay", str(broken)], capture_output=True, text=True,
                          env=ENV, cwd=REPO)  # fmt: skip
    assert done.returncode == 1
    assert f"camhub-agent: cannot open {broken}" in done.stderr and "Traceback" not in done.stderr
