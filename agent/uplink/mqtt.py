"""The uplink: events through the durable spool to an MQTT broker, plus status,
stats, snapshots, commands and Home Assistant discovery.

Threads:
- connection (ours): connects to the brokers in order with backoff and jitter,
  one fresh paho client per session, announces the hub on connect, and goes
  back to the first broker when it answers again;
- paho's network thread, per session: its callbacks only record and wake;
- sender (ours): publishes spooled messages, up to `max_inflight` awaiting PUBACK,
  and turns PUBACKs into spool deletes (or topic holds, when the broker refused).
  Events and counts share one spool; evidence pictures have their own, with its
  own size bound, so a picture never evicts an event; pictures go out only when
  no event waits;
- commands (commands.CommandServer): answers requests.

Status, stats and command results leave the hub through `_report`, which masks
every secret in them: whatever a camera, a library or a config error put in a
message, no password reaches the broker.

A session's unacknowledged events simply stay in the spool and are published
again by the next session (at least once; consumers de-duplicate by id), so
nothing depends on paho's in-memory queue. `_io_lock` guards the swap of the
session's client against publishes from our threads; no paho callback takes it.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import socket
import threading
import time
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.config import HubConfig
from agent.events import MAX_BYTES, Counts, Event, mark_historical, too_large
from agent.evidence import Picture
from agent.secrets import mask, mask_data
from agent.uplink import discovery
from agent.uplink.commands import CommandHandlers, CommandServer
from agent.uplink.security import describe_connect_error, resolve_password, tls_context
from agent.uplink.spool import Row, Spool, SpoolError
from agent.uplink.topics import Topics

log = logging.getLogger(__name__)

CONNACK_TIMEOUT_S = 10.0
STABLE_S = 10.0  # a session shorter than this counts as a failure for the backoff
HOUSEKEEPING_S = 5.0  # probe refused topics that are due, evict expired rows
CONTROL_SLOTS = 8  # QoS 1 in-flight room for status, results, snapshots beside the events
PROBE_TIMEOUT_S = 3.0
REFUSAL_RETRY_S = 60.0  # first wait before a refused topic is probed again; doubles per refusal
REFUSAL_RETRY_MAX_S = 3600.0
REFUSAL_LOG_S = 60.0
ERROR_REPEAT_LOG_S = 600.0
AUTH_REFUSALS = (0x86, 0x87)  # bad user name or password, not authorized (MQTT 3.1.1 codes 4 and 5 map here)

Outcome = Literal["failed", "lost", "switch", "stopped"]


class Uplink:
    def __init__(
        self, config: HubConfig, spool: Spool, commands: CommandHandlers | None = None, pictures: Spool | None = None
    ) -> None:
        """SPOOL: events and counts; PICTURES: evidence pictures (None: pictures are dropped)."""
        self._config = config
        self._mqtt = config.mqtt
        self._spool = spool
        self._pictures = pictures
        self._spools = [spool] if pictures is None else [spool, pictures]  # in the order they are sent
        self.topics = Topics.from_config(config)
        self._brokers = [(self._mqtt.host, self._mqtt.port)] + [(b.host, b.port) for b in self._mqtt.failover]
        self._tls = tls_context(self._mqtt.tls)  # ValueError names an unloadable certificate or key
        self._client_id = self._mqtt.client_id or f"camhub-{config.hub_id}"  # stable: one session per hub
        self._commands = CommandServer(
            commands or CommandHandlers(), self.topics, self._mqtt.max_payload, self._mqtt.command_rate,
            self._publish_result,
        )
        self._discovery = self._mqtt.homeassistant.enabled
        self._presence = discovery.Presence()

        self._stop = threading.Event()
        self._leave = threading.Event()  # end the session: set by stop() once `offline` is out
        self._ready = threading.Event()  # connected and announced: events may flow
        self._lost = threading.Event()
        self._connack = threading.Event()
        self._connack_code: ReasonCode | None = None
        self._wake = threading.Event()
        self._rediscover = threading.Event()
        self._io_lock = threading.Lock()
        self._client: mqtt.Client | None = None  # the live session's client
        self._generation = 0  # counts sessions; PUBACKs of an older session are ignored
        self._acks: collections.deque[tuple[int, int, ReasonCode]] = collections.deque()
        # mid -> (spool, row id, topic); row ids are per spool. Sender thread only.
        self._inflight: dict[int, tuple[Spool, int, str]] = {}
        self._inflight_generation = 0
        self._status: bytes | None = None
        self._threads: list[threading.Thread] = []

        self._state_lock = threading.Lock()
        self._broker: str | None = None
        self._last_error: str | None = None
        self._last_error_log = -ERROR_REPEAT_LOG_S
        self._last_refusal: str | None = None
        self._last_refusal_log = -REFUSAL_LOG_S
        self._sessions = 0
        self._attempts = 0
        self._blocked: dict[str, tuple[float, float]] = {}  # refused topic -> (until, wait)
        self.counts = {"delivered": 0, "refused": 0, "unspooled": 0, "lost": 0}

    # -- public interface ----------------------------------------------

    def start(self) -> None:
        """Connect in the background; returns at once."""
        self._commands.start()
        for name, target in (("uplink-connection", self._run_connection), ("uplink-sender", self._run_sender)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def send_event(self, event: Event) -> None:
        """Spool EVENT durably, then let the sender publish it on `{camera}/events`."""
        historical = not self._ready.is_set()
        payload = mark_historical(event.encode()) if historical else event.encode()
        if too_large(payload):  # a bug upstream must not stop the hub: counted, logged, dropped
            log.error("event %r is %d bytes, at most %d: dropped", event.id, len(payload), MAX_BYTES)
            self.counts["lost"] += 1
            return
        self._put(self._spool, self.topics.events(event.camera), payload, historical)
        if self._discovery:
            with self._state_lock:  # cameras send from their own threads
                changes = self._presence.update(event)
            for camera, kind, present in changes:
                self._publish(self.topics.presence(camera, kind), discovery.presence_payload(present), 1, True)

    def send_counts(self, counts: Counts) -> None:
        """Spool COUNTS like an event; sent retained on `{camera}/counts` when live. One made
        offline is sent late and not retained: it must not replace a newer summary."""
        historical = not self._ready.is_set()
        payload = mark_historical(counts.encode()) if historical else counts.encode()
        self._put(self._spool, self.topics.counts(counts.camera), payload, historical)

    def send_picture(self, picture: Picture) -> None:
        """Spool PICTURE in the pictures' own spool; sent on `{camera}/evidence/{event id}` once no event waits."""
        if self._pictures is None:
            return
        topic = self.topics.evidence(picture.camera, picture.event_id)
        self._put(self._pictures, topic, picture.jpeg, not self._ready.is_set())

    def _put(self, spool: Spool, topic: str, payload: bytes, historical: bool) -> None:
        with self._state_lock:
            until = self._blocked.get(topic, (0.0, 0.0))[0]
        try:
            spool.put(topic, payload, 1, historical, until if until > time.time() else None)
        except SpoolError as exc:
            self._unspooled(topic, payload, exc)
        self._wake.set()

    def set_status(self, status: dict[str, Any]) -> bool:
        """Retained on `status`; sent now if connected (True) and again on every (re)connect."""
        self._status = _report(status)
        return self._publish(self.topics.status, self._status, 1, True)

    def publish_stats(self, stats: dict[str, Any]) -> None:
        """QoS 0, not spooled: dropped while offline (the next one supersedes it)."""
        self._publish(self.topics.stats, _report(stats), 0, False)

    def publish_snapshot(self, camera: str, jpeg: bytes) -> bool:
        """QoS 1, not spooled; returns False when offline (nothing was sent)."""
        return self._publish(self.topics.snapshot(camera), jpeg, 1, False)

    def connection(self) -> dict[str, Any]:
        """State for status and stats; never contains credentials."""
        with self._state_lock:
            return {
                "connected": self._ready.is_set(),
                "broker": self._broker,
                "protocol": self._mqtt.protocol,
                "last_error": self._last_error,
                "reconnects": max(0, self._sessions - 1),
                "attempts": self._attempts,
                "inflight": len(self._inflight),
                "last_refusal": self._last_refusal,
                "refused_topics": sorted(self._blocked),
                **self.counts,
                "commands": dict(self._commands.counts),
            }

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what the spool holds (for at most half of TIMEOUT), publish retained
        `offline`, disconnect cleanly and leave the spool consistent. What could not be
        delivered stays spooled for the next run."""
        deadline = time.monotonic() + timeout
        self._drain(deadline - timeout / 2)
        with self._io_lock:  # no session can start or announce after this
            self._stop.set()
            client = self._client
            info = None
            if client is not None and self._ready.is_set():
                info = client.publish(self.topics.availability, b"offline", qos=1, retain=True)
            self._ready.clear()
        self._wake.set()
        if info is not None:
            try:
                info.wait_for_publish(timeout / 2)
            except (RuntimeError, ValueError):
                log.warning("could not publish `offline` before disconnecting")
        for event in (self._leave, self._connack):
            event.set()
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._commands.stop(max(0.1, deadline - time.monotonic()))
        self._threads.clear()

    def _drain(self, until: float) -> None:
        # The last events of a clean stop (the `end` of every open object) should
        # reach the broker before `offline` does, not at the next start.
        while self._ready.is_set() and time.monotonic() < until:
            if all(s["depth"] == s["held"] for s in (spool.stats() for spool in self._spools)):
                return
            self._wake.set()
            time.sleep(0.02)

    # -- paho callbacks: record and wake, nothing else ---------------------

    def _new_client(self, generation: int) -> mqtt.Client:
        v5 = self._mqtt.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            userdata=generation,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else True,
            reconnect_on_failure=False,  # reconnecting is ours: ordered brokers, jitter
        )
        client.max_inflight_messages_set(self._mqtt.max_inflight + CONTROL_SLOTS)
        client.will_set(self.topics.availability, b"offline", qos=1, retain=True)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        if self._mqtt.username is not None:
            client.username_pw_set(self._mqtt.username, resolve_password(self._mqtt))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.message_callback_add(self.topics.commands, self._on_command)
        if self._discovery:
            client.message_callback_add(discovery.status_topic(self._config), self._on_ha_status)
        return client

    def _on_connect(self, _c: mqtt.Client, _g: int, _f: object, reason: ReasonCode, _p: object) -> None:
        self._connack_code = reason
        self._connack.set()

    def _on_disconnect(self, _c: mqtt.Client, _g: int, _f: object, reason: ReasonCode, _p: object) -> None:
        if self._ready.is_set() and not self._stop.is_set():
            self._note_error(f"connection to {self._broker} lost: {reason}")
        self._ready.clear()
        self._lost.set()
        self._connack.set()

    def _on_publish(self, _c: mqtt.Client, generation: int, mid: int, reason: ReasonCode, _p: object) -> None:
        self._acks.append((generation, mid, reason))
        self._wake.set()

    def _on_command(self, _c: mqtt.Client, _g: int, message: mqtt.MQTTMessage) -> None:
        # The flag is set only on a message the broker kept from before this subscription (with
        # MQTT 3.1.1; MQTT 5 brokers are asked not to send those at all): such a command already
        # acted, or was never meant to act at each reconnect.
        self._commands.submit(message.topic, message.payload, bool(message.retain))

    def _on_ha_status(self, _c: mqtt.Client, _g: int, message: mqtt.MQTTMessage) -> None:
        if message.payload == b"online":
            self._rediscover.set()
            self._wake.set()

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        """Publish now if connected (not spooled); True if the client took the message."""
        with self._io_lock:
            if self._client is None or not self._ready.is_set():
                return False
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def _publish_result(self, topic: str, result: dict[str, Any]) -> None:
        self._publish(topic, _report(result), 1, False)

    # -- connection thread -----------------------------------------------

    def _run_connection(self) -> None:
        failures = 0
        probe_every = self._mqtt.reconnect_max_delay
        switched = False
        while not self._stop.is_set():
            outcome, index, lasted = self._round(probe_every)
            if switched and index > 0:
                # we left a working broker for the first, which answered TCP but would not take us
                probe_every = min(2 * probe_every, 16 * self._mqtt.reconnect_max_delay)
            elif index == 0 and outcome != "failed":
                probe_every = self._mqtt.reconnect_max_delay
            switched = outcome == "switch"
            if outcome == "stopped":
                return
            if switched or (outcome == "lost" and lasted >= STABLE_S):
                failures = 0
                continue
            failures += 1
            self._stop.wait(self._backoff(failures))

    def _round(self, probe_every: float) -> tuple[Outcome, int, float]:
        """Try the brokers in order until one session ends; (outcome, broker index, seconds connected)."""
        for index, (host, port) in enumerate(self._brokers):
            if self._stop.is_set():
                return "stopped", index, 0.0
            started = time.monotonic()
            outcome = self._session(index, host, port, probe_every)
            if outcome != "failed":
                return outcome, index, time.monotonic() - started
        return "failed", 0, 0.0

    def _backoff(self, failures: int) -> float:
        return min(self._mqtt.reconnect_max_delay, 2.0 ** (failures - 1)) * random.uniform(0.5, 1.0)

    def _session(self, index: int, host: str, port: int, probe_every: float) -> Outcome:
        client = self._open(host, port)
        if client is None:
            return "failed"
        outcome: Outcome = "stopped"
        if self._announce(client, host, port):
            next_probe = time.monotonic() + probe_every
            while not self._leave.is_set():
                if self._lost.wait(0.5):
                    outcome = "lost"
                    break
                if index > 0 and time.monotonic() >= next_probe:
                    next_probe = time.monotonic() + probe_every
                    if _reachable(*self._brokers[0]):
                        log.info("first broker %s:%d answers again: leaving %s:%d", *self._brokers[0], host, port)
                        outcome = "switch"
                        break
        with self._io_lock:
            self._client = None
            self._ready.clear()
        client.disconnect()
        client.loop_stop()
        return outcome

    def _open(self, host: str, port: int) -> mqtt.Client | None:
        """Connect and wait for the CONNACK; records why when it fails."""
        self._lost.clear()
        self._connack.clear()
        self._connack_code = None
        with self._state_lock:
            self._attempts += 1
        kwargs: dict[str, Any] = {}
        if self._mqtt.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            # the broker drops larger commands instead of sending them over a paid link
            props.MaximumPacketSize = self._mqtt.max_payload + 4096
            kwargs = {"clean_start": True, "properties": props}
        client = self._new_client(self._generation + 1)
        with self._io_lock:
            if self._stop.is_set():
                return None
            try:
                client.connect(host, port, self._mqtt.keepalive, **kwargs)
            except (OSError, ValueError) as exc:
                self._note_error(f"cannot connect to {host}:{port}: {describe_connect_error(exc)}")
                return None
            client.loop_start()
        answered = self._connack.wait(CONNACK_TIMEOUT_S)
        code = self._connack_code
        if answered and code is not None and not code.is_failure and not self._stop.is_set():
            return client
        if not self._stop.is_set():
            self._note_error(f"{host}:{port} {_connack_problem(answered, code)}")
        client.disconnect()
        client.loop_stop()
        return None

    def _announce(self, client: mqtt.Client, host: str, port: int) -> bool:
        """Make CLIENT the live one: availability, status, subscriptions, discovery."""
        with self._io_lock:
            if self._stop.is_set():
                return False
            self._client = client
            self._generation += 1
            client.publish(self.topics.availability, b"online", qos=1, retain=True)
            if self._status is not None:
                client.publish(self.topics.status, self._status, qos=1, retain=True)
            # MQTT 5 can spare the link the retained commands, which are ignored anyway.
            commands = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
            topics: list[tuple[str, Any]] = [(self.topics.commands, commands if self._mqtt.protocol == "5" else 1)]
            if self._discovery:
                topics.append((discovery.status_topic(self._config), 1))
            client.subscribe(topics)
            with self._state_lock:
                self._broker = f"{host}:{port}"
                self._sessions += 1
            self._ready.set()
        if self._discovery:
            self._send_discovery()
        log.info("connected to %s:%d (MQTT %s) as %s", host, port, self._mqtt.protocol, self._client_id)
        self._wake.set()
        return True

    def _send_discovery(self) -> None:
        for topic, body in discovery.discovery_messages(self._config, self.topics):
            self._publish(topic, body, 1, True)
        for camera in self._config.cameras:
            for kind in discovery.KINDS:
                present = self._presence.present(camera.id, kind)
                self._publish(self.topics.presence(camera.id, kind), discovery.presence_payload(present), 1, True)

    def _note_error(self, message: str) -> None:
        """Record MESSAGE for status; log it when it changes, and the same one every 10 minutes."""
        now = time.monotonic()
        with self._state_lock:
            repeated = message == self._last_error and now - self._last_error_log < ERROR_REPEAT_LOG_S
            self._last_error = message
            if not repeated:
                self._last_error_log = now
        if not repeated:
            log.warning("mqtt: %s", message)

    # -- sender thread ---------------------------------------------------

    def _run_sender(self) -> None:
        next_housekeeping = 0.0
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self._settle_acks()
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + HOUSEKEEPING_S
                    for spool in self._spools:
                        spool.release_due()
                        spool.evict_expired()
                if self._ready.is_set():
                    if self._rediscover.is_set():
                        self._rediscover.clear()
                        self._send_discovery()
                    self._send_pending()
            except Exception:
                log.exception("uplink sender: unexpected error; retrying in 1 s")
                self._stop.wait(1.0)
        self._settle_acks()

    def _follow_session(self) -> None:
        """A new session starts with nothing in flight: the old one's rows are in the spool still."""
        if self._inflight_generation != self._generation:
            self._inflight.clear()
            self._inflight_generation = self._generation

    def _settle_acks(self) -> None:
        self._follow_session()
        delivered: dict[Spool, list[int]] = {}
        accepted: set[str] = set()
        while self._acks:
            generation, mid, reason = self._acks.popleft()
            entry = self._inflight.pop(mid, None) if generation == self._inflight_generation else None
            if entry is None:
                continue  # status, result, snapshot, or a PUBACK from an older session
            if reason.is_failure:
                self._refused(entry[0], entry[2], reason)
            else:
                delivered.setdefault(entry[0], []).append(entry[1])
                accepted.add(entry[2])
        for spool, ids in delivered.items():
            spool.ack(ids)
            self.counts["delivered"] += len(ids)
        with self._state_lock:
            welcome = [topic for topic in accepted if self._blocked.pop(topic, None)]
        for topic in welcome:
            released = sum(spool.release_topic(topic) for spool in self._spools)
            log.warning("broker accepts %s again: sending its %d held event(s)", topic, released)

    def _refused(self, spool: Spool, topic: str, reason: ReasonCode) -> None:
        """Hold the topic's rows and probe it again later, the wait doubling each time:
        never a retry storm, never a silent drop (MQTT 5 only: 3.1.1 brokers ack and drop)."""
        now = time.time()
        with self._state_lock:
            until, wait = self._blocked.get(topic, (0.0, REFUSAL_RETRY_S / 2))
            if until <= now:  # a first refusal or a failed probe; else another row of the same burst
                wait = min(2 * wait, REFUSAL_RETRY_MAX_S)
                until = now + wait
                self._blocked[topic] = (until, wait)
            self._last_refusal = f"broker refused a publish on {topic}: {reason} (0x{reason.value:02x})"
            text = self._last_refusal
        spool.hold_topic(topic, until)
        self.counts["refused"] += 1
        if time.monotonic() - self._last_refusal_log >= REFUSAL_LOG_S:
            self._last_refusal_log = time.monotonic()
            log.error("%s; its events are kept in the spool and the topic is tried again in %.0f s "
                      "(%d refusals so far)", text, until - now, self.counts["refused"])

    def _send_pending(self) -> None:
        self._follow_session()
        generation = self._inflight_generation
        free = self._mqtt.max_inflight - len(self._inflight)
        for spool in self._spools:
            flying = [row_id for owner, row_id, _ in self._inflight.values() if owner is spool]
            for row in spool.pending(free, exclude=flying):
                if not self._publish_row(spool, row, generation):
                    return
                free -= 1
            if flying or free <= 0:
                return  # the next spool's turn comes once this one has nothing waiting

    def _publish_row(self, spool: Spool, row: Row, generation: int) -> bool:
        """False when the session ended or the client refused: the row waits for the next round."""
        payload = mark_historical(row.payload) if row.historical else row.payload
        retain = not row.historical and self.topics.is_counts(row.topic)  # only the newest summary is retained
        with self._io_lock:
            if self._client is None or self._generation != generation:
                return False
            info = self._client.publish(row.topic, payload, qos=row.qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        self._inflight[info.mid] = (spool, row.id, row.topic)
        return True

    def _unspooled(self, topic: str, payload: bytes, exc: SpoolError) -> None:
        if self._publish(topic, payload, 1, False):
            self.counts["unspooled"] += 1
            log.error("spool failed (%s): event published without the spool's guarantee", exc)
        else:
            self.counts["lost"] += 1
            log.error("spool failed (%s) while offline: event LOST (%d so far)", exc, self.counts["lost"])


def _report(value: dict[str, Any]) -> bytes:
    """VALUE as compact JSON, every secret in it masked (also in values that are not JSON types)."""
    return json.dumps(mask_data(value), separators=(",", ":"), default=lambda v: mask(str(v))).encode()


def _connack_problem(answered: bool, code: ReasonCode | None) -> str:
    if not answered:
        return "did not answer the CONNECT in time"
    if code is None:
        return "closed the connection before answering"
    hint = " (check mqtt.username and the password)" if code.value in AUTH_REFUSALS else ""
    return f"refused the connection: {code}{hint}"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False
