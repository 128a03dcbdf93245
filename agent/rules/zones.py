"""Guarded zones: an alert when a watched object is in the zone while it is
guarded (`entered`), or has stayed there `dwell` seconds (`dwell`).

An object is in the zone by the bottom centre of its box. Its stay, which the
dwell time is measured on, survives absences of up to STAY_GAP (the foot
jittering over the zone's edge, a few missed detections); a longer absence ends
it, and coming back starts a new one. An object alerts at most once per zone
and reason for as long as the tracker follows it. When the tracker loses an
alerted object (it is no longer seen, or gone from its tracks), a new object of
the same kind (person, or any vehicle) that the tracker picks up within
RETURN_WINDOW is taken for it coming back under a new id: it does not alert
again for what that one already did. An object already followed when the other
was last seen is never taken for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.config import Zone
from agent.detect.geometry import foot, inside
from agent.detect.labels import VEHICLE_LABELS
from agent.rules.findings import Alert, Reason
from agent.track.tracker import Track

STAY_GAP = 5.0  # seconds out of the zone (or unseen) that do not end a stay
RETURN_WINDOW = 30.0  # seconds after losing an alerted object within which a newcomer is taken for it


@dataclass
class _Stay:
    since: float  # first seen in the zone
    last_inside: float


@dataclass
class _Known:
    """An object that has been in the zone, for as long as the tracker follows it."""

    kind: str
    last_seen: float
    alerted: set[Reason]


def kind(label: str) -> str:
    """Who may be taken for whom: people, or vehicles whatever their label."""
    return "vehicle" if label in VEHICLE_LABELS else label


class ZoneGuard:
    def __init__(self, name: str, zone: Zone) -> None:
        self.name = name
        self.zone = zone
        self.watched = {label for item in zone.objects for label in (VEHICLE_LABELS if item == "vehicle" else [item])}
        self._stays: dict[int, _Stay] = {}
        self._known: dict[int, _Known] = {}
        self._lost: list[_Known] = []  # alerted objects the tracker lost, for RETURN_WINDOW

    def update(self, tracks: Sequence[Track], mono: float, guarded_since: float | None, unsure: bool) -> list[Alert]:
        """GUARDED_SINCE: when the zone's guarded hours began, None outside them;
        UNSURE: guarded only because the clock cannot be believed."""
        for track in tracks:
            if track.id in self._known:
                self._known[track.id].last_seen = track.last_seen
        alerts: list[Alert] = []
        for track in tracks:
            if track.label not in self.watched or not self._in_zone(track):
                continue
            stay = self._stays[track.id]
            if guarded_since is None or not track.confirmed:
                continue
            for reason in self._due(track, stay, mono, guarded_since):
                alerts.append(Alert(self.name, reason, track, mono, stay.since, unsure))
        self._forget(tracks, mono)
        return alerts

    def _in_zone(self, track: Track) -> bool:
        """Follows the track's stay; whether it is in the zone now."""
        if not inside(foot(track.box), self.zone.points):
            return False
        stay = self._stays.get(track.id)
        if stay is None or track.last_seen - stay.last_inside > STAY_GAP:
            self._stays[track.id] = _Stay(track.last_seen, track.last_seen)
        else:
            stay.last_inside = track.last_seen
        if track.id not in self._known:
            self._known[track.id] = _Known(kind(track.label), track.last_seen, self._inherited(track))
        return True

    def _due(self, track: Track, stay: _Stay, mono: float, guarded_since: float) -> list[Reason]:
        due: list[Reason] = []
        if self.zone.entered:
            due.append("entered")
        if self.zone.dwell is not None and mono - max(stay.since, guarded_since) >= self.zone.dwell:
            due.append("dwell")
        alerted = self._known[track.id].alerted
        due = [r for r in due if r not in alerted]
        alerted.update(due)
        return due

    def _inherited(self, track: Track) -> set[Reason]:
        """What an alerted object that vanished before TRACK was born already did."""
        for other in [*self._lost, *self._known.values()]:
            born_after = 0.0 <= track.start - other.last_seen <= RETURN_WINDOW
            if other.alerted and other.kind == kind(track.label) and born_after:
                return set(other.alerted)
        return set()

    def _forget(self, tracks: Sequence[Track], mono: float) -> None:
        alive = {t.id for t in tracks}
        for track_id, known in list(self._known.items()):
            if track_id not in alive:
                if known.alerted:
                    self._lost.append(known)
                del self._known[track_id]
        for track_id in [i for i, s in self._stays.items() if i not in alive or mono - s.last_inside > STAY_GAP]:
            del self._stays[track_id]
        self._lost = [lost for lost in self._lost if mono - lost.last_seen <= RETURN_WINDOW]
