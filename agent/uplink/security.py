"""Credentials and TLS for the broker connection. Secrets are read here and never logged."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from pathlib import Path

from agent import secrets
from agent.config import MQTTConfig, TLSConfig

log = logging.getLogger(__name__)

CREDENTIAL_NAME = "mqtt-password"  # systemd: LoadCredential=mqtt-password:/etc/camhub/mqtt-password


def resolve_password(mqtt: MQTTConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The broker password: `password` (already `${ENV}`-substituted), else
    `password_file`, else the systemd credential `mqtt-password`; None if none is given."""
    if mqtt.password is not None:
        return mqtt.password.get_secret_value()
    if mqtt.password_file is not None:
        return _read_secret(mqtt.password_file)
    env = os.environ if environ is None else environ
    directory = env.get("CREDENTIALS_DIRECTORY")
    if directory and (Path(directory) / CREDENTIAL_NAME).is_file():
        return _read_secret(Path(directory) / CREDENTIAL_NAME)
    return None


def _read_secret(path: Path) -> str | None:
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        log.error("cannot read the MQTT password from %s: %s; connecting without it", path, reason)
        return None
    secrets.register(secret)
    return secret


class TLSFileError(ValueError):
    """A certificate or key file that cannot be loaded; KEY names its key under mqtt.tls."""

    def __init__(self, key: str, path: Path | None, problem: str) -> None:
        super().__init__(f"mqtt.tls.{key}: {path} {problem}")
        self.key = key
        self.problem = problem


def tls_context(tls: TLSConfig) -> ssl.SSLContext | None:
    """A client context: TLS 1.2 or newer, server certificate and hostname checked
    (hostname only skipped with `insecure`); None when TLS is off.
    Raises TLSFileError naming the file when a certificate or key cannot be loaded."""
    if not tls.enabled:
        return None
    try:
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise TLSFileError("ca_file", tls.ca_file, _unloadable(exc, "PEM CA certificate")) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.cert_file is not None:
        try:
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        except (OSError, ssl.SSLError) as exc:
            if not _is_certificate(tls.cert_file):
                raise TLSFileError("cert_file", tls.cert_file, _unloadable(exc, "PEM certificate")) from None
            raise TLSFileError("key_file", tls.key_file, _unloadable(exc, "PEM private key of cert_file")) from None
    if tls.insecure:
        context.check_hostname = False
        log.warning(
            "mqtt.tls.insecure is set: the broker's certificate is checked but not its hostname; "
            "anyone holding a certificate from this CA can pose as the broker"
        )
    return context


def _is_certificate(path: Path) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError):
        return False
    return True


def _unloadable(exc: OSError, expected: str) -> str:
    if isinstance(exc, ssl.SSLError) or not exc.strerror:
        return f"cannot be loaded; expected a {expected}"
    return f"cannot be read ({exc.strerror}); expected a {expected}"


def describe_connect_error(exc: BaseException) -> str:
    """A one-line reason for a failed TCP/TLS connection, for logs and status."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"
