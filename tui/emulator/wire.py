"""The request/response shapes shared by the identity and Graph halves, and their error envelopes."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

JSON = "application/json; charset=utf-8"
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


@dataclass
class Request:
    method: str
    target: str  # raw request target: path + query
    headers: Message
    body: bytes = b""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def segments(self) -> list[str]:
        return [unquote(s) for s in self.path.strip("/").split("/") if s]

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (last value wins); OData names keep their ``$``."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query, keep_blank_values=True).items()}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    @property
    def client_request_id(self) -> str:
        return self.headers.get("client-request-id") or self.request_id


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def json_response(
    status: int, data: Any, *, content_type: str = JSON, headers: dict[str, str] | None = None
) -> Response:
    return Response(status, json.dumps(data, ensure_ascii=False).encode(), content_type, dict(headers or {}))


def graph_error(req: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """Graph's error envelope, with ``request-id`` and ``date`` inside ``innerError``."""
    inner = {"date": now_iso(), "request-id": req.request_id, "client-request-id": req.client_request_id}
    return json_response(status, {"error": {"code": code, "message": message, "innerError": inner}}, headers=headers)


def nested_error(req: Request, status: int, inner_code: str, inner_message: str) -> Response:
    """Graph's ``UnknownError`` whose message is itself JSON carrying the real code (guests, B2C)."""
    inner = json.dumps({"error": {"code": inner_code, "message": inner_message}})
    return graph_error(req, status, "UnknownError", inner)


def oauth_error(
    status: int, error: str, aadsts: int | None, description: str, *, suberror: str | None = None
) -> Response:
    """Entra's token-endpoint error shape (``AADSTSnnnnn:`` prefix, error_codes, trace and correlation ids)."""
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    prefix = f"AADSTS{aadsts}: " if aadsts else ""
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"{prefix}{description} Trace ID: {trace} Correlation ID: {corr} Timestamp: {now_iso()}Z",
        "error_codes": [aadsts] if aadsts else [],
        "timestamp": f"{now_iso()}Z",
        "trace_id": trace,
        "correlation_id": corr,
    }
    if suberror:
        body["suberror"] = suberror
    return json_response(status, body, headers={"Cache-Control": "no-store"})


def html_page(status: int, title: str, body: str) -> Response:
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}button{margin:.2em}</style>"
        f"</head><body><h1>{title}</h1>{body}</body></html>"
    )
    return Response(status, page.encode(), "text/html; charset=utf-8")
