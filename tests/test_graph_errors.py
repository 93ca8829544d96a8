"""Every row of the reference's error table becomes the sentence a user can act on.

The emulator produces most shapes; the odd ones (lower-case or missing ``innerError``, text/plain and HTML bodies,
``UnknownError`` with JSON inside ``message``) are served here by a tiny loopback server that answers exactly the
bytes given, so the GraphClient parses them from a real socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tui.core.auth import Authenticator
from tui.core.config import load_settings
from tui.core.errors import EXIT_NOT_FOUND, EXIT_REFUSED_INPUT, AuthError, GraphError
from tui.core.graph import MAX_ATTEMPTS, GraphClient, ImageRefused, NoPhoto, UserNotFound

TOKEN = "eyJhbGciOiJub25lIn0.eyJzY3AiOiJVc2VyLlJlYWRXcml0ZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"
Canned = tuple[int, dict[str, str], bytes]


def graph_body(code: str, message: str = "", inner_key: str | None = "innerError", rid: str = "rid-1") -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner_key:
        error[inner_key] = {"date": "2026-12-03T10:00:00", "request-id": rid, "client-request-id": rid}
    return json.dumps({"error": error}).encode()


JSON = {"Content-Type": "application/json"}


class RawServer(ThreadingHTTPServer):
    """Answers each (method, path) with the next canned response; the last one repeats."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[tuple[str, str], list[Canned]] = {}
        self.hits: list[tuple[str, str, dict[str, str]]] = []

    def route(self, method: str, path: str, *responses: Canned) -> None:
        self.routes[(method, path)] = list(responses)


class _Handler(BaseHTTPRequestHandler):
    server: RawServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        self.server.hits.append((self.command, self.path, dict(self.headers)))
        queue = self.server.routes.get((self.command, path)) or [(404, JSON, graph_body("NoRoute", path))]
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_PATCH = do_DELETE = _answer


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(raw: RawServer, **kw: Any) -> GraphClient:
    settings = load_settings(
        {"graph_url": f"http://127.0.0.1:{raw.server_address[1]}"},
        env={"GRAPHPHOTO_ACCESS_TOKEN": TOKEN, "GRAPHPHOTO_MAX_RETRY_WAIT": "5"},
    )
    graph = GraphClient(settings, Authenticator(settings), **kw)
    graph.backoff = 0.01  # keep the jittered backoff, at test speed
    return graph


def _rid(rid: str) -> dict[str, str]:
    return {**JSON, "request-id": rid}


PHOTO = "/v1.0/me/photo"
VALUE = "/v1.0/me/photo/$value"
OTHER_VALUE = "/v1.0/users/u-2/photo/$value"


