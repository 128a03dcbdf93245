"""Where the model file lives, and installing it safely.

Resolution order: the config's `detector.model`, else $CAMHUB_MODEL, else
`models/detect.tflite` in the state directory ($CAMHUB_STATE_DIR, else systemd's
$STATE_DIRECTORY, else /var/lib/camhub-agent)."""

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

from agent.errors import StartupError

log = logging.getLogger(__name__)

DEFAULT_MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-assets/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_no_metadata.tflite"
)
DEFAULT_MODEL_SHA256 = "e4b118e5e4531945de2e659742c7c590f7536f8d0ed26d135abcfe83b4779d13"
MODEL_FILENAME = "detect.tflite"


class ModelError(StartupError):
    """No usable model file, or a download that failed."""


def state_dir() -> Path:
    for var in ("CAMHUB_STATE_DIR", "STATE_DIRECTORY"):
        value = os.environ.get(var)
        if value:
            return Path(value.split(":")[0])  # systemd may list several directories
    return Path("/var/lib/camhub-agent")


def default_model_path() -> Path:
    return state_dir() / "models" / MODEL_FILENAME


def resolve_model(configured: Path | None) -> Path:
    """The model file to load; ModelError says how to get one when there is none."""
    candidates = [configured] if configured else []
    if not candidates and os.environ.get("CAMHUB_MODEL"):
        candidates.append(Path(os.environ["CAMHUB_MODEL"]))
    candidates = candidates or [default_model_path()]
    path = candidates[0]
    if not path.is_file():
        raise ModelError(f"model file {path} not found: run `camhub-agent model fetch`, or set detector.model")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_model(
    dest: Path,
    url: str | None = None,
    file: Path | None = None,
    sha256: str = DEFAULT_MODEL_SHA256,
    timeout: float = 60.0,
) -> Path:
    """Download URL (or copy FILE), check its sha256 and install it at DEST
    atomically: DEST is either the old file or the complete, verified new one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if file is not None:
                with file.open("rb") as src:
                    shutil.copyfileobj(src, out)
            else:
                _download(url or DEFAULT_MODEL_URL, out, timeout)
            out.flush()
            os.fsync(out.fileno())
        actual = sha256_of(tmp)
        if actual != sha256.lower():
            raise ModelError(f"sha256 mismatch: got {actual}, expected {sha256.lower()}; the file was not installed")
        tmp.chmod(0o644)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("installed model %s (sha256 %s)", dest, sha256)
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
