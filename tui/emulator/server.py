"""HTTPS plumbing: a threaded stdlib server whose handler reads bodies (plain or chunked), applies faults, routes
to the identity or Graph half, writes responses (chunked where Graph chunks) and logs every request.

The stdlib server gives full control over the wire: chunked photo bytes without Content-Length, and connection
resets before, during, or instead of a response.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tui.emulator import graph, identity
from tui.emulator.faults import Fault
from tui.emulator.tenant import MAX_PHOTO_BYTES
from tui.emulator.wire import Request, Response, graph_error, html_page, json_response

if TYPE_CHECKING:
    from tui.emulator.api import Emulator

SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
BODY_CAP = 4 * MAX_PHOTO_BYTES  # beyond this the body is not read at all (answered, then the connection closed)
CHUNK = 16 * 1024


class _Reset(Exception):
    """Raised to abandon a connection with a TCP reset."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emu: Emulator, port: int, context: ssl.SSLContext) -> None:
        self.emu, self.context = emu, context
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake here, in the connection's own thread, so a slow client never blocks ``accept``."""
        request.settimeout(30)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go out as separate writes
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self.conn_lock:
            self.connections.add(tls)
        try:
            Handler(tls, client_address, self)
        except (OSError, ValueError, _Reset):
            pass
        finally:
            with self.conn_lock:
                self.connections.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay silent: in ``--demo`` the server shares the terminal with the app, and a traceback would tear it."""

    def close_connections(self) -> None:
        with self.conn_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    server: Server
    _logged = False

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # the emulator keeps its own JSON log
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # --- wire helpers ----------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True
        raise _Reset

    def _read_body(self) -> bytes | None:
        """The request body (``None`` when it is too large to read); chunked bodies are de-chunked.

        Raises ValueError for a malformed Content-Length or chunk size.
        """
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts) if total <= BODY_CAP else None
                total += size
                data = self.rfile.read(size)
                self.rfile.readline(1024)
                if total <= BODY_CAP:
                    parts.append(data)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > BODY_CAP:
            return None
        data = self.rfile.read(length) if length else b""
        if len(data) < length:  # the client went away mid-body: a real server drops it, never half-applies it
            self.close_connection = True
            raise _Reset
        return data

    def _log(self, record: dict[str, Any]) -> None:
        if not self._logged:
            self._logged = True
            self.server.emu.log_request(record)

    def _send(self, req: Request, resp: Response, fault: Fault | None, record: dict[str, Any]) -> None:
        """Write the response; the request is logged before its last bytes leave, so a client never outruns it."""
        self.send_response(resp.status)
        headers = {"request-id": req.request_id, "client-request-id": req.client_request_id, **resp.headers}
        if req.path.startswith("/v1.0/"):
            headers["x-ms-ags-diagnostic"] = '{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0"}}'
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if resp.content_type:
            headers["Content-Type"] = resp.content_type
        if resp.chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(len(resp.body))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        body = resp.body if req.method != "HEAD" else b""
        record.update(status=resp.status, resp_size=len(body))
        self._log(record)
        self.end_headers()
        if fault is not None and fault.kind == "reset_mid":
            half = body[: max(1, len(body) // 2)]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(half), half) if resp.chunked else half)
            self.wfile.flush()
            self._reset()
        if resp.chunked:
            for i in range(0, len(body), CHUNK):
                piece = body[i : i + CHUNK]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()

    # --- dispatch --------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        emu = self.server.emu
        req = Request(self.command, self.path, self.headers)
        self._logged = False
        fault = emu.faults.pick(req.method, req.path)
        record: dict[str, Any] = {
            "ts": time.time(),
            "method": req.method,
            "path": self.path,
            "status": 0,
            "headers": {k: v for k, v in self.headers.items() if k.lower() not in SECRET_HEADERS},
            "body_size": 0,
            "body_sha256": None,
            "resp_size": 0,
            "fault": fault.kind if fault else None,
            "request_id": req.request_id,
        }
        try:
            if fault is not None and fault.kind == "reset_upload":
                self.rfile.read(min(int(self.headers.get("Content-Length") or 0) // 2, 64 * 1024))  # part of it
                self._reset()
            try:
                body: bytes | None = self._read_body()
            except ValueError:
                self.close_connection = True
                bad = html_page(400, "Bad Request", "<p>Invalid request body framing.</p>")
                return self._send(req, bad, None, record)
            if body is None:
                self.close_connection = True
                resp = graph_error(req, 413, "RequestEntityTooLarge", "Maximum request length exceeded.")
            else:
                req.body = body
                record.update(body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest() if body else None)
                try:
                    resp = self._respond(req, fault)
                except _Reset:
                    raise
                except Exception as exc:  # an emulator bug must still answer, as Graph's 500 would
                    record["error"] = f"{type(exc).__name__}: {exc}"
                    resp = graph_error(req, 500, "InternalServerError", "The emulator failed to process the request.")
            self._send(req, resp, fault, record)
        finally:
            self._log(record)

    def _respond(self, req: Request, fault: Fault | None) -> Response:
        """Apply the picked fault (if any), inside the mailbox's concurrency slot when a limit is set."""
        emu, segs = self.server.emu, req.segments
        if not (emu.faults.concurrency and len(segs) > 1 and segs[0] == "v1.0"):
            return self._faulted(req, fault)
        mailbox = segs[2].lower() if segs[1] == "users" and len(segs) > 2 else req.headers.get("Authorization", "")
        with emu.faults.mailbox_slot(hashlib.sha256(mailbox.encode()).hexdigest()) as admitted:
            if admitted:
                return self._faulted(req, fault)
        return graph_error(
            req, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", {"Retry-After": "1"}
        )

    def _faulted(self, req: Request, fault: Fault | None) -> Response:
        kind = fault.kind if fault else None
        if fault is not None and kind == "slow":
            time.sleep(fault.delay)
        elif kind == "reset":
            self._reset()
        elif fault is not None and kind in {"429", "503"}:
            code, message = (
                ("TooManyRequests", "Too many requests, retry after the indicated time.")
                if kind == "429"
                else ("serviceNotAvailable", "The service is temporarily unavailable. Retry later.")
            )
            return graph_error(req, int(kind), code, message, {"Retry-After": f"{fault.retry_after:g}"})
        elif kind == "500":
            return graph_error(req, 500, "ErrorStoreInternalServerError", "An internal server error occurred.")
        elif kind == "html":
            return html_page(502, "502 - Web server received an invalid response", "<p>Bad gateway.</p>")
        return route(self.server.emu, req)


