"""Problems that stop the agent before it starts: each one means exit status 78.

78 is sysexits.h EX_CONFIG, which systemd is told not to restart on: a hub whose
config, model or runtime is wrong stays down with one clear message instead of
restarting every few seconds for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent import secrets

EX_CONFIG = 78
Loc = tuple[str | int, ...]  # a key path in the config: ("cameras", 0, "source")


class StartupError(Exception):
    """The agent cannot start with what it was given; `str()` is the message for a person."""


class ModelError(StartupError):
    """The model is missing, damaged or not one the agent can read: a configuration problem."""


class RuntimeUnavailable(StartupError):
    """Neither TFLite runtime can be imported."""


class SpoolPathError(StartupError):
    """SPOOL.PATH cannot hold a spool at all (a directory, an uncreatable directory): fix the config."""


@dataclass(frozen=True)
class ConfigProblem:
    line: int  # 0: the file as a whole
    path: str
    message: str


class ConfigError(StartupError):
    """A configuration that cannot be used; `str()` gives one line per problem."""

    def __init__(self, file: Path, problems: list[ConfigProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [
            secrets.mask(f"{self.file}:{p.line}: {p.path + ': ' if p.path else ''}{p.message}") for p in self.problems
        ]
