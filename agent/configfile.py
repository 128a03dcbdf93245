"""Reading a hub's YAML file into a `HubConfig`, with errors a volunteer can act on.

Every problem becomes one line `FILE:LINE: key.path: what is wrong and what is
expected`; nothing here lets a traceback escape.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agent.config import ID_PATTERN, TOPIC_PATTERN, HubConfig

EX_CONFIG = 78  # sysexits.h EX_CONFIG: systemd and volunteers both read it as "fix the config"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Loc = tuple[str | int, ...]
_PATTERNS = {
    ID_PATTERN: "1 to 32 lowercase letters, digits, '-' or '_'",
    TOPIC_PATTERN: "MQTT topic text without '#', '+' or spaces",
}


@dataclass(frozen=True)
class ConfigProblem:
    line: int
    path: str
    message: str


class ConfigError(Exception):
    """A configuration that cannot be used; `str()` gives one line per problem."""

    def __init__(self, file: Path, problems: list[ConfigProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.file}:{p.line}: {p.path + ': ' if p.path else ''}{p.message}" for p in self.problems]


def load_config(file: Path, environ: dict[str, str] | None = None) -> HubConfig:
    """Parse and validate FILE; raises ConfigError with every problem found."""
    env = dict(os.environ if environ is None else environ)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(file, [ConfigProblem(0, "", f"cannot read the file: {reason}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, [ConfigProblem(line, "", f"YAML syntax error: {reason}")]) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1 if root is not None else 1
        raise ConfigError(file, [ConfigProblem(line, "", "expected a mapping of keys (hub_id:, cameras:, ...)")])
    reader = _NodeReader(env)
    data = reader.read(root, ())
    if reader.problems:
        raise ConfigError(file, reader.problems)
    try:
        config = HubConfig.model_validate(data)
    except ValidationError as exc:
        problems = sorted((_problem(err, reader.lines) for err in exc.errors()), key=lambda p: p.line)
        raise ConfigError(file, problems) from None
    problems = _file_problems(config, reader.lines)
    if problems:
        raise ConfigError(file, problems)
    return config


class _NodeReader:
    """Turns a composed YAML node tree into plain data, remembering the line of
    every key and list item and substituting `${VAR}` / `${VAR:-default}`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lines: dict[Loc, int] = {}
        self.problems: list[ConfigProblem] = []

    def read(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*loc, i)) for i, item in enumerate(node.value)]
        value = yaml.SafeLoader(" ").construct_object(node, deep=True)
        if isinstance(value, str) and "${" in value:
            value = self._substitute(value, loc, node.start_mark.line + 1)
        return value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(yaml.SafeLoader(" ").construct_object(key_node))
            line = key_node.start_mark.line + 1
            if key in out:
                first = self.lines[(*loc, key)]
                self.problems.append(
                    ConfigProblem(line, _dotted((*loc, key)), f"duplicate key (first given on line {first})")
                )
                continue
            self.lines[(*loc, key)] = line
            out[key] = self.read(value_node, (*loc, key))
        return out

    def _substitute(self, value: str, loc: Loc, line: int) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problems.append(
                ConfigProblem(
                    line, _dotted(loc), f"environment variable {name} is not set; set it or write ${{{name}:-default}}"
                )
            )
            return ""

        return _ENV.sub(one, value)


def _dotted(loc: Loc) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[")


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _problem(err: Any, lines: dict[Loc, int]) -> ConfigProblem:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]")))
    return ConfigProblem(_line_for(loc, lines), _dotted(loc), _explain(err, loc))


def _explain(err: Any, loc: Loc) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key; expected one of: {', '.join(allowed)}" if allowed else "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"got {err['input']!r}; expected {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        return f"got {err['input']!r}; expected {_PATTERNS.get(pattern, f'text matching {pattern}')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    got = err.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) or got is None else ""
    return err["msg"][0].lower() + err["msg"][1:] + shown


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the schema accepts at LOC, for 'did you mean' style messages."""
    model: type[BaseModel] = HubConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        inner = _model_of(field.annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _file_problems(config: HubConfig, lines: dict[Loc, int]) -> list[ConfigProblem]:
    """Checks that need the file system: files named by the config must be readable."""
    checks: list[tuple[Loc, Path | None]] = [
        (("detector", "model"), config.detector.model if isinstance(config.detector.model, Path) else None),
        (("detector", "labels"), config.detector.labels),
        (("mqtt", "password_file"), config.mqtt.password_file),
        (("mqtt", "tls", "ca_file"), config.mqtt.tls.ca_file),
        (("mqtt", "tls", "cert_file"), config.mqtt.tls.cert_file),
        (("mqtt", "tls", "key_file"), config.mqtt.tls.key_file),
    ]
    checks += [
        (("cameras", i, "source"), Path(cam.source))
        for i, cam in enumerate(config.cameras)
        if _is_file_source(cam.source)
    ]
    problems = []
    for loc, path in checks:
        if path is not None and not os.access(path, os.R_OK):
            why = "does not exist" if not path.exists() else "is not readable by this user"
            problems.append(
                ConfigProblem(_line_for(loc, lines), _dotted(loc), f"file {path} {why}; expected a readable file")
            )
        elif loc == ("detector", "model") and path is not None and not _is_tflite(path):
            problems.append(
                ConfigProblem(
                    _line_for(loc, lines), _dotted(loc), f"file {path} is not a TFLite model (no TFL3 header)"
                )
            )
    return problems


def _is_file_source(source: str) -> bool:
    return "://" not in source and not re.match(r"^(usb:\d+|/dev/|picamera)", source)


def _is_tflite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(8)[4:8] == b"TFL3"
