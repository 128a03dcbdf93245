"""What every frame source offers: open, read one frame, close."""

from __future__ import annotations

from typing import Protocol

from agent.frame import Frame


class SourceError(RuntimeError):
    """The source cannot deliver (cannot open, read failed, stream stalled)."""


class FrameSource(Protocol):
    camera: str

    def open(self) -> None:
        """Open the device or stream; raises SourceError."""

    def read(self) -> Frame | None:
        """The next frame; None when a finite source (a file) has ended; raises SourceError."""

    def close(self) -> None: ...