def meta(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def unknown(inner: str, inner_key: str | None = "innerError") -> bytes:
    return graph_body("UnknownError", inner, inner_key)


@pytest.mark.parametrize(
    ("status", "body", "state", "reason_word"),
    [
        (404, graph_body("ImageNotFound", "Exception of type ImageNotFoundException was thrown."), "none", None),
        (404, graph_body("ErrorItemNotFound", "The specified object was not found in the store."), "none", None),
        (200, meta(**{"@odata.mediaEtag": '"E1"', "id": "1x1", "width": 1, "height": 1}), "none", None),
        (200, meta(**{"@odata.mediaContentType": "image/gif", "@odata.mediaEtag": '"E2"'}), "none", None),
        (200, meta(**{"@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": ""}), "none", None),
        (404, graph_body("ErrorNonExistentMailbox", "No mailbox."), "unavailable", "mailbox"),
        (404, graph_body("MailboxNotHostedInExchangeOnline", "On-premises."), "unavailable", "mailbox"),
        (400, graph_body("AuthenticationError", "Error authenticating with resource."), "unavailable", "mailbox"),
        (400, unknown('{"error": {"code": "NoPermissionsInAccessToken", "message": "x"}}'), "unavailable", "guest"),
        (401, unknown('{"error":{"code":"ErrorUserResolutionFailedUserDoesNotExist"}}', None), "unavailable", "B2C"),
        (400, unknown('{"Code":"OrganizationFromTenantGuidNotFound"}', "innererror"), "unavailable", "tenant"),
    ],
)  # fmt: skip
async def test_no_photo_and_unavailable_are_states_not_errors(
    raw: RawServer, status: int, body: bytes, state: str, reason_word: str | None
) -> None:
    raw.route("GET", PHOTO, (status, JSON, body))
    async with client(raw) as graph:
        result = await graph.photo_status()
    assert result.state == state
    if reason_word:
        assert reason_word in (result.reason or "")
        assert "\n" not in (result.reason or "")


async def test_photo_status_reads_size_and_etag_not_the_id(raw: RawServer) -> None:
    meta = {"@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": '"AB12"', "id": "Default", "width": 432}
    raw.route("GET", PHOTO, (200, JSON, json.dumps({**meta, "height": 432}).encode()))
    async with client(raw) as graph:
        result = await graph.photo_status()
    assert result.state == "photo"
    assert result.meta is not None and (result.meta.width, result.meta.height, result.meta.etag) == (432, 432, '"AB12"')


HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
PLAIN = {"Content-Type": "text/plain", "request-id": "r-txt"}
DENIED = graph_body("Authorization_RequestDenied", "Insufficient privileges.", "innererror", "r-lc")
# fmt: off
ROWS = [
    # method, path, canned response, call, error class, words in the sentence, code, request-id
    ("GET", VALUE, (404, JSON, graph_body("ImageNotFound", rid="r-4")), "get", NoPhoto, "no photo", "ImageNotFound",
     "r-4"),
    ("PUT", VALUE, (400, JSON, graph_body("ValidationWidthTooSmall")), "put", ImageRefused, "too small",
     "ValidationWidthTooSmall", "rid-1"),
    ("PUT", VALUE, (403, JSON, graph_body("ErrorAccessDenied")), "put", GraphError, "User.ReadWrite",
     "ErrorAccessDenied", "rid-1"),
    ("PUT", OTHER_VALUE, (403, JSON, graph_body("ErrorAccessDenied")), "put-other", GraphError, "People Administrator",
     "ErrorAccessDenied", "rid-1"),
    ("GET", "/v1.0/users/u-2", (403, JSON, DENIED), "profile-other", GraphError, "User.Read.All",
     "Authorization_RequestDenied", "r-lc"),
    ("GET", "/v1.0/users/u-2", (404, JSON, graph_body("Request_ResourceNotFound")), "profile-other", UserNotFound,
     "no such user", "Request_ResourceNotFound", "rid-1"),
    ("PATCH", PHOTO, (405, _rid("r-405"), b""), "put-405", GraphError, "405", None, "r-405"),
    ("PUT", VALUE, (500, JSON, graph_body("ErrorInternalServerError", "The file you chose isn't an image.", None)),
     "put", ImageRefused, "refused this image", "ErrorInternalServerError", None),
    ("GET", "/v1.0/me", (400, PLAIN, b"Bad Request - Invalid URL\r\n"), "profile", GraphError, "Invalid URL", None,
     "r-txt"),
    ("GET", "/v1.0/me", (502, {"Content-Type": "text/html"}, HTML), "profile", GraphError, "HTTP 502", None, None),
    ("GET", "/v1.0/me", (400, JSON, b'{"error": {"code": "BadRequest", "message": "Unsupported query."}}'), "profile",
     GraphError, "Unsupported query", "BadRequest", None),
]
# fmt: on


@pytest.mark.parametrize(("method", "path", "canned", "call", "kind", "words", "code", "rid"), ROWS)
async def test_error_rows_become_one_sentence(
    raw: RawServer,
    method: str,
    path: str,
    canned: Canned,
    call: str,
    kind: type[GraphError],
    words: str,
    code: str | None,
    rid: str | None,
) -> None:
    raw.route(method, path, canned)
    async with client(raw) as graph:
        with pytest.raises(kind) as info:
            if call == "get":
                await graph.get_photo()
            elif call in {"put", "put-other"}:
                await graph.upload_photo(b"\xff\xd8jpeg" * 100, "u-2" if call == "put-other" else None)
            elif call == "put-405":
                await graph._send("PATCH", "/me/photo", other=False, action="write")
            elif call == "profile-other":
                await graph.get_profile("u-2")
            else:
                await graph.get_profile()
    err = info.value
    text = str(err)
    assert words in text
    assert "\n" not in text and "<html" not in text and TOKEN not in text and TOKEN not in repr(err)
    assert (err.code, err.request_id) == (code, rid)
    if rid:
        assert f"request-id {rid}" in text
    # a 502 is worth retrying (GET is idempotent); a refused image or a 4xx never is
    assert len(raw.hits) == (MAX_ATTEMPTS if canned[0] == 502 else 1)


async def test_exit_codes_follow_the_kind_of_failure(raw: RawServer) -> None:
    raw.route("GET", VALUE, (404, JSON, graph_body("ImageNotFound")))
    raw.route("PUT", VALUE, (400, JSON, graph_body("ValidationWidthTooSmall")))
    async with client(raw) as graph:
        with pytest.raises(NoPhoto) as missing:
            await graph.get_photo()
        with pytest.raises(ImageRefused) as refused:
            await graph.upload_photo(b"x" * 10)
    assert (missing.value.exit_code, refused.value.exit_code) == (EXIT_NOT_FOUND, EXIT_REFUSED_INPUT)


async def test_throttling_waits_retry_after_and_says_so(raw: RawServer) -> None:
    throttled = (429, {**JSON, "Retry-After": "1"}, graph_body("TooManyRequests", "Too many requests."))
    busy = (503, {**JSON, "Retry-After": "0"}, graph_body("serviceNotAvailable", "Busy."))
    me = (200, JSON, json.dumps({"id": "u-1", "displayName": "Adele Vance", "userType": "Member"}).encode())
    raw.route("GET", "/v1.0/me", throttled, busy, me)
    waits: list[tuple[float, str]] = []
    async with client(raw, on_retry=lambda s, why: waits.append((s, why))) as graph:
        profile = await graph.get_profile()
    assert profile.display_name == "Adele Vance" and profile.user_type == "Member"
    assert waits == [(1.0, "throttled"), (0.0, "unavailable")]
    assert len(raw.hits) == 3


async def test_throttling_beyond_the_wait_budget_fails_with_a_sentence(raw: RawServer) -> None:
    raw.route("GET", "/v1.0/me", (429, {**JSON, "Retry-After": "60"}, graph_body("TooManyRequests")))
    async with client(raw) as graph:
        with pytest.raises(
            GraphError, match=r"busy \(TooManyRequests\) and asked to wait 60 s more; max_retry_wait"
        ) as info:
            await graph.get_profile()
    assert info.value.status == 429 and len(raw.hits) == 1  # budget is 5 s: no 60 s wait


async def test_throttling_that_never_ends_gives_up_after_the_attempts_and_says_so(raw: RawServer) -> None:
    raw.route("GET", "/v1.0/me", (429, {**JSON, "Retry-After": "0"}, graph_body("TooManyRequests")))
    async with client(raw) as graph:
        with pytest.raises(GraphError, match=rf"busy \(TooManyRequests\) after {MAX_ATTEMPTS * 2} tries over 0 s"):
            await graph.get_profile()
    assert len(raw.hits) == MAX_ATTEMPTS * 2


async def test_env_token_refused_says_get_a_new_one(raw: RawServer) -> None:
    refused = (401, {**JSON, "WWW-Authenticate": "Bearer"}, graph_body("InvalidAuthenticationToken"))
    raw.route("GET", "/v1.0/me", refused)
    async with client(raw) as graph:
        with pytest.raises(AuthError, match="GRAPHPHOTO_ACCESS_TOKEN") as info:
            await graph.get_profile()
    assert TOKEN not in str(info.value)


async def test_next_link_to_another_host_is_not_followed(raw: RawServer) -> None:
    async with client(raw) as graph:
        with pytest.raises(GraphError, match="refusing"):
            await graph.search_users("", next_url="https://evil.example.com/v1.0/users?$skiptoken=x")
    assert raw.hits == []


async def test_upload_sends_one_content_type_and_a_length(raw: RawServer) -> None:
    raw.route("PUT", VALUE, (200, {}, b""))
    async with client(raw) as graph:
        await graph.upload_photo(b"\xff\xd8" + b"x" * 200_000)
    (_, _, headers) = raw.hits[-1]
    assert headers.get("Content-Type") == "image/jpeg" and headers.get("Content-Length") == "200002"
    assert "Transfer-Encoding" not in headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"


async def test_empty_upload_is_refused_before_sending(raw: RawServer) -> None:
    async with client(raw) as graph:
        with pytest.raises(Exception, match="empty"):
            await graph.upload_photo(b"")
    assert raw.hits == []
