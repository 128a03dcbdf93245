"""What every frame source offers: open, read one frame, close."""

from __future__ import annotations

import re
from typing import Protocol

from agent.frame import Frame

_CREDENTIALS = re.compile(r"(?<=://)[^/\s]*@")  # greedy: a password may hold an unescaped @


class SourceError(RuntimeError):
    """The source cannot deliver (cannot open, read failed, stream stalled)."""


class FrameSource(Protocol):
    camera: str

    def open(self) -> None:
        """Open the device or stream; raises SourceError."""

    def read(self) -> Frame | None:
        """The next frame; None when a finite source (a file) has ended; raises SourceError."""

    def close(self) -> None: ...


def redact(text: str) -> str:
    """TEXT with any `user:password@` of a URL replaced by `***@`: statuses and logs leave the hub."""
    return _CREDENTIALS.sub("***@", text)
