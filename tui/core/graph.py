"""The Microsoft Graph client: typed methods for what the app does, with retries and one error type.

Every failure becomes a :class:`GraphError` whose sentence a user can act on (with Graph's code, the HTTP status
and the ``request-id`` kept for reports). "No photo" is not an error: :meth:`GraphClient.photo_status` returns it
as a state. Retries follow the reference: 429/503 wait ``Retry-After`` within a bounded budget, transport errors
and 5xx are retried with jittered backoff for idempotent requests only, and a 401 refreshes the token once.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
import re
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from tui import __version__
from tui.core.auth import ADMIN_SCOPES, OWN_SCOPES, TokenSource
from tui.core.config import command_hint
from tui.core.errors import (
    EXIT_NOT_FOUND,
    EXIT_REFUSED_INPUT,
    EXIT_SIGN_IN,
    GraphError,
    GraphPhotoError,
    ImageError,
    NetworkError,
)
from tui.core.imaging import MAX_UPLOAD_BYTES  # Graph's limit; the pipeline encodes under it
from tui.core.models import PhotoMeta, PhotoStatus, Profile, UserPage, same_etag
from tui.core.net import event_hooks, verify_for

if TYPE_CHECKING:
    from tui.core.config import Settings

ProgressCallback = Callable[[int, int], None]
RetryCallback = Callable[[float, str], None]

#: Retries of requests made by the current task go here instead of the client's ``on_retry``: the update screen
#: shows "retrying in Ns" beside its progress bar, while a background sync's retries still reach the app.
retry_listener: contextvars.ContextVar[RetryCallback | None] = contextvars.ContextVar("retry_listener", default=None)

CHUNK = 64 * 1024
MAX_ATTEMPTS = 4
PROFILE_FIELDS = (
    "id,displayName,jobTitle,mail,userPrincipalName,givenName,surname,mobilePhone,businessPhones,"
    "officeLocation,userType"
)
_NO_PHOTO = {"ImageNotFound", "ErrorItemNotFound"}
_NO_MAILBOX = {"ErrorNonExistentMailbox", "MailboxNotHostedInExchangeOnline", "AuthenticationError"}
_REFUSED_500 = {"ErrorInternalServerError", "ErrorStoreInternalServerError"}
_USER_NOT_FOUND = {"Request_ResourceNotFound", "ResourceNotFound", "ErrorInvalidUser", "UserNotFound"}
_INNER_SENTENCES = {
    "NoPermissionsInAccessToken": "Graph serves no photo for this account (guest accounts have none here)",
    "ErrorUserResolutionFailedUserDoesNotExist": "the photo service cannot find this account's mailbox "
    "(guest or B2C account)",
    "OrganizationFromTenantGuidNotFound": "the photo service does not know this tenant (B2C, or no Exchange Online)",
}
_ADMIN_ROLES = "People Administrator, User Administrator or Global Administrator"


class NoPhoto(GraphError):
    """The user has no photo (404 ImageNotFound): an empty state for the app, exit 4 for scripts."""

    exit_code = EXIT_NOT_FOUND


class PhotoUnavailable(GraphError):
    """The photo service cannot serve this account at all (no cloud mailbox, guest, B2C)."""

    exit_code = EXIT_NOT_FOUND


class UserNotFound(GraphError):
    exit_code = EXIT_NOT_FOUND


class ImageRefused(GraphError):
    exit_code = EXIT_REFUSED_INPUT


class SignInRejected(GraphError):
    """Graph refused the token even after a refresh: a new sign-in is needed."""

    exit_code = EXIT_SIGN_IN


# --- error mapping ------------------------------------------------------------------------------------


def _ci_get(data: Mapping[str, Any], key: str) -> Any:
    """Graph's inner keys change case between services (``innerError``, ``innererror``, ``InnerError``)."""
    for k, v in data.items():
        if k.lower() == key.lower():
            return v
    return None


