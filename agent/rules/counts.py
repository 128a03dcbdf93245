"""A camera's line crossings summed over windows of `counts_interval` seconds.

Every window is reported, empty ones too: a zero then says "nobody passed",
while a missing window says "the camera was not watching"."""

from __future__ import annotations

from collections import Counter

from agent.rules.findings import Counts, Direction


class CountWindow:
    def __init__(self, interval: float, lines: list[str]) -> None:
        self.interval = interval
        self.lines = lines
        self._counts: Counter[tuple[str, Direction, str]] = Counter()
        self._start: float | None = None
        self._last = 0.0

    def add(self, line: str, direction: Direction, label: str) -> None:
        self._counts[(line, direction, label)] += 1

    def update(self, mono: float) -> Counts | None:
        """The window that ended by MONO, if one did. Passes stop while a camera is
        down: a window is then closed at the last pass, not stretched over the gap."""
        if self._start is None:
            self._start = self._last = mono
            return None
        if mono - self._last > self.interval:
            summary = self._close(self._last)
            self._start = mono
        elif mono - self._start >= self.interval:
            summary = self._close(mono)
        else:
            summary = None
        self._last = mono
        return summary

    def flush(self, mono: float) -> Counts | None:
        """The open window, at a stop: its crossings must not be lost."""
        return self._close(mono) if self._start is not None and self._counts else None

    def _close(self, end: float) -> Counts:
        assert self._start is not None
        lines: dict[str, dict[Direction, dict[str, int]]] = {name: {"in": {}, "out": {}} for name in self.lines}
        for (line, direction, label), n in sorted(self._counts.items()):
            lines[line][direction][label] = n
        summary = Counts(self._start, end, lines)
        self._counts.clear()
        self._start = end
        return summary
