"""A real Mosquitto for tests, started from a temporary config on a free loopback
port, plus a test PKI (openssl CLI), password files and a collecting subscriber.

The broker keeps its port across stop/start/kill/restart, so a client pointed
at it sees a real outage and a real return.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.contract import problems

MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll PREDICATE until it is true or TIMEOUT seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# -- PKI --------------------------------------------------------------------


@dataclass(frozen=True)
class PKI:
    ca_cert: Path
    ca_key: Path
    server_cert: Path  # for localhost and 127.0.0.1
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path  # a CA nobody signed with: trusting only it must fail


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")  # P-256, unencrypted


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl(
        "req",
        "-x509",
        *NEW_KEY,
        "-keyout",
        key.name,
        "-out",
        cert.name,
        "-days",
        "3",
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key, csr, cert, ext = (directory / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text(extensions + "\nbasicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid\n")
    _openssl(
        "req",
        *NEW_KEY,
        "-keyout",
        key.name,
        "-out",
        csr.name,
        "-subj",
        f"/CN={name}",
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        csr.name,
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-out",
        cert.name,
        "-days",
        "3",
        "-extfile",
        ext.name,
        cwd=directory,
    )
    return cert, key


def make_pki(directory: Path) -> PKI:
    """A CA, a server certificate for localhost/127.0.0.1, a client certificate and an unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "camhub-test-ca")
    server = _make_leaf(
        directory, "server", ca, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"
    )
    client = _make_leaf(directory, "hub1", ca, "extendedKeyUsage=clientAuth")
    other, _ = _make_ca(directory, "other-ca")
    return PKI(ca[0], ca[1], server[0], server[1], client[0], client[1], other)


def make_password_file(path: Path, users: dict[str, str]) -> Path:
    path.write_text("")
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True, capture_output=True)
    return path


# -- broker -----------------------------------------------------------------


class Broker:
    """One Mosquitto process; `start` waits until its port accepts connections."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        tls: PKI | None = None,
        require_certificate: bool = False,
        persistence: bool = True,
        extra: str = "",
        host: str = HOST,
    ) -> None:
        self.directory = directory
        self.host = host
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password_file = password_file
        self.acl_file = acl_file
        self.tls = tls
        self.require_certificate = require_certificate
        self.persistence = persistence
        self.extra = extra
        self.log_path = directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "mosquitto.conf"

    def config_text(self) -> str:
        lines = [f"listener {self.port} {self.host}", "log_dest stderr", "log_type all", "max_queued_messages 0"]
        if os.geteuid() == 0:
            lines.append("user root")
        lines.append(f"allow_anonymous {'false' if self.password_file else 'true'}")
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.tls:
            lines += [
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                "tls_version tlsv1.2",
            ]
            if self.require_certificate:
                lines.append("require_certificate true")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.directory}/"]
        if self.extra:
            lines.append(self.extra)
        return "\n".join(lines) + "\n"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 5.0) -> Broker:
        if self.running:
            return self
        self.config_path.write_text(self.config_text())
        log = self.log_path.open("ab")
        self._process = subprocess.Popen([MOSQUITTO, "-c", str(self.config_path)], stdout=log, stderr=log)
        log.close()
        if not wait_until(lambda: port_open(self.port, self.host) or not self.running, timeout) or not self.running:
            self.kill()
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{self.log_text()[-2000:]}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM: a graceful stop that saves persistent sessions."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._end(signal.SIGKILL, 5.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: re-read the password and ACL files."""
        if self._process is not None:
            self._process.send_signal(signal.SIGHUP)

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(sig)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        # the port must be free again before a restart binds it
        wait_until(lambda: not port_open(self.port, self.host), 5.0)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# -- subscriber -------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    received: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client collecting every message on TOPICS; reconnects by itself.

    With `check_contract` (the default), events and counts that break their JSON
    Schema fail the test at the next `on` or `check`. They are checked there, in
    the test's thread, so that the arrival times stay those of the network.

    With `persistent`, its session (QoS 1 queue) survives its own disconnects
    and, with the broker's persistence, a graceful broker restart."""

    def __init__(
        self,
        port: int,
        topics: Iterable[str] = ("#",),
        *,
        client_id: str | None = None,
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
        ca_cert: Path | None = None,
        check_contract: bool = True,
    ) -> None:
        self.topics = list(topics)
        self.messages: list[Message] = []
        self.invalid: list[str] = []  # schema problems of the messages received
        self._check_contract = check_contract
        self._checked = 0  # messages[:_checked] have been checked
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-sub-{os.getpid()}-{id(self)}",
            protocol=mqtt.MQTTv311,
            clean_session=not persistent,
        )
        if username:
            self.client.username_pw_set(username, password)
        if ca_cert:
            self.client.tls_set(ca_certs=str(ca_cert))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async(HOST, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10.0):
            self.close()
            raise RuntimeError(f"test subscriber could not subscribe on port {port}")

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(message.topic, bytes(message.payload), message.retain, time.monotonic()))

    def on(self, suffix: str) -> list[Message]:
        """Messages whose topic ends with SUFFIX, in arrival order."""
        with self._lock:
            messages = list(self.messages)
        self._check(messages)
        return [m for m in messages if m.topic.endswith(suffix)]

    def check(self) -> None:
        """Fail if a message received so far breaks the contract."""
        with self._lock:
            messages = list(self.messages)
        self._check(messages)

    def _check(self, messages: list[Message]) -> None:
        if not self._check_contract:
            return
        with self._check_lock:
            for message in messages[self._checked :]:
                self.invalid += problems(message.topic, message.payload)
            self._checked = max(self._checked, len(messages))
            assert not self.invalid, f"messages that break the contract: {self.invalid[:5]}"

    def wait_for(self, predicate: Callable[[Subscriber], bool], timeout: float = 10.0) -> bool:
        return wait_until(lambda: predicate(self), timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