def _decode(body: bytes, content_type: str) -> tuple[str | None, str, Mapping[str, Any]]:
    """(code, message, inner) from any error body: Graph JSON, OAuth-style JSON, JSON in a message, or not JSON."""
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        text = body.decode("utf-8", "replace").strip() if body else ""
        if "html" in content_type or text.lstrip().startswith("<"):
            text = ""
        return None, " ".join(text.split())[:120], {}
    err = _ci_get(data, "error")
    if isinstance(err, str):  # OAuth style: {"error": "invalid_token", "error_description": "..."}
        return err, str(data.get("error_description") or ""), {}
    if not isinstance(err, dict):
        return _ci_get(data, "code"), str(_ci_get(data, "message") or ""), {}
    code = _ci_get(err, "code")
    message = str(_ci_get(err, "message") or "")
    inner = _ci_get(err, "innerError")
    inner = inner if isinstance(inner, dict) else {}
    if message.lstrip().startswith("{"):  # UnknownError carrying the real error as JSON text
        inner_code, inner_message, _ = _decode(message.encode(), "application/json")
        if inner_code:
            return str(code) if code else None, inner_message, {**inner, "code": inner_code}
    return (str(code) if code else None), message, inner


def _first_sentence(message: str) -> str:
    text = " ".join(message.split())
    text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".")
    return text if len(text) <= 140 else text[:137] + "..."


def error_from_response(
    response: httpx.Response,
    body: bytes,
    *,
    action: str = "read",
    other: bool = False,
    app_only: bool = False,
    login: str = "graphphoto-tui login",
    gave_up: str = "",
) -> GraphError:
    """Map one failed response to the GraphError a user can act on (every row of the reference's table).

    ``gave_up``: why retrying a 429/503 stopped, as the retry loop knows it.
    """
    status = response.status_code
    code, message, inner = _decode(body, response.headers.get("content-type", ""))
    inner_code = inner.get("code") if isinstance(inner.get("code"), str) else None
    request_id = (
        _ci_get(inner, "request-id") or response.headers.get("request-id") or response.headers.get("client-request-id")
    )
    shown = inner_code or code or f"HTTP {status}"

    def make(cls: type[GraphError], sentence: str) -> GraphError:
        return cls(sentence, status=status, code=inner_code or code, request_id=request_id)

    if inner_code in _INNER_SENTENCES:
        return make(PhotoUnavailable, f"{_INNER_SENTENCES[inner_code]} ({inner_code})")
    if code in _NO_PHOTO or (status == 404 and "ImageNotFound" in message):
        return make(NoPhoto, "this user has no photo yet")
    if code in _NO_MAILBOX:
        return make(
            PhotoUnavailable,
            f"the photo service is unavailable for this account: it has no Exchange Online mailbox ({code}); "
            "this is not a sign-in problem",
        )
    if code == "ValidationWidthTooSmall":
        return make(ImageRefused, "Graph refused the image as too small: use a larger image (at least 48x48 pixels)")
    if status == 413 or code in {"RequestEntityTooLarge", "ErrorRequestTooLarge", "RequestBodyTooLarge"}:
        return make(ImageRefused, "Graph refused the photo as too large: the limit is 4 MB")
    if status == 401:
        return make(
            SignInRejected,
            f"Graph did not accept the sign-in ({shown}): the token expired or was revoked; "
            f"sign in again with `{login}`",
        )
    if status == 403:
        return make(GraphError, _forbidden(shown, action, other, app_only))
    if status == 404 and (code in _USER_NOT_FOUND or action == "user"):
        return make(UserNotFound, "no such user in this tenant")
    if status == 400 and "/me request is only valid" in message:
        return make(GraphError, "app-only sign-in has no own photo: pass --user to name a user")
    if status == 405:
        return make(GraphError, "Graph refused this method for this address (HTTP 405): a bug in graphphoto-tui")
    if status in {429, 503}:
        return make(GraphError, f"Graph is busy ({shown}) {gave_up or 'and asked to wait too long'}: try again later")
    if status == 500 and code in _REFUSED_500 and action == "write":
        return make(
            ImageRefused,
            f"Graph refused this image ({code}): this mailbox type cannot hold a photo, "
            "or the image is not a valid JPEG",
        )
    if status == 500 and code in _REFUSED_500 and action == "remove":
        return make(GraphError, f"Graph failed to remove the photo ({code}): the mailbox may not allow it; try later")
    detail = _first_sentence(message)
    prefix = f"Graph refused the request ({shown})" if 400 <= status < 500 else f"Graph failed ({shown})"
    return make(GraphError, f"{prefix}: {detail}" if detail else f"{prefix} with no details")


