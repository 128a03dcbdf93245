"""Prints the configuration reference (Markdown) from the pydantic schema, the
single source of truth; `--write README.md` replaces the block between the
config-reference markers, and the tests check that the README's block is current.

    .venv/bin/python scripts/config_reference.py --write README.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import HubConfig

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        inner, suffix = _nested(field.annotation)
        out.append((key, _default(field), field.description or ""))
        if inner is not None:
            out += rows(inner, f"{key}{suffix}.")
    return out


def _nested(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model inside ANNOTATION, and how its keys are written: `x.` for a
    section, `x[].` for a list of them, `x.<name>.` for a mapping of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = getattr(annotation, "__origin__", None), getattr(annotation, "__args__", ())
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], "[]"
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        # Keys chosen from a fixed list are labels; free ones are names the user gives.
        key = "<label>" if getattr(args[0], "__origin__", None) is Literal else "<name>"
        return args[1], f".{key}"
    return None, ""


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default is PydanticUndefined else field.default
    sections = value.values() if isinstance(value, dict) else [value]
    if any(isinstance(v, BaseModel) for v in sections):
        return ""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value}`"


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def reference() -> str:
    lines = [START, "| key | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{key}` | {default} | {_escape(text)} |" for key, default, text in rows(HubConfig)]
    return "\n".join([*lines, END])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", type=Path, help="replace the reference block in this Markdown file")
    args = parser.parse_args()
    if args.write is None:
        print(reference())
        return 0
    text = args.write.read_text()
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    args.write.write_text(head + reference() + tail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
