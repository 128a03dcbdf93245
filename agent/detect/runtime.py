"""One interface over the two TFLite runtimes: LiteRT (`ai-edge-litert`, the
maintained successor) and the legacy `tflite-runtime` (needs numpy<2)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal, Protocol

from agent.errors import ModelError, RuntimeUnavailable

log = logging.getLogger(__name__)
RuntimeName = Literal["auto", "litert", "tflite"]


class Interpreter(Protocol):
    def allocate_tensors(self) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def set_tensor(self, index: int, value: Any) -> None: ...
    def get_tensor(self, index: int) -> Any: ...
    def tensor(self, index: int) -> Any: ...
    def invoke(self) -> None: ...


def _interpreter_class(name: str) -> type:
    if name == "litert":
        from ai_edge_litert.interpreter import Interpreter as cls
    else:
        from tflite_runtime.interpreter import Interpreter as cls
    return cls


def load_interpreter(model: Path, threads: int, runtime: RuntimeName = "auto") -> tuple[Interpreter, str]:
    """Create the one interpreter the agent keeps for its whole life.

    Returns it with the name of the runtime that loaded it. `auto` prefers
    LiteRT and falls back to tflite-runtime."""
    names = ["litert", "tflite"] if runtime == "auto" else [runtime]
    errors = []
    for name in names:
        try:
            cls = _interpreter_class(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        try:
            interpreter = cls(model_path=str(model), num_threads=threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:  # what both runtimes raise for a file they cannot load
            raise ModelError(f"{model}: the {name} runtime cannot load it: {exc}") from None
        log.info("loaded %s with %s runtime, %d threads", model.name, name, threads)
        return interpreter, name
    raise RuntimeUnavailable("no TFLite runtime could be imported (" + "; ".join(errors) + ")")
