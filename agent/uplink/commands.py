"""Commands from the commune server.

A request is a JSON object on `{prefix}/{hub}/cmd/{name}`: `{"id": "...", ...args}`.
Every request that passes the rate limit is answered on `.../cmd/{name}/result`
with `{"id": ..., "ok": true, ...}` or `{"id": ..., "ok": false, "error": "..."}`.
Requests over the rate limit, or whose topic does not name a command, are
ignored (answering a flood would multiply it) and counted.

A command acts once, when it is published: a retained one, which the broker
hands over again at every (re)connect, is answered as ignored and not run.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.uplink.topics import Topics

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_ID_CHARS = 64
QUEUE_SIZE = 16  # requests waiting for the worker; more are dropped (the rate limit keeps this rare)
BURST_SECONDS = 5.0
RETAINED_ERROR = (
    "ignored: a retained message; a command acts only when it is published, never again at a reconnect "
    "(publish commands with retain=false)"
)

Handler = Callable[[dict[str, Any]], dict[str, Any]]
Publish = Callable[[str, dict[str, Any]], object]  # (topic, result): the uplink serialises it


class CommandError(Exception):
    """A handler's refusal; its message is sent back to the requester."""


class NoArgs(BaseModel):
    """Schema for commands that take no arguments besides `id`."""

    model_config = ConfigDict(extra="forbid")


def _ping(_args: dict[str, Any]) -> dict[str, Any]:
    return {"pong": True, "ts": round(time.time(), 3)}


class CommandHandlers:
    """The registry: command name -> handler(args) -> result fields.

    A handler gets the request without its `id`, validated by its schema (a
    pydantic model, strict, unknown keys refused) when one is registered.
    It raises CommandError to refuse with a message."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[Handler, type[BaseModel] | None]] = {}
        self.register("ping", _ping, NoArgs)

    def register(self, name: str, handler: Handler, schema: type[BaseModel] | None = None) -> None:
        if not NAME.match(name):
            raise ValueError(f"command name {name!r} must match {NAME.pattern}")
        self._handlers[name] = (handler, schema)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def run(self, name: str, payload: bytes, max_payload: int, retained: bool = False) -> dict[str, Any]:
        """Answer one request (RETAINED: the broker kept it from before); never raises."""
        if len(payload) > max_payload:
            return _error(None, f"payload too large: {len(payload)} bytes, at most {max_payload}")
        try:
            request = json.loads(payload)
        except (ValueError, RecursionError):
            return _error(None, 'payload is not valid UTF-8 JSON; expected {"id": "...", ...}')
        if not isinstance(request, dict):
            return _error(None, f'payload is a JSON {type(request).__name__}; expected an object {{"id": "...", ...}}')
        request_id = request.pop("id", None)
        if not _valid_id(request_id):
            return _error(None, f"id must be a string of 1 to {MAX_ID_CHARS} characters or an integer")
        if retained:
            return _error(request_id, RETAINED_ERROR)
        entry = self._handlers.get(name)
        if entry is None:
            return _error(request_id, f"unknown command {name!r}; expected one of: {', '.join(self.names())}")
        handler, schema = entry
        try:
            args = schema.model_validate(request, strict=True).model_dump() if schema else request
            result = handler(args)
        except ValidationError as exc:
            return _error(request_id, "bad arguments: " + _summarise(exc))
        except CommandError as exc:
            return _error(request_id, str(exc))
        except Exception as exc:
            log.exception("command %s (id %s) failed", name, request_id)
            return _error(request_id, f"internal error ({type(exc).__name__}); see the hub's log")
        return {"id": request_id, "ok": True, **result}


def _valid_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS)


def _error(request_id: object, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": message}


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:500]


class TokenBucket:
    """RATE tokens per second on average, at most BURST at once."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class CommandServer:
    """Takes requests from the MQTT client's thread and answers them from a worker
    thread, so a slow handler (a snapshot) never holds up the network loop."""

    def __init__(self, handlers: CommandHandlers, topics: Topics, max_payload: int, rate: float,
                 publish: Publish) -> None:
        self.handlers = handlers
        self._topics = topics
        self._max_payload = max_payload
        self._bucket = TokenBucket(rate, max(1.0, math.ceil(rate * BURST_SECONDS)))
        self._publish = publish
        self._queue: queue.Queue[tuple[str, bytes, bool] | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._last_limit_log = -math.inf
        self.counts = {"received": 0, "answered": 0, "ignored": 0, "rate_limited": 0}

    def submit(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """Called from paho's thread; never raises, never blocks. RETAINED: the message's retain flag."""
        try:
            self.counts["received"] += 1
            name = self._topics.command_name(topic)
            if name is None or not NAME.match(name):
                self.counts["ignored"] += 1
                return
            if not self._bucket.take():
                self._limited()
                return
            self._queue.put_nowait((name, payload, retained))
        except queue.Full:
            self._limited()
        except Exception:
            log.exception("dropping a command message on %r", topic[:200])

    def _limited(self) -> None:
        self.counts["rate_limited"] += 1
        now = time.monotonic()
        if now - self._last_limit_log >= 60.0:
            self._last_limit_log = now
            log.warning("commands arrive faster than mqtt.command_rate allows: ignoring the excess "
                        "(%d ignored so far)", self.counts["rate_limited"])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="uplink-commands", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("command worker busy at shutdown")
        self._thread.join(timeout)
        self._thread = None

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            name, payload, retained = item
            try:
                result = self.handlers.run(name, payload, self._max_payload, retained)
                if not result["ok"]:
                    log.info("command %s (id %.64r) refused: %s", name, result["id"], result["error"])
                self._publish(self._topics.result(name), result)
                self.counts["answered"] += 1
            except Exception:
                log.exception("answering command %s failed", name)
