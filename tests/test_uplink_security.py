"""Credentials, TLS and ACLs against a real Mosquitto."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import MQTTConfig
from agent.configfile import load_config
from agent.uplink.security import resolve_password
from tests.broker import PKI, Broker, Subscriber, make_password_file, wait_until
from tests.uplink_driver import event_id, make_event
from tests.uplink_helpers import UplinkFactory, connected, events, got_all

ROOT = "camhub/hub1"
SECRET = "s3cret-Pa55"


@pytest.fixture
def secured(brokers: Callable[..., Broker], tmp_path: Path) -> Broker:
    users = make_password_file(tmp_path / "passwd", {"hub1": SECRET, "watcher": "watch"})
    return brokers(password_file=users).start()


def test_wrong_password_is_refused_reported_retried_and_never_logged(
    secured: Broker, uplinks: UplinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    uplink, spool = uplinks(secured.port, username="hub1", password="wrong-" + SECRET, reconnect_max_delay=1.0)
    uplink.send_event(make_event("cam1", "pw", 0))
    assert wait_until(lambda: uplink.connection()["attempts"] >= 3, 15)  # retried, with backoff
    state = uplink.connection()
    assert not state["connected"]
    assert "refused the connection" in state["last_error"] and "check mqtt.username" in state["last_error"]
    assert "Not authorized" in state["last_error"] or "Bad user name or password" in state["last_error"]
    assert spool.stats()["depth"] == 1  # the event waits in the spool
    assert SECRET not in caplog.text and "refused the connection" in caplog.text


@pytest.mark.parametrize("source", ["inline", "file", "systemd-credential", "env"])
def test_right_password_from_each_source_delivers(
    secured: Broker, subscribers: Callable[..., Subscriber], uplinks: UplinkFactory, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, source: str,
) -> None:
    options: dict[str, object] = {"username": "hub1"}
    if source == "inline":
        options["password"] = SECRET
    elif source == "file":
        (tmp_path / "pw").write_text(SECRET + "\n")
        options["password_file"] = str(tmp_path / "pw")
    elif source == "systemd-credential":
        (tmp_path / "mqtt-password").write_text(SECRET)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    else:
        config = tmp_path / "hub.yaml"
        config.write_text(textwrap.dedent("""\
            hub_id: hub1
            cameras: [{id: cam1, source: "rtsp://127.0.0.1:8554/cam1"}]
            mqtt: {username: hub1, password: "${MQTT_PASSWORD}"}
        """))
        mqtt = load_config(config, environ={"MQTT_PASSWORD": SECRET}).mqtt
        assert resolve_password(mqtt, environ={}) == SECRET and SECRET not in repr(mqtt)
        return
    sub = subscribers(secured.port, f"{ROOT}/+/events", username="watcher", password="watch")
    uplink, _ = uplinks(secured.port, **options)
    assert connected(uplink), uplink.connection()
    uplink.send_event(make_event("cam1", "pw", 1))
    assert sub.wait_for(got_all({event_id("cam1", "pw", 1)}))


def test_systemd_credential_is_only_a_fallback(tmp_path: Path) -> None:
    (tmp_path / "mqtt-password").write_text("from-systemd")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert resolve_password(MQTTConfig(password="inline"), env) == "inline"
    assert resolve_password(MQTTConfig(), env) == "from-systemd"
    assert resolve_password(MQTTConfig(), {}) is None


@pytest.fixture
def tls_broker(brokers: Callable[..., Broker], pki: PKI) -> Broker:
    return brokers(tls=pki).start()


def test_tls_with_the_test_ca_delivers(
    tls_broker: Broker, pki: PKI, subscribers: Callable[..., Subscriber], uplinks: UplinkFactory
) -> None:
    sub = subscribers(tls_broker.port, f"{ROOT}/+/events", ca_cert=pki.ca_cert)
    uplink, _ = uplinks(tls_broker.port, tls={"enabled": True, "ca_file": str(pki.ca_cert)})
    assert connected(uplink), uplink.connection()
    uplink.send_event(make_event("cam2", "tls", 0))
    assert sub.wait_for(got_all({event_id("cam2", "tls", 0)}))


@pytest.mark.parametrize("ca", ["other", "system"])
def test_tls_client_that_does_not_trust_the_ca_is_refused_and_says_why(
    tls_broker: Broker, pki: PKI, uplinks: UplinkFactory, ca: str
) -> None:
    tls: dict[str, object] = {"enabled": True}
    if ca == "other":
        tls["ca_file"] = str(pki.other_ca_cert)
    uplink, _ = uplinks(tls_broker.port, tls=tls)
    assert wait_until(lambda: uplink.connection()["last_error"] is not None, 10)
    error = uplink.connection()["last_error"]
    assert not uplink.connection()["connected"]
    assert "TLS certificate rejected" in error
    assert "unable to get local issuer certificate" in error or "self-signed certificate in certificate chain" in error


def test_tls_hostname_is_checked_unless_insecure(
    brokers: Callable[..., Broker], pki: PKI, uplinks: UplinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broker = brokers(tls=pki, host="127.0.0.2").start()  # the certificate names 127.0.0.1 and localhost only
    checked, _ = uplinks(broker.port, host="127.0.0.2", tls={"enabled": True, "ca_file": str(pki.ca_cert)})
    assert wait_until(lambda: checked.connection()["last_error"] is not None, 10)
    assert "mismatch, certificate is not valid for '127.0.0.2'" in checked.connection()["last_error"]
    caplog.set_level(logging.WARNING)
    insecure, _ = uplinks(broker.port, host="127.0.0.2",
                          tls={"enabled": True, "ca_file": str(pki.ca_cert), "insecure": True})
    assert connected(insecure), insecure.connection()
    assert "insecure" in caplog.text


def test_tls_client_certificate_required_by_the_broker(
    brokers: Callable[..., Broker], pki: PKI, uplinks: UplinkFactory
) -> None:
    broker = brokers(tls=pki, require_certificate=True).start()
    without, _ = uplinks(broker.port, tls={"enabled": True, "ca_file": str(pki.ca_cert)})
    with_cert, _ = uplinks(broker.port, tls={"enabled": True, "ca_file": str(pki.ca_cert),
                                             "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)})
    assert connected(with_cert), with_cert.connection()
    assert wait_until(lambda: without.connection()["attempts"] >= 2, 10)
    assert not without.connection()["connected"] and without.connection()["last_error"]


def test_acl_denying_events_surfaces_the_mqtt5_reason_and_keeps_them(
    brokers: Callable[..., Broker], subscribers: Callable[..., Subscriber], uplinks: UplinkFactory, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mosquitto 2.0.11 answers a denied MQTT 5 publish with PUBACK 0x87 and then drops the connection:
    the refused topic is held and probed with one event at growing intervals; other topics keep flowing."""
    monkeypatch.setattr("agent.uplink.mqtt.REFUSAL_RETRY_S", 2.0)
    monkeypatch.setattr("agent.uplink.mqtt.HOUSEKEEPING_S", 0.2)
    users = make_password_file(tmp_path / "passwd", {"hub1": SECRET, "watcher": "watch"})
    acl = tmp_path / "acl"
    rules = [
        "user hub1", f"topic readwrite {ROOT}/availability", f"topic readwrite {ROOT}/status",
        f"topic read {ROOT}/cmd/#", f"topic write {ROOT}/cmd/+/result", f"topic write {ROOT}/cam2/events",
        "user watcher", "topic read camhub/#",
    ]
    acl.write_text("\n".join(rules) + "\n")
    broker = brokers(password_file=users, acl_file=acl).start()
    sub = subscribers(broker.port, f"{ROOT}/+/events", username="watcher", password="watch")
    uplink, spool = uplinks(broker.port, username="hub1", password=SECRET, protocol="5", reconnect_max_delay=1.0)
    assert connected(uplink)
    for i in range(3):
        uplink.send_event(make_event("cam1", "acl", i))
        uplink.send_event(make_event("cam2", "acl", i))
    allowed = {event_id("cam2", "acl", i) for i in range(3)}
    assert sub.wait_for(got_all(allowed), 15)  # the allowed camera is not blocked
    assert wait_until(lambda: uplink.connection()["refused"] >= 1, 10)
    state = uplink.connection()
    assert "Not authorized (0x87)" in state["last_refusal"] and state["refused_topics"] == [f"{ROOT}/cam1/events"]
    assert wait_until(lambda: spool.stats()["held"] == 3 and spool.stats()["depth"] == 3, 10)
    assert wait_until(lambda: uplink.connection()["refused"] >= 2, 10)  # probed again, after a wait

    acl.write_text("\n".join([*rules[:6], f"topic write {ROOT}/cam1/events", *rules[6:]]) + "\n")
    broker.reload()  # the operator fixes the ACL: the next probe is accepted and the held events follow
    assert sub.wait_for(got_all({event_id("cam1", "acl", i) for i in range(3)}), 20)
    assert all(e.historical for e in events(sub) if e.camera == "cam1")  # held back, so late
    assert wait_until(lambda: spool.stats()["depth"] == 0, 5)
    assert uplink.connection()["refused_topics"] == []
    assert uplink.connection()["refused"] <= 6  # probes at doubling intervals, never a retry storm
