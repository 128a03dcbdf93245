"""The village rules on scripted tracks: counting lines (sides, hysteresis,
U-turns, the segment's extent, count windows) and guarded zones (one alert per
rule, dwell, returns, schedules across midnight and days, time zones, a clock
that is not synchronised). Real footage is in test_rules_footage.py."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config import CameraConfig
from agent.configfile import load_config
from agent.errors import ConfigError
from agent.rules.clock import WallClock, kernel_synchronised
from agent.rules.engine import RuleEngine
from agent.rules.findings import Alert, Counts, Cross, Finding
from agent.rules.schedule import Schedule, parse_period
from agent.track.tracker import Track

HCMC = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7 all year: no daylight saving
NIGHT = datetime(2026, 6, 1, 23, 0, tzinfo=HCMC).timestamp()  # a Monday, 23:00 in Vietnam
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=HCMC).timestamp()
SYNCED = WallClock(lambda: True)


def track(tid: int, foot: tuple[float, float], h: float = 0.2, t: float = 0.0, start: float = 0.0,
          label: str = "person", confirmed: bool = True) -> Track:  # fmt: skip
    x, y = foot
    w = h * 0.4
    box = (x - w / 2, y - h, x + w / 2, y)
    return Track(id=tid, label=label, score=0.8, box=box, zones=[], start=start, last_seen=t, confirmed=confirmed)


def run(engine: RuleEngine, passes: Iterable[tuple[float, list[Track]]], wall0: float = NOON) -> list[Finding]:
    findings: list[Finding] = []
    for mono, tracks in passes:
        findings += engine.update(tracks, mono, wall0 + mono)
    return findings


def walk(tid: int, path: Callable[[int], tuple[float, float]], n: int, fps: float = 10.0, **kw: object) -> list:
    """N passes at FPS of one object at path(i)."""
    return [(i / fps, [track(tid, path(i), t=i / fps, **kw)]) for i in range(n)]  # type: ignore[arg-type]


def camera(lines: dict | None = None, zones: dict | None = None, **kw: object) -> CameraConfig:
    return CameraConfig(id="gate", source="rtsp://cam/s", lines=lines or {}, zones=zones or {}, **kw)  # type: ignore[arg-type]


ROAD = {"road": {"points": [[0.0, 0.5], [1.0, 0.5]], "events": True}}


def crosses(findings: list[Finding]) -> list[tuple[str, str, int]]:
    return [(f.line, f.dir, f.track.id) for f in findings if isinstance(f, Cross)]


# --- counting lines ---------------------------------------------------------------------------


def test_down_across_a_left_to_right_line_is_in_and_up_is_out() -> None:
    """Facing from the first point to the second, `in` is on the right hand: for a line
    drawn left to right, below it in the picture."""
    engine = RuleEngine(camera(ROAD))
    down = walk(1, lambda i: (0.5, 0.3 + 0.01 * i), 40)
    assert crosses(run(engine, down)) == [("road", "in", 1)]
    up = [(4 + m, [track(2, (0.6, 0.7 - 0.01 * i), t=4 + m)]) for i, (m, _) in enumerate(down)]
    assert crosses(run(engine, up)) == [("road", "out", 2)]


def test_swapping_the_points_swaps_in_and_out_and_a_top_to_bottom_line_has_in_on_the_left() -> None:
    reversed_road = {"road": {"points": [[1.0, 0.5], [0.0, 0.5]], "events": True}}
    assert crosses(run(RuleEngine(camera(reversed_road)), walk(1, lambda i: (0.5, 0.3 + 0.01 * i), 40))) == [
        ("road", "out", 1)
    ]
    # Facing down the picture, the right hand points to the picture's left.
    column = {"col": {"points": [[0.5, 0.0], [0.5, 1.0]], "events": True}}
    leftwards = walk(1, lambda i: (0.8 - 0.01 * i, 0.6), 60)
    assert crosses(run(RuleEngine(camera(column)), leftwards)) == [("col", "in", 1)]


def test_jitter_on_the_line_never_counts_twice() -> None:
    """A person waits on the line for 30 s, their box's foot jittering by up to 1.5 % of
    the picture (7.5 % of their height) across it, then walks on: one crossing."""
    rng = random.Random(7)
    engine = RuleEngine(camera(ROAD))
    approach = walk(1, lambda i: (0.5, 0.35 + 0.01 * i), 15)
    wait = [(1.5 + i / 10, [track(1, (0.5, 0.5 + rng.uniform(-0.015, 0.015)), t=1.5 + i / 10)]) for i in range(300)]
    on = [(31.5 + i / 10, [track(1, (0.5, 0.5 + 0.01 * i), t=31.5 + i / 10)]) for i in range(20)]
    assert crosses(run(engine, approach + wait + on)) == [("road", "in", 1)]


def test_a_u_turn_counts_in_then_out_and_a_turn_short_of_the_line_counts_nothing() -> None:
    engine = RuleEngine(camera(ROAD))
    there_and_back = walk(1, lambda i: (0.5, 0.3 + 0.02 * min(i, 40 - i)), 41)  # down to 0.7, back up to 0.3
    assert crosses(run(engine, there_and_back)) == [("road", "in", 1), ("road", "out", 1)]
    engine = RuleEngine(camera(ROAD))
    touch = walk(2, lambda i: (0.5, 0.3 + 0.01 * min(i, 40 - i)), 41)  # down to the line (0.5), back up
    assert crosses(run(engine, touch)) == []


def test_only_the_segment_counts_not_its_extension() -> None:
    gate = {"gate": {"points": [[0.4, 0.5], [0.6, 0.5]], "events": True}}
    engine = RuleEngine(camera(gate))
    assert crosses(run(engine, walk(1, lambda i: (0.2, 0.3 + 0.01 * i), 40))) == []  # passes beside the gate
    assert crosses(run(engine, walk(2, lambda i: (0.5, 0.3 + 0.01 * i), 40))) == [("gate", "in", 2)]


def test_a_fast_object_counts_once_confirmed_and_a_flicker_never() -> None:
    engine = RuleEngine(camera(ROAD))
    tentative = walk(1, lambda i: (0.5, 0.4 + 0.05 * i), 4, confirmed=False)  # across the line before confirmation
    assert crosses(run(engine, tentative)) == []
    assert crosses(engine.update([track(1, (0.5, 0.65), t=0.4)], 0.4, NOON)) == [("road", "in", 1)]
    flicker = walk(2, lambda i: (0.3, 0.4 + 0.05 * i), 4, confirmed=False)
    assert crosses(run(engine, [*flicker, (0.5, [])])) == []  # it never became an object


def test_counts_every_interval_per_line_direction_and_label_without_cross_events_by_default() -> None:
    lines = {"road": {"points": [[0.0, 0.5], [1.0, 0.5]]}, "path": {"points": [[0.5, 0.0], [0.5, 1.0]]}}
    engine = RuleEngine(camera(lines, counts_interval=60))
    passes = []
    for n in range(5):  # five motorbikes down the road, 10 s apart; one car up
        passes += [(10 * n + i / 10, [track(n + 1, (0.5, 0.3 + 0.02 * i), t=10 * n + i / 10, label="motorcycle")])
                   for i in range(20)]  # fmt: skip
    passes += [(55 + i / 10, [track(9, (0.2, 0.7 - 0.02 * i), t=55 + i / 10, label="car")]) for i in range(20)]
    passes += [(t, []) for t in (60.0, 90.0, 120.0, 150.0)]
    findings = run(engine, passes)
    assert crosses(findings) == []
    summaries = [f for f in findings if isinstance(f, Counts)]
    assert [(s.start, s.end) for s in summaries] == [(0.0, 60.0), (60.0, 120.0)]
    assert summaries[0].lines == {
        "road": {"in": {"motorcycle": 5}, "out": {"car": 1}},
        "path": {"in": {}, "out": {}},
    }
    assert summaries[1].lines == {"road": {"in": {}, "out": {}}, "path": {"in": {}, "out": {}}}  # zeros say "none"


def test_a_camera_gap_closes_the_window_at_the_last_pass_and_a_stop_keeps_what_was_counted() -> None:
    engine = RuleEngine(camera(ROAD, counts_interval=60))
    findings = run(engine, [*walk(1, lambda i: (0.5, 0.3 + 0.02 * i), 20), (500.0, [])])
    [summary] = [f for f in findings if isinstance(f, Counts)]
    assert (summary.start, summary.end) == (0.0, 1.9) and summary.lines["road"]["in"] == {"person": 1}
    run(engine, [(500 + i / 10, [track(2, (0.5, 0.3 + 0.02 * i), t=500 + i / 10)]) for i in range(20)])
    [last] = engine.flush(510.0)
    assert isinstance(last, Counts) and (last.start, last.end) == (500.0, 510.0)
    assert last.lines["road"]["in"] == {"person": 1}


# --- guarded zones ----------------------------------------------------------------------------

YARD = [[0.2, 0.4], [0.8, 0.4], [0.8, 0.9], [0.2, 0.9]]


def alerts(findings: list[Finding]) -> list[tuple[str, str, int]]:
    return [(f.zone, f.reason, f.track.id) for f in findings if isinstance(f, Alert)]


def guarded(**rules: object) -> RuleEngine:
    return RuleEngine(camera(zones={"yard": {"points": YARD, **rules}}), "Asia/Ho_Chi_Minh", SYNCED)


def test_an_object_in_a_guarded_zone_alerts_once_not_every_pass() -> None:
    engine = guarded(entered=True)
    prowl = walk(1, lambda i: (0.0975 + 0.005 * i, 0.6), 200)  # walks in at 0.2 (pass 21), then 14 s inside
    findings = run(engine, prowl)
    assert alerts(findings) == [("yard", "entered", 1)]
    [alert] = [f for f in findings if isinstance(f, Alert)]
    assert alert.ts == pytest.approx(2.1) and not alert.clock_unsynced


def test_unwatched_labels_tentative_tracks_and_bare_polygons_raise_nothing() -> None:
    assert alerts(run(guarded(entered=True, objects=["vehicle"]), walk(1, lambda i: (0.5, 0.6), 50))) == []
    assert alerts(run(guarded(entered=True), walk(1, lambda i: (0.5, 0.6), 50, confirmed=False))) == []
    bare = RuleEngine(camera(zones={"yard": YARD}), clock=SYNCED)
    assert alerts(run(bare, walk(1, lambda i: (0.5, 0.6), 50))) == []
    assert alerts(
        run(guarded(entered=True, objects=["vehicle"]), walk(2, lambda i: (0.5, 0.6), 50, label="truck"))
    ) == [("yard", "entered", 2)]


def test_dwell_alerts_once_after_the_dwell_time_and_a_walker_passing_through_never() -> None:
    engine = guarded(dwell=20)
    passer = walk(1, lambda i: (0.1 + 0.01 * i, 0.6), 80)  # 6 s inside
    assert alerts(run(engine, passer)) == []
    loiterer = [(10 + i / 2, [track(2, (0.5, 0.6 + 0.01 * (i % 3)), t=10 + i / 2)]) for i in range(120)]
    findings = run(engine, loiterer)
    assert alerts(findings) == [("yard", "dwell", 2)]
    [alert] = [f for f in findings if isinstance(f, Alert)]
    assert (alert.since, alert.ts) == (10.0, 30.0)


def test_a_short_step_out_keeps_the_dwell_time_running_a_long_one_starts_again() -> None:
    engine = guarded(dwell=20)
    inside = [(t, [track(1, (0.5, 0.6), t=t)]) for t in range(0, 12)]
    step_out = [(t, [track(1, (0.5, 0.95), t=t)]) for t in range(12, 15)]  # 3 s out: below STAY_GAP
    back = [(t, [track(1, (0.5, 0.6), t=t)]) for t in range(15, 25)]
    assert alerts(run(engine, inside + step_out + back)) == [("yard", "dwell", 1)]
    engine = guarded(dwell=20)
    long_out = [(t, [track(1, (0.5, 0.95), t=t)]) for t in range(12, 30)]
    back = [(t, [track(1, (0.5, 0.6), t=t)]) for t in range(30, 45)]
    assert alerts(run(engine, inside + long_out + back)) == []  # 12 s, then 15 s: never 20 s in a row


def test_lost_and_picked_up_again_within_30_s_does_not_alert_again_later_does() -> None:
    engine = guarded(entered=True)
    first = walk(1, lambda i: (0.5, 0.6), 30)
    assert alerts(run(engine, first)) == [("yard", "entered", 1)]
    gone = [(3.0 + t, []) for t in range(10)]  # the tracker lost it
    again = [(15 + i / 10, [track(2, (0.5, 0.6), t=15 + i / 10, start=15)]) for i in range(30)]
    assert alerts(run(engine, gone + again)) == []  # 12 s later, a new id: taken for the same person
    much_later = [(60 + i / 10, [track(3, (0.5, 0.6), t=60 + i / 10, start=60)]) for i in range(30)]
    assert alerts(run(engine, [(40.0, []), *much_later])) == [("yard", "entered", 3)]


def test_a_new_id_at_the_spot_of_an_alerted_object_the_tracker_still_coasts_does_not_alert() -> None:
    """The tracker misses the loiterer and, before giving its track up, starts a new
    one on the next detection of the same person."""
    engine = guarded(dwell=5)
    stays = [(i / 2, [track(1, (0.5, 0.6), t=i / 2)]) for i in range(14)]  # alerts at 5 s
    coasting = [(7 + i / 2, [track(1, (0.5, 0.6), t=6.5), track(2, (0.5, 0.61), t=7 + i / 2, start=7)])
                for i in range(30)]  # fmt: skip
    assert alerts(run(engine, stays + coasting)) == [("yard", "dwell", 1)]


def test_a_second_object_already_followed_by_the_tracker_alerts_on_its_own() -> None:
    engine = guarded(entered=True)
    both = [(i / 10, [track(1, (0.5, 0.6), t=i / 10), track(2, (0.1 + 0.01 * i, 0.6), t=i / 10)]) for i in range(40)]
    assert alerts(run(engine, both)) == [("yard", "entered", 1), ("yard", "entered", 2)]


def test_a_schedule_guards_only_its_hours() -> None:
    night = guarded(entered=True, schedule="22:00-05:00")
    assert alerts(run(night, walk(1, lambda i: (0.5, 0.6), 30), wall0=NOON)) == []
    assert alerts(run(night, walk(2, lambda i: (0.5, 0.6), 30), wall0=NIGHT)) == [("yard", "entered", 2)]


def test_dwell_counts_from_when_the_guarded_hours_begin() -> None:
    """Someone in the yard since 21:59:30 with a 20 s dwell: the alert comes at 22:00:20."""
    before = datetime(2026, 6, 1, 21, 59, 30, tzinfo=HCMC).timestamp()
    engine = guarded(dwell=20, schedule="22:00-05:00")
    findings = run(engine, [(t, [track(1, (0.5, 0.6), t=t)]) for t in range(0, 60)], wall0=before)
    [alert] = [f for f in findings if isinstance(f, Alert)]
    assert (alert.since, alert.ts) == (0, 50)


@pytest.mark.parametrize(
    ("period", "when", "expected"),
    [
        ("22:00-05:00", (1, 22, 0), True),  # Monday 22:00
        ("22:00-05:00", (2, 4, 59), True),  # Tuesday, before 05:00
        ("22:00-05:00", (2, 5, 0), False),
        ("22:00-05:00", (2, 21, 59), False),
        ("fri 22:00-05:00", (6, 3, 0), True),  # Saturday 03:00 belongs to Friday night
        ("fri 22:00-05:00", (5, 3, 0), False),  # Friday 03:00 belongs to Thursday night
        ("mon-fri 08:00-17:00", (3, 12, 0), True),
        ("mon-fri 08:00-17:00", (6, 12, 0), False),
        ("fri-mon 00:00-24:00", (7, 23, 59), True),  # the range wraps over the weekend
        ("fri-mon 00:00-24:00", (2, 0, 0), False),
        ("sat,sun 12:00-14:00", (7, 13, 0), True),
    ],
)
def test_periods_across_midnight_and_days(period: str, when: tuple[int, int, int], expected: bool) -> None:
    day, hour, minute = when  # June 2026: the 1st is a Monday
    wall = datetime(2026, 6, day, hour, minute, tzinfo=HCMC).timestamp()
    assert Schedule([period], "Asia/Ho_Chi_Minh").guarded(wall) is expected


def test_schedules_read_the_local_clock_of_the_configured_zone_or_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    utc_1600 = datetime(2026, 6, 1, 16, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # 23:00 in Hanoi, 18:00 in Paris
    assert Schedule(["22:00-05:00"], "Asia/Ho_Chi_Minh").guarded(utc_1600)
    assert not Schedule(["22:00-05:00"], "Europe/Paris").guarded(utc_1600)
    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    try:
        assert Schedule(["22:00-05:00"], None).guarded(utc_1600)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_daylight_saving_change_keeps_the_hours_on_the_local_clock() -> None:
    paris = ZoneInfo("Europe/Paris")  # clocks go forward on 29 March 2026, back on 25 October
    schedule = Schedule(["22:00-05:00"], "Europe/Paris")
    for day in (28, 29, 30):
        assert schedule.guarded(datetime(2026, 3, day, 22, 30, tzinfo=paris).timestamp())
        assert not schedule.guarded(datetime(2026, 3, day, 21, 30, tzinfo=paris).timestamp())


def test_before_the_clock_is_synchronised_a_scheduled_zone_is_guarded_at_any_hour() -> None:
    synced = [False, False, True, False]
    clock = WallClock(lambda: synced.pop(0))
    zones = {"yard": {"points": YARD, "entered": True, "schedule": "22:00-05:00"}}
    engine = RuleEngine(camera(zones=zones), "Asia/Ho_Chi_Minh", clock)
    findings = run(engine, walk(1, lambda i: (0.5, 0.6), 3), wall0=NOON)  # 1970 or a stale date, who knows
    [alert] = [f for f in findings if isinstance(f, Alert)]
    assert alert.clock_unsynced
    later = [(10 + i / 10, [track(2, (0.5, 0.6), t=10 + i / 10, start=100)]) for i in range(30)]
    assert alerts(run(engine, later, wall0=NOON)) == []  # synchronised once: believed from then on
    assert synced == [False]


def test_the_kernel_is_asked_without_privileges() -> None:
    assert isinstance(kernel_synchronised(), bool)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("22:00-5:00", "expected [DAYS ]HH:MM-HH:MM"),
        ("22:00-22:00", "a whole day is 00:00-24:00"),
        ("25:00-05:00", "not a time of day"),
        ("mon-fry 22:00-05:00", "unknown day"),
        ("24:00-05:00", "starts at 23:59 at the latest"),
    ],
)
def test_a_bad_period_says_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_period(text)


# --- configuration ----------------------------------------------------------------------------

HEAD = "hub_id: a\ncameras:\n  - id: a\n    source: rtsp://h/s\n"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "    zones:\n      yard:\n        points: [[0, 0], [1, 0], [1, 1]]\n        schedule: '22:00-5:00'\n",
            8,
            r"cameras\[0\]\.zones\.yard\.schedule\[0\]: got '22:00-5:00'; expected \[DAYS \]HH:MM-HH:MM",
        ),
        (
            "    zones:\n      yard:\n        points: [[0, 0], [1, 0], [1, 1]]\n        schedule: '22:00-05:00'\n",
            6,
            r"cameras\[0\]\.zones\.yard: a schedule says when the zone's rules apply, but it has none: "
            r"add entered: true or dwell",
        ),
        (
            "    zones:\n      yard: {points: [[0, 0], [1, 0], [1, 1]], dwell: 0}\n",
            6,
            r"cameras\[0\]\.zones\.yard\.dwell: input should be greater than 0",
        ),
        (
            "    zones:\n      yard: {points: [[0, 0], [1, 0], [1, 1]], objects: [dog]}\n",
            6,
            r"cameras\[0\]\.zones\.yard\.objects\[0\]: got 'dog'; expected 'person', .* or 'vehicle'",
        ),
        ("    zones:\n      yard: 5\n", 6, r"cameras\[0\]\.zones\.yard: .*expected a polygon \[\[x, y"),
        (
            "    lines:\n      road: {points: [[0.5, 0.5], [0.5, 0.5]]}\n",
            6,
            r"cameras\[0\]\.lines\.road\.points: the two points are \(almost\) the same",
        ),
        ("    lines:\n      road: {points: [[0, 0.5]]}\n", 6, r"cameras\[0\]\.lines\.road\.points: a line needs 2"),
        ("timezone: Asia/Hanoi_City\n", 5, r"timezone: unknown time zone 'Asia/Hanoi_City'; expected a name like"),
    ],
    ids=["period", "schedule-without-rule", "zero-dwell", "unknown-object", "not-a-zone", "one-point-line",
         "line-short", "timezone"],
)  # fmt: skip
def test_rule_mistakes_are_reported_on_their_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(HEAD + body)
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    [problem] = caught.value.lines()
    assert re.match(rf"{re.escape(str(config))}:{line}: {message}", problem), problem


def test_bare_polygons_and_rule_zones_live_side_by_side(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        HEAD + "    zones:\n      road: [[0, 0.5], [1, 0.5], [1, 1]]\n"
        "      yard: {points: [[0, 0], [1, 0], [1, 1]], entered: true, schedule: ['mon-fri 22:00-05:00']}\n"
        "    lines:\n      lane: {points: [[0, 0.6], [1, 0.6]]}\ntimezone: Asia/Ho_Chi_Minh\n"
    )
    hub = load_config(config, environ={})
    zones = hub.cameras[0].zones
    assert not zones["road"].guarded and zones["road"].points[0] == (0.0, 0.5)
    assert zones["yard"].guarded and zones["yard"].objects == ["person", "vehicle"]
    assert hub.cameras[0].lines["lane"].events is False and hub.cameras[0].counts_interval == 300
    assert type(hub).model_validate(hub.model_dump(mode="json")) == hub  # check-config's output reads back