def _forbidden(code: str, action: str, other: bool, app_only: bool) -> str:
    head = f"access denied ({code}): "
    action = "write" if action == "remove" else action  # removing needs exactly what writing needs
    if action == "write" and app_only:
        return head + "the app needs the application permission ProfilePhoto.ReadWrite.All with admin consent"
    if action == "write" and other:
        return head + f"changing someone else's photo needs ProfilePhoto.ReadWrite.All and the {_ADMIN_ROLES} role"
    if action == "write":
        return head + "changing your photo needs User.ReadWrite, and the tenant may forbid photo changes"
    if other or action == "user":
        return head + "reading other users needs User.Read.All (or User.ReadBasic.All)"
    return head + "reading your profile needs User.Read"


def _backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter, so many clients that failed together do not retry together."""
    return min(16 * base, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import datetime, timezone

    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


# --- the client ---------------------------------------------------------------------------------------


class GraphClient:
    """One keep-alive HTTP/1.1 connection pool to Graph ``/v1.0``; safe to share between tasks on one loop."""

    def __init__(
        self,
        settings: Settings,
        auth: TokenSource,
        *,
        on_retry: RetryCallback | None = None,
        verify: ssl.SSLContext | bool | None = None,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.on_retry = on_retry
        self.last_request_id: str | None = None  # of the last success: read right after an await, for audits
        self.backoff = 0.5  # seconds before the first retry of a failed idempotent request
        self.base = f"{settings.graph_base}/v1.0"
        self._ids: dict[str, str] = {}
        self._client = httpx.AsyncClient(
            base_url=self.base,
            verify=verify_for(settings) if verify is None else verify,
            timeout=httpx.Timeout(60.0, connect=10.0),
            headers={"User-Agent": f"graphphoto-tui/{__version__}", "Accept": "application/json"},
            event_hooks=event_hooks(settings, is_async=True),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"GraphClient({self.base!r})"

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- plumbing -------------------------------------------------------------------------------------

    @staticmethod
    def _path(user_id: str | None) -> str:
        return "/me" if user_id is None else f"/users/{quote(user_id, safe='')}"

    @staticmethod
    def _scopes(other: bool) -> tuple[str, ...]:
        return OWN_SCOPES + ADMIN_SCOPES if other else OWN_SCOPES

    async def _token(self, other: bool, force_refresh: bool = False) -> str:
        return await asyncio.to_thread(self.auth.token, self._scopes(other), force_refresh=force_refresh)

    def _notify(self, seconds: float, why: str) -> None:
        listener = retry_listener.get() or self.on_retry
        if listener is not None:
            listener(seconds, why)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        other: bool,
        action: str = "read",
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Callable[[], AsyncIterator[bytes]] | None = None,
        idempotent: bool = True,
    ) -> tuple[httpx.Response, bytes]:
        """Send with retries; return the successful response and its fully read body, or raise GraphError."""
        attempt = 0
        waited = 0.0
        refreshed = False
        force = False
        app_only = bool(getattr(self.settings, "app_only", False))
        while True:
            token = await self._token(other, force_refresh=force)
            force = False
            request = self._client.build_request(
                method,
                url,
                params=params,
                headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                content=body() if body else None,
            )
            attempt += 1
            try:
                response = await self._client.send(request, stream=True)
                try:
                    data = await response.aread()
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                if not idempotent or attempt >= MAX_ATTEMPTS:
                    host = urlsplit(self.base).netloc
                    raise NetworkError(f"cannot reach Microsoft Graph at {host} ({type(exc).__name__})") from None
                delay = _backoff(attempt, self.backoff)
                self._notify(delay, "network")
                await asyncio.sleep(delay)
                continue
            status = response.status_code
            if status < 400:
                self.last_request_id = response.headers.get("request-id")
                return response, data
            code = _decode(data, response.headers.get("content-type", ""))[0]
            if status == 401 and not refreshed and code in {None, "InvalidAuthenticationToken"}:
                refreshed = force = True
                continue
            gave_up = ""  # why a 429/503 is not retried again, for the message
            if status in {429, 503}:
                delay = _retry_after(response)
                delay = _backoff(attempt, self.backoff) if delay is None else delay
                if waited + delay <= self.settings.max_retry_wait and attempt < MAX_ATTEMPTS * 2:
                    waited += delay
                    self._notify(delay, "throttled" if status == 429 else "unavailable")
                    await asyncio.sleep(delay)
                    continue
                if attempt >= MAX_ATTEMPTS * 2:
                    gave_up = f"after {attempt} tries over {waited:.0f} s"
                else:
                    allowed = self.settings.max_retry_wait
                    gave_up = f"and asked to wait {delay:.0f} s more; max_retry_wait allows {allowed} s in all"
            elif status >= 500 and idempotent and attempt < MAX_ATTEMPTS and code not in _REFUSED_500:
                delay = _backoff(attempt, self.backoff)
                self._notify(delay, "unavailable")
                await asyncio.sleep(delay)
                continue
            login = command_hint(self.settings, "login")
            raise error_from_response(
                response,
                data,
                action=action,
                other=other,
                app_only=app_only,
                login=login,
                gave_up=gave_up,
            )

    async def _json(self, url: str, *, other: bool, action: str = "read", **kw: Any) -> dict[str, Any]:
        response, data = await self._send("GET", url, other=other, action=action, **kw)
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise GraphError(
                "Graph sent an answer that is not JSON",
                status=response.status_code,
                request_id=response.headers.get("request-id"),
            )
        return value

    # --- typed methods --------------------------------------------------------------------------------

    async def resolve_user(self, who: str | None) -> str | None:
        """UPN or id -> object id (None = me). Guest UPNs hold '#', some start with '$': both need care."""
        if who is None or who.strip().lower() in {"", "me"}:
            return None
        who = who.strip()
        if who in self._ids:
            return self._ids[who]
        if who.startswith("$"):
            path = "/users('" + quote(who.replace("'", "''"), safe="@$") + "')"
        else:
            path = f"/users/{quote(who, safe='@')}"
        try:
            data = await self._json(path, other=True, action="user", params={"$select": "id"})
        except UserNotFound:
            raise UserNotFound(f"no user '{who}' in this tenant", status=404) from None
        user_id = str(data.get("id") or "")
        if not user_id:
            raise GraphError(f"Graph returned no id for user '{who}'")
        self._ids[who] = user_id
        return user_id

    async def get_profile(self, user_id: str | None = None) -> Profile:
        other = user_id is not None
        data = await self._json(
            self._path(user_id), other=other, action="user" if other else "read", params={"$select": PROFILE_FIELDS}
        )
        return Profile.from_json(data)

    async def photo_status(self, user_id: str | None = None) -> PhotoStatus:
        try:
            data = await self._json(f"{self._path(user_id)}/photo", other=user_id is not None)
        except NoPhoto:
            return PhotoStatus("none")
        except PhotoUnavailable as exc:
            return PhotoStatus("unavailable", reason=exc.sentence)

        def number(key: str) -> int | None:
            value = data.get(key)
            return (
                int(value) if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()) else None
            )

        etag = data.get("@odata.mediaEtag")
        meta = PhotoMeta(
            etag=str(etag) if etag else None,
            width=number("width"),
            height=number("height"),
            content_type=data.get("@odata.mediaContentType"),
        )
        if etag == "" or meta.content_type == "image/gif" or (meta.width, meta.height) == (1, 1):
            return PhotoStatus("none", meta)
        return PhotoStatus("photo", meta)

    async def get_photo(self, user_id: str | None = None) -> tuple[bytes, str | None]:
        """The largest photo's bytes (Graph sends them chunked, without Content-Length) and its ETag."""
        response, data = await self._send(
            "GET", f"{self._path(user_id)}/photo/$value", other=user_id is not None, headers={"Accept": "image/*"}
        )
        if not data:
            raise NoPhoto("this user has no photo yet", status=response.status_code)
        return data, response.headers.get("etag")

    async def upload_photo(
        self, data: bytes, user_id: str | None = None, *, progress: ProgressCallback | None = None
    ) -> None:
        """PUT the JPEG as it is sent, in 64 KiB chunks, reporting progress; retried (PUT is idempotent)."""
        if not data:
            raise ImageError("refusing to upload an empty photo")
        if len(data) > MAX_UPLOAD_BYTES:
            raise ImageError(f"the photo is {len(data) / 1048576:.1f} MB; Graph accepts at most 4 MB")
        total = len(data)

        async def body() -> AsyncIterator[bytes]:
            if progress:
                progress(0, total)
            for start in range(0, total, CHUNK):
                chunk = data[start : start + CHUNK]
                yield chunk  # resumes only once httpx has written this chunk to the socket
                if progress:
                    progress(start + len(chunk), total)

        headers = {"Content-Type": "image/jpeg", "Content-Length": str(total)}
        await self._send(
            "PUT",
            f"{self._path(user_id)}/photo/$value",
            other=user_id is not None,
            action="write",
            headers=headers,
            body=body,
        )

    async def delete_photo(self, user_id: str | None = None) -> None:
        try:
            path = f"{self._path(user_id)}/photo/$value"
            await self._send("DELETE", path, other=user_id is not None, action="remove")
        except NoPhoto:
            return  # already gone (also after a retried DELETE): the outcome the user asked for

    async def search_users(self, text: str, *, next_url: str | None = None, top: int = 25) -> UserPage:
        """Users whose name, mail or UPN starts with ``text`` (all users when empty), one page at a time."""
        if next_url:
            if not next_url.startswith(self.base + "/"):  # never send the token to another host
                raise GraphError("Graph's next-page link points elsewhere; refusing to follow it")
            data = await self._json(next_url, other=True, action="user", headers={"ConsistencyLevel": "eventual"})
        else:
            params = {"$select": PROFILE_FIELDS, "$top": str(top)}
            text = text.strip()
            if text:
                q = text.replace('"', "")
                params["$search"] = f'"displayName:{q}" OR "mail:{q}" OR "userPrincipalName:{q}"'
                params["$count"] = "true"
            data = await self._json(
                "/users", other=True, action="user", params=params, headers={"ConsistencyLevel": "eventual"}
            )
        users = tuple(Profile.from_json(u) for u in data.get("value") or () if isinstance(u, dict))
        link = data.get("@odata.nextLink")
        return UserPage(users, str(link) if link else None)


__all__ = [
    "GraphClient",
    "GraphError",
    "GraphPhotoError",
    "NoPhoto",
    "PhotoMeta",
    "PhotoStatus",
    "PhotoUnavailable",
    "Profile",
    "UserNotFound",
    "UserPage",
    "error_from_response",
    "same_etag",
]
