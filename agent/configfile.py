"""Reading a hub's YAML file into a `HubConfig`, with errors a volunteer can act on.

Every problem becomes one line `FILE:LINE: key.path: what is wrong and what is
expected`; nothing here lets a traceback escape.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agent import safeyaml, secrets, startup
from agent.config import ID_PATTERN, TOPIC_PATTERN, FieldError, HubConfig
from agent.errors import ConfigError, ConfigProblem, Loc

MAX_BYTES = 1024 * 1024  # a hub's config is a few KB; refused before parsing, beyond this nothing is risked
_REFERENCE = re.compile(r"\$\{([^}]*)\}?")
_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PATTERNS = {
    ID_PATTERN: "1 to 32 lowercase letters, digits, '-' or '_'",
    TOPIC_PATTERN: "MQTT topic text without '#', '+' or spaces",
}


def load_config(file: Path, environ: dict[str, str] | None = None, *, startup_checks: bool = False) -> HubConfig:
    """Parse and validate FILE; raises ConfigError with every problem found.

    With STARTUP_CHECKS, also everything `run` needs before its main loop (the model loads,
    TLS files, password file, spool path): `check-config` and `run` refuse the same files."""
    root = _compose(file, _read_text(file))
    if root is None or not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1 if root is not None else 1
        raise ConfigError(file, [ConfigProblem(line, "", "expected a mapping of keys (hub_id:, cameras:, ...)")])
    reader = _NodeReader(dict(os.environ if environ is None else environ))
    data = reader.read(root, ())
    if reader.problems:
        raise ConfigError(file, sorted(reader.problems, key=lambda p: p.line))
    try:
        config = HubConfig.model_validate(data)
    except ValidationError as exc:
        problems = sorted((_problem(err, reader.lines) for err in exc.errors()), key=lambda p: p.line)
        raise ConfigError(file, problems) from None
    found = startup.file_problems(config)
    if not found and startup_checks:
        found = startup.run_problems(config)
    if found:
        raise ConfigError(file, [ConfigProblem(_line_for(loc, reader.lines), _dotted(loc), m) for loc, m in found])
    return config


def _read_text(file: Path) -> str:
    def refuse(line: int, message: str) -> ConfigError:
        return ConfigError(file, [ConfigProblem(line, "", message)])

    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise refuse(0, "not a regular file; expected a YAML file")
        if info.st_size > MAX_BYTES:
            raise refuse(0, f"{info.st_size} bytes; expected a config of at most {MAX_BYTES // 1024} KB")
        with file.open("rb") as f:
            data = f.read(MAX_BYTES + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise refuse(0, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise refuse(0, f"more than {MAX_BYTES} bytes; expected a config of at most {MAX_BYTES // 1024} KB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise refuse(
            line, f"byte 0x{data[exc.start]:02x} at column {column} is not UTF-8; expected a file saved as UTF-8"
        ) from None


def _compose(file: Path, text: str) -> yaml.Node | None:
    try:
        return safeyaml.compose(text)
    except safeyaml.Refused as exc:
        line, reason = exc.problem_mark.line + 1, exc.problem
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, reason = (mark.line + 1 if mark else 0), f"YAML syntax error: {exc.problem or exc.context}"
        reason += _character_at(text, mark)
    except yaml.reader.ReaderError as exc:  # a control character: position counts characters
        line, reason = text.count("\n", 0, exc.position) + 1, f"YAML syntax error: {exc.reason}"
    except yaml.YAMLError as exc:
        line, reason = 0, f"YAML syntax error: {exc}"
    raise ConfigError(file, [ConfigProblem(line, "", reason)])


def _character_at(text: str, mark: yaml.Mark | None) -> str:
    """The character a syntax error points at, when seeing it helps (a tab, an odd symbol)."""
    lines = text.splitlines()
    if mark is None or mark.line >= len(lines) or mark.column >= len(lines[mark.line]):
        return ""
    char = lines[mark.line][mark.column]
    if char == "\t":
        return " ('\\t'); indent with spaces, not tabs"
    return "" if char.isalnum() or char.isspace() else f" ({char!r})"


class _NodeReader:
    """Turns a composed YAML node tree into plain data, remembering the line of every key and
    list item, resolving merge keys (`<<: *defaults`) and substituting `${VAR}` / `${VAR:-default}`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lines: dict[Loc, int] = {}
        self.problems: list[ConfigProblem] = []
        self._scalars = yaml.SafeLoader("")  # constructs scalar values (int, float, bool...) from their nodes

    def read(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*loc, i)) for i, item in enumerate(node.value)]
        value = self._scalar(node, loc)
        if isinstance(value, str) and "${" in value:
            value = self._substitute(value, loc, node.start_mark.line + 1)
        _register_secret(loc, value)
        return value

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        try:
            return self._scalars.construct_object(node)
        except (yaml.YAMLError, ValueError, KeyError, OverflowError):  # `!!int abc`, `!!bool maybe`, a 13th month
            self._problem(node, loc, f"not a valid {safeyaml.short_tag(node.tag)}")
            return None

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        own, merged = self._pairs(node, loc)
        for key_node, value_node, is_merged in [(*p, False) for p in own] + [(*p, True) for p in merged]:
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, loc, "a key must be a plain word; expected key: value")
                continue
            key = str(self._scalar(key_node, loc))
            if not loc and key.startswith("x-"):
                continue  # a place for anchors that cameras merge (`x-camera: &camera {...}`)
            if key in out:
                if not is_merged:  # a merged key never overrides the mapping's own nor an earlier merge
                    first = self.lines[(*loc, key)]
                    self._problem(key_node, (*loc, key), f"duplicate key (first given on line {first})")
                continue
            self.lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = self.read(value_node, (*loc, key))
        return out

    def _pairs(self, node: yaml.MappingNode, loc: Loc) -> tuple[list[Any], list[Any]]:
        """NODE's own key/value pairs, and those its `<<` keys merge in (their own first, then theirs)."""
        own, merged = [], []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self._problem(source, loc, "`<<` merges a mapping; expected <<: *name or <<: [*a, *b]")
                    continue
                inner_own, inner_merged = self._pairs(source, loc)
                merged += inner_own + inner_merged
        return own, merged

    def _substitute(self, value: str, loc: Loc, line: int) -> str:
        def one(match: re.Match[str]) -> str:
            name = _NAME.fullmatch(match.group(1)) if match.group(0).endswith("}") else None
            if name is None:
                shown = "" if _is_secret(loc) else f" {match.group(0)}"
                self.problems.append(
                    ConfigProblem(
                        line, _dotted(loc),
                        f"bad variable reference{shown}; expected ${{NAME}} or ${{NAME:-default}}, "
                        "NAME made of letters, digits and _",
                    )
                )  # fmt: skip
                return ""
            if name.group(1) in self.env:
                return self.env[name.group(1)]
            if name.group(2) is not None:
                return name.group(2)
            self.problems.append(
                ConfigProblem(
                    line, _dotted(loc),
                    f"environment variable {name.group(1)} is not set; set it or write ${{{name.group(1)}:-default}}",
                )
            )  # fmt: skip
            return ""

        return _REFERENCE.sub(one, value)

    def _problem(self, node: yaml.Node, loc: Loc, message: str) -> None:
        self.problems.append(ConfigProblem(node.start_mark.line + 1, _dotted(loc), message))


def _is_secret(loc: Loc) -> bool:
    return loc[-1:] == ("password",)


def _register_secret(loc: Loc, value: Any) -> None:
    """Secrets are registered as they are read, before validation, so that even an error about them is masked."""
    if _is_secret(loc):
        secrets.register(value)
    elif loc[-1:] == ("source",) and isinstance(value, str):
        secrets.register_url(value)


def _dotted(loc: Loc) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[")


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _problem(err: Any, lines: dict[Loc, int]) -> ConfigProblem:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]")))
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, FieldError):
        loc += error.at
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
    message = err["msg"][0].lower() + err["msg"][1:]
    if _is_secret(loc):  # never echoed, however short or oddly typed
        return message + ("; write it in quotes" if isinstance(got, int | float) else "")
    shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) or got is None else ""
    return message + shown


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
