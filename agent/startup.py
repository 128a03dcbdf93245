"""What `run` needs before its main loop, checked the same way by `check-config` and `run`.

Each check returns problems as (key path, message); `agent.configfile` gives them
their lines. Whatever `run` would fail on later (and systemd would restart for
ever) is refused here first, with exit status 78.
"""

from __future__ import annotations

import errno
import stat
import tempfile
import unicodedata
from pathlib import Path

from agent.config import HubConfig, is_file_source
from agent.errors import Loc, ModelError, RuntimeUnavailable
from agent.uplink.spool import check_spool_path

Problem = tuple[Loc, str]
MAX_TEXT = 1024 * 1024  # a label map or a password file is far smaller; bounds what is read to check it


def file_problems(config: HubConfig) -> list[Problem]:
    """The files the config names exist, are regular files this user can read, and hold what they should.
    Cheap and free of side effects: every load of the config runs them."""
    d, tls = config.detector, config.mqtt.tls
    model = d.model if isinstance(d.model, Path) else None  # a catalog name is resolved when the model loads
    files: list[tuple[Loc, Path | None]] = [
        (("detector", "model"), model),
        (("detector", "labels"), d.labels),
        (("mqtt", "password_file"), config.mqtt.password_file),
        (("mqtt", "tls", "ca_file"), tls.ca_file),
        (("mqtt", "tls", "cert_file"), tls.cert_file),
        (("mqtt", "tls", "key_file"), tls.key_file),
    ]
    files += [
        (("cameras", i, "source"), Path(cam.source))
        for i, cam in enumerate(config.cameras)
        if is_file_source(cam.source)
    ]
    problems = [(loc, why) for loc, path in files if path is not None and (why := _unreadable(path))]
    if problems:
        return problems
    if model is not None and not _is_tflite(model):
        problems.append((("detector", "model"), f"file {model} is not a TFLite model (no TFL3 header)"))
    if d.labels is not None and (why := _not_text(d.labels, "one label per line")):
        problems.append((("detector", "labels"), why))
    if config.mqtt.password_file is not None and (why := _not_text(config.mqtt.password_file, "the password")):
        problems.append((("mqtt", "password_file"), why))
    return problems


def run_problems(config: HubConfig) -> list[Problem]:
    """What `run` does next with those files: load the model into the runtime, load the TLS
    certificates with `ssl`, and make sure the spool file can be created and written."""
    return _model_problems(config) + _tls_problems(config) + _spool_problems(config.spool.path)


def _unreadable(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            return f"{path} is a directory; expected a file"
        if not stat.S_ISREG(mode):
            return f"{path} is not a regular file; expected a file"
        with path.open("rb") as f:
            f.read(1)
    except FileNotFoundError:
        return f"file {path} does not exist; expected a readable file"
    except OSError as exc:
        return f"file {path} cannot be read ({exc.strerror}); expected a readable file"
    return None


def _is_tflite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def _not_text(path: Path, expected: str) -> str | None:
    """Why PATH is not a small UTF-8 text file with something in it, or None."""
    with path.open("rb") as f:
        data = f.read(MAX_TEXT + 1)
    if len(data) > MAX_TEXT:
        return f"{path} is larger than {MAX_TEXT // 1024} KB; expected a small text file with {expected}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"{path} line {line} is not UTF-8 text (a binary file?); expected a text file with {expected}"
    for number, line in enumerate(text.splitlines(), 1):
        if any(unicodedata.category(ch) == "Cc" and ch != "\t" for ch in line):
            return f"{path} line {number} holds control characters (binary?); expected a text file with {expected}"
    if not text.strip():
        return f"{path} is empty; expected a text file with {expected}"
    return None


def _model_problems(config: HubConfig) -> list[Problem]:
    from agent.detect.detector import Detector  # numpy, OpenCV and the runtime: only when the model is loaded
    from agent.detect.model import resolve_model

    d = config.detector
    try:
        model = resolve_model(d.model)
    except ModelError as exc:
        return [(("detector", "model"), str(exc))]
    if not isinstance(d.model, Path):  # a catalog name or the default, which file_problems did not see
        why = _unreadable(model) or (None if _is_tflite(model) else f"file {model} is not a TFLite model")
        if why:
            return [(("detector", "model"), why)]
    try:
        Detector.from_config(d)
    except RuntimeUnavailable as exc:
        return [(("detector", "runtime"), f"{exc}; expected ai-edge-litert or tflite-runtime installed")]
    except ModelError as exc:  # a layout the agent cannot read: the message says what it found and expects
        return [(("detector", "model"), str(exc))]
    except Exception as exc:  # whatever the runtime raises on this file, `run` would fail on it the same way
        why = " ".join(str(exc).split()) or type(exc).__name__
        expected = "expected a TFLite detector (see camhub-agent model list)"
        return [(("detector", "model"), f"{model} cannot be loaded: {why}; {expected}")]
    return []


def _tls_problems(config: HubConfig) -> list[Problem]:
    from agent.uplink.security import TLSFileError, tls_context

    try:
        tls_context(config.mqtt.tls)
    except TLSFileError as exc:
        return [(("mqtt", "tls", exc.key), f"{getattr(config.mqtt.tls, exc.key)} {exc.problem}")]
    return []


# A full, read-only or failing disk is a state of the machine, not a mistake in the config.
_DISK_STATES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def _spool_problems(path: Path) -> list[Problem]:
    """The spool file must be a writable file, or creatable: its directory (or the nearest one
    that exists, since `run` creates the missing ones) must take a new file."""
    loc: Loc = ("spool", "path")
    problem = check_spool_path(path)  # the spool's own rule: what it would refuse to open
    if problem is not None:
        return [(loc, problem)]
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir():
        return [(loc, f"{path} cannot be created: {directory} is not a directory; expected a path the agent can write")]
    try:
        if path.exists():
            path.open("ab").close()
        with tempfile.TemporaryFile(dir=directory):
            pass  # the SQLite journal files beside it need the same
    except OSError as exc:
        if exc.errno in _DISK_STATES:
            return []  # the spool waits these out while running: refusing to start would keep the hub down
        why = f"no file can be made in {directory} ({exc.strerror})"
        return [(loc, f"{path} cannot be created: {why}; expected a path the agent can write")]
    return []
