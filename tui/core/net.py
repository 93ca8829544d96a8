"""Transport plumbing shared by the sign-in and Graph clients: which CAs to trust, and a redacting debug log.

The debug log exists so a user can send it with a bug report, so it must be safe to send: the ``Authorization``
header, cookies and secret-looking query parameters are replaced, and no request or response body is ever written
(token-endpoint bodies carry refresh tokens, client secrets and codes).
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tui.core.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from tui.core.config import Settings

REDACTED = "[redacted]"
_SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-ms-refresh-token"}
_SECRET_PARAMS = {
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "device_code",
}


def verify_for(settings: Settings) -> ssl.SSLContext | bool:
    """System CAs, plus ``settings.ca_bundle`` when given (the emulator's own CA, or a TLS-inspecting proxy's)."""
    if not settings.ca_bundle:
        return True
    ctx = ssl.create_default_context()
    try:
        ctx.load_verify_locations(cafile=str(settings.ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or "not a PEM certificate"
        source = settings.sources.get("ca_bundle", "settings")
        raise ConfigError("ca-bundle", str(settings.ca_bundle), source, f"cannot be loaded: {reason}") from None
    return ctx


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="$,'():\"*")))


def redact_headers(headers: Mapping[str, str] | Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        lower = key.lower()
        if lower in _SECRET_HEADERS or "secret" in lower or "token" in lower:
            scheme = value.split(" ", 1)[0] if lower in {"authorization", "proxy-authorization"} else ""
            value = f"{scheme} {REDACTED}".strip() if scheme and " " in value else REDACTED
        out[key] = value
    return out


class DebugLog:
    """Append-only request log, file mode 0600; one line per request and per response, never a body."""

    _T0 = "graphphoto_t0"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # the folder must exist: a typo must not create directories as root
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))

    def write(self, line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {line}\n")

    def on_request(self, request: httpx.Request) -> None:
        request.extensions[self._T0] = time.monotonic()
        self.write(f"-> {request.method} {redact_url(str(request.url))} headers={redact_headers(request.headers)}")

    def on_response(self, response: httpx.Response) -> None:
        request = response.request
        t0 = request.extensions.get(self._T0)
        ms = f"{(time.monotonic() - t0) * 1000:.0f}ms" if t0 else "?"
        self.write(
            f"<- {response.status_code} {request.method} {redact_url(str(request.url))} {ms} "
            f"headers={redact_headers(response.headers)}"
        )

    def hooks(self, *, is_async: bool) -> dict[str, list[Callable[..., Any]]]:
        if not is_async:
            return {"request": [self.on_request], "response": [self.on_response]}

        async def on_request(request: httpx.Request) -> None:
            self.on_request(request)

        async def on_response(response: httpx.Response) -> None:
            self.on_response(response)

        return {"request": [on_request], "response": [on_response]}


_LOGS: dict[Path, DebugLog] = {}


def event_hooks(settings: Settings, *, is_async: bool) -> dict[str, list[Callable[..., Any]]]:
    """httpx ``event_hooks`` writing to ``settings.debug_log`` (``--debug FILE``); empty when it is off."""
    if not settings.debug_log:
        return {}
    path = Path(settings.debug_log).expanduser().resolve()
    if path not in _LOGS:
        try:
            _LOGS[path] = DebugLog(path)
        except OSError as exc:
            source = settings.sources.get("debug_log", "settings")
            raise ConfigError("debug", str(path), source, f"cannot be written: {exc.strerror}") from None
    return _LOGS[path].hooks(is_async=is_async)


def sync_client(settings: Settings, *, timeout: float = 30.0) -> httpx.Client:
    """The blocking client MSAL uses: same CA trust and debug log as the Graph client."""
    import httpx

    class MsalClient(httpx.Client):
        """MSAL speaks requests: form values may be bytes (the client assertion), which httpx would send as
        ``b'...'``. Decode them."""

        def post(self, url: Any, *, data: Any = None, **kwargs: Any) -> httpx.Response:
            if isinstance(data, dict):
                data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
            return super().post(url, data=data, **kwargs)

    from tui import __version__

    return MsalClient(
        headers={"User-Agent": f"graphphoto-tui/{__version__}"},
        verify=verify_for(settings),
        timeout=httpx.Timeout(timeout, connect=10.0),
        event_hooks=event_hooks(settings, is_async=False),
        follow_redirects=False,
    )
