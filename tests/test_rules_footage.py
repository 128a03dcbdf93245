"""The rules on real footage, behind the real model, motion gate and tracker, as
`replay` runs them: a counting line on car-detection.mp4, dwell zones on vtest.avi.
The pipeline runs once per clip; each test replays its detector passes' tracks
through a RuleEngine of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.capture.opencv import OpenCVSource
from agent.config import CameraConfig, HubConfig
from agent.detect.detector import Detector
from agent.pipeline import CameraPipeline
from agent.rules.clock import WallClock
from agent.rules.engine import RuleEngine
from agent.rules.findings import Alert, Finding
from agent.track.tracker import Track
from tests.shared import MODEL, VTEST

Pass = tuple[float, float, list[Track]]  # monotonic time, wall time, the tracks after that detector pass


def _passes(video: Path) -> list[Pass]:
    config = HubConfig(hub_id="rules", cameras=[CameraConfig(id="cam", source=str(video))])
    pipeline = CameraPipeline(config, config.cameras[0], Detector(MODEL))
    source = OpenCVSource("cam", str(video), realtime=False)
    source.open()
    out: list[Pass] = []
    try:
        while (frame := source.read()) is not None:
            pipeline.process(frame)
            if pipeline.last_decision is not None and pipeline.last_decision.detect:
                out.append((frame.mono, frame.wall, pipeline.tracker.active()))
    finally:
        source.close()
    return out


def _run(passes: list[Pass], camera: CameraConfig) -> list[Finding]:
    engine = RuleEngine(camera, clock=WallClock(lambda: True))
    findings: list[Finding] = []
    for mono, wall, tracks in passes:
        findings += engine.update(tracks, mono, wall)
    return findings + engine.flush(passes[-1][0])


@pytest.fixture(scope="module")
def vtest() -> list[Pass]:
    return _passes(VTEST)


def _dwell_alerts(passes: list[Pass], corners: tuple[float, float, float, float], dwell: float) -> list[Alert]:
    x1, y1, x2, y2 = corners
    zone = {"points": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]], "objects": ["person"], "dwell": dwell}
    camera = CameraConfig(id="cam", source=str(VTEST), zones={"spot": zone})
    return [f for f in _run(passes, camera) if isinstance(f, Alert)]


# Where two people stand still in vtest.avi (ground_truth.json, with their feet found on the frames):
# P2 on the phone, feet near (0.40, 0.50), frames ~400-460; P3 near (0.86, 0.71), frames ~540-615.
PHONE_CALL = (0.37, 0.47, 0.45, 0.54)
WAITING = (0.82, 0.68, 0.90, 0.76)


@pytest.mark.parametrize("spot", [PHONE_CALL, WAITING], ids=["phone-call", "waiting"])
def test_someone_standing_in_a_zone_for_5_s_raises_one_dwell_alert(vtest: list[Pass], spot: tuple) -> None:
    alerts = _dwell_alerts(vtest, spot, dwell=5.0)
    assert [(a.zone, a.reason, a.track.label) for a in alerts] == [("spot", "dwell", "person")]
    assert alerts[0].ts - alerts[0].since >= 5.0


@pytest.mark.parametrize("spot", [PHONE_CALL, WAITING], ids=["phone-call", "waiting"])
def test_nobody_stays_15_s_so_a_15_s_dwell_stays_quiet(vtest: list[Pass], spot: tuple) -> None:
    """Both stand for 6-8 s; everyone else walks through."""
    assert _dwell_alerts(vtest, spot, dwell=15.0) == []
