"""Where the model file lives, and installing it safely.

`detector.model` names a catalog model (installed by `camhub-agent model fetch
NAME` as models/NAME.tflite in the state directory: $CAMHUB_STATE_DIR, else
systemd's $STATE_DIRECTORY, else /var/lib/camhub-agent) or the path of a
.tflite file. Without it: $CAMHUB_MODEL (a name or a path), else the catalog's
default model."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import BinaryIO

from agent.detect.catalog import CATALOG, DEFAULT_MODEL, CatalogEntry
from agent.errors import ModelError

log = logging.getLogger(__name__)


def state_dir() -> Path:
    for var in ("CAMHUB_STATE_DIR", "STATE_DIRECTORY"):
        value = os.environ.get(var)
        if value:
            return Path(value.split(":")[0])  # systemd may list several directories
    return Path("/var/lib/camhub-agent")


def installed_path(name: str) -> Path:
    """Where `model fetch NAME` installs a catalog model."""
    return state_dir() / "models" / f"{name}.tflite"


def resolve_model(configured: str | Path | None) -> Path:
    """The model file to load; ModelError says how to get one when there is none."""
    wanted = configured or os.environ.get("CAMHUB_MODEL") or DEFAULT_MODEL
    if isinstance(wanted, str) and wanted in CATALOG:
        path = installed_path(wanted)
        if not path.is_file():
            raise ModelError(
                f"model {wanted} is not installed ({path} not found): run `camhub-agent model fetch {wanted}`, "
                "or set detector.model"
            )
        return path
    path = Path(wanted)
    if not path.is_file():
        raise ModelError(
            f"model file {path} not found; expected a .tflite file or a catalog name "
            f"({', '.join(CATALOG)}): see `camhub-agent model list`"
        )
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_model(entry: CatalogEntry, url: str | None = None, file: Path | None = None, timeout: float = 60.0) -> Path:
    """Download ENTRY's file (from URL if given: a mirror), or copy FILE, check its sha256 and install
    it atomically: the installed file is either the old one or the complete, verified new one."""
    dest = installed_path(entry.name)
    if file is None and dest.is_file() and sha256_of(dest) == entry.sha256:
        log.info("%s is installed and verified already: %s", entry.name, dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if file is not None:
                with file.open("rb") as src:
                    shutil.copyfileobj(src, out)
            else:
                _download(url or entry.url, out, timeout)
            out.flush()
            os.fsync(out.fileno())
        actual = sha256_of(tmp)
        if actual != entry.sha256:
            raise ModelError(f"sha256 mismatch: got {actual}, expected {entry.sha256}; the file was not installed")
        tmp.chmod(0o644)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("installed model %s at %s (sha256 %s)", entry.name, dest, entry.sha256)
    return dest


def _download(url: str, out: BinaryIO, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "camhub-agent"})
    copied = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        expected = response.headers.get("Content-Length")
        try:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                copied += len(block)
        except http.client.HTTPException as exc:  # IncompleteRead: the server went away mid-file
            raise ModelError(f"download interrupted after {copied} bytes: {exc!r}") from None
    if expected is not None and copied != int(expected):
        raise ModelError(f"download interrupted: got {copied} of {expected} bytes")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
