"""Keeping secrets out of everything a person reads: logs, status, command results, errors, check-config output.

Two layers, because neither is enough alone:
- every secret the agent knows (the MQTT password however it was given, the user:password of each camera URL)
  is registered when it is read, and any text that contains it, raw or percent-encoded, is masked; this is what
  catches a password holding a space, a '/' or an '@', which no pattern can delimit;
- any `scheme://user:pass@` (also the mistyped `scheme:/` and `scheme:`) is masked by pattern, for URLs that reach
  a message without having been registered (a library's own error text, a config being validated).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"
MIN_SECRET = 3  # shorter "secrets" would mask ordinary words; the URL pattern still covers them in URLs

# The userinfo of a URL runs to the last '@' of the whitespace-free run: a password may hold an unescaped '@'.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*:/{0,3})([^\s@/]*[:@][^\s]*@|[^\s/@]+@)")
_SCHEME = re.compile(r"(?i)^[a-z][a-z0-9+.-]*:/{0,3}")

_lock = threading.Lock()
_known: list[str] = []  # longest first, so a secret containing another is masked whole


def register(secret: object) -> None:
    """Remember SECRET (and its percent-encoded and -decoded forms) so that `mask` hides it everywhere."""
    if secret is None:
        return
    text = str(secret)
    forms = {text, quote(text, safe=""), unquote(text)}
    with _lock:
        for form in forms:
            if len(form) >= MIN_SECRET and form not in _known:
                _known.append(form)
        _known.sort(key=len, reverse=True)


def register_url(url: str) -> None:
    """Remember the credentials of URL (`scheme://user:password@host/...`), if it has any."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return
    rest = url[scheme.end() :]
    if "@" not in rest:
        return
    userinfo = rest[: rest.rindex("@")]
    _user, sep, password = userinfo.partition(":")
    register(password if sep else userinfo)
    register(userinfo)


def mask(text: str) -> str:
    """TEXT with every known secret and every URL's user:password replaced by `***`."""
    with _lock:
        known = list(_known)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def mask_data(value: Any) -> Any:
    """VALUE (JSON-like: dicts, lists, strings) with `mask` applied to every string in it, keys included."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask_data(k): mask_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v) for v in value]
    return value


def forget_all() -> None:
    """Drop every registered secret, so that a test starts from none. A reload does not call it: a password it
    replaced stays masked, which costs nothing."""
    with _lock:
        _known.clear()


class MaskingFilter(logging.Filter):
    """Masks a record's message, arguments and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True