def route(emu: Emulator, req: Request) -> Response:
    segs = req.segments
    if segs and segs[0] == "v1.0":
        return graph.handle(emu, req)
    if segs == ["devicelogin"]:
        return identity.devicelogin_page(emu, req)
    if len(segs) >= 2 and identity.known_tenant(emu, segs[0]):
        tail = "/".join(segs[1:])
        if tail == "v2.0/.well-known/openid-configuration" and req.method == "GET":
            return identity.openid_configuration(emu, segs[0])
        if tail in {"discovery/v2.0/keys", "discovery/keys"}:
            return json_response(200, emu.keys.jwks())
        if tail == "oauth2/v2.0/devicecode" and req.method == "POST":
            return identity.device_code(emu, req)
        if tail == "oauth2/v2.0/token" and req.method == "POST":
            return identity.token(emu, req)
        if tail == "oauth2/v2.0/authorize":
            return identity.authorize_page(emu, req)
    if len(segs) >= 2 and segs[1] in {"v2.0", "oauth2", "discovery"}:
        return identity.openid_configuration(emu, segs[0])  # unknown tenant: Entra's AADSTS90002
    first = segs[0] if segs else ""
    return graph_error(req, 400, "BadRequest", f"Invalid version: {first}")  # what Graph says to /me without /v1.0
