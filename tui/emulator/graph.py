"""The Graph v1.0 half: token validation, authorisation, users, search and the photo endpoints.

Status codes, error codes and headers follow ``shared/reference/graph-photo-api.md``; where it is silent, the
service's observed behaviour.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt

from tui.emulator.identity import GRAPH_HOSTS
from tui.emulator.tenant import (
    ADMIN_ROLES,
    DEFAULT_PROPERTIES,
    EXTRA_PROPERTIES,
    MAX_PHOTO_BYTES,
    PHOTO_SIZES,
    Photo,
    encode_photo,
    resized,
)
from tui.emulator.wire import ODATA_JSON, Request, Response, graph_error, json_response, nested_error

if TYPE_CHECKING:
    from tui.emulator.api import Emulator

READ_OWN = {
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
}
READ_OTHERS = {
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
}
APP_READ = {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
PHOTO_READ_OWN = READ_OWN | {"ProfilePhoto.Read.All", "ProfilePhoto.ReadWrite.All"}
PHOTO_READ_OTHERS = READ_OTHERS | {"ProfilePhoto.Read.All", "ProfilePhoto.ReadWrite.All"}
APP_PHOTO_READ = APP_READ | {"ProfilePhoto.Read.All", "ProfilePhoto.ReadWrite.All"}
PHOTO_WRITE_OWN = {"User.ReadWrite", "User.ReadWrite.All", "ProfilePhoto.ReadWrite.All"}
PHOTO_WRITE_OTHERS = {"ProfilePhoto.ReadWrite.All", "User.ReadWrite.All"}
ALL_PROPERTIES = {p.lower(): p for p in (*DEFAULT_PROPERTIES, *EXTRA_PROPERTIES)}
DENIED = "Access is denied. Check credentials and try again."
INSUFFICIENT = "Insufficient privileges to complete the operation."
PHOTO_CACHE_CONTROL = "max-age=21600, private"
_ONE_BY_ONE = {"@odata.mediaContentType": "image/gif", "@odata.mediaEtag": "", "id": "1X1", "width": 1, "height": 1}


@dataclass(frozen=True)
class Caller:
    user: dict[str, Any] | None  # None for app-only
    client_id: str
    permissions: frozenset[str]  # scp (delegated) or roles (app-only)

    def is_self(self, key: str | None) -> bool:
        if key is None or self.user is None:
            return key is None
        return key.lower() in {self.user["id"], self.user["userPrincipalName"].lower()}


def _unauthorized(emu: Emulator, req: Request, message: str) -> Response:
    challenge = (
        f'Bearer realm="", authorization_uri="{emu.base_url}/common/oauth2/authorize", '
        f'client_id="00000003-0000-0000-c000-000000000000", error="invalid_token", error_description="{message}"'
    )
    return graph_error(req, 401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": challenge})


def authenticate(emu: Emulator, req: Request) -> Caller | Response:
    auth = req.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if not token.strip() or scheme.lower() != "bearer":
        return _unauthorized(emu, req, "Access token is empty.")
    try:
        claims = jwt.decode(
            token.strip(),
            emu.keys.signing_key.public_key(),
            algorithms=["RS256"],
            audience=[emu.base_url, *GRAPH_HOSTS],
            issuer=f"{emu.base_url}/{emu.tenant_id}/",
            options={"require": ["exp", "aud", "iss", "tid", "oid"]},
        )
    except jwt.ExpiredSignatureError:
        return _unauthorized(emu, req, "Lifetime validation failed, the token is expired.")
    except jwt.InvalidAudienceError:
        return _unauthorized(emu, req, "Access token validation failure. Invalid audience.")
    except jwt.InvalidSignatureError:
        return _unauthorized(emu, req, "Access token validation failure. Signature validation failed.")
    except jwt.DecodeError:
        return _unauthorized(emu, req, "IDX14100: JWT is not well formed.")
    except jwt.PyJWTError:
        return _unauthorized(emu, req, "Access token validation failure.")
    scp, roles, oid = claims.get("scp"), claims.get("roles", []), claims.get("oid")
    if not (isinstance(oid, str) and isinstance(roles, list) and isinstance(scp, (str, type(None)))):
        return _unauthorized(emu, req, "Access token validation failure.")
    if claims.get("idtyp") == "app" or scp is None:
        return Caller(None, str(claims.get("appid", "")), frozenset(map(str, roles)))
    user = emu.tenant.find(oid)
    if user is None:
        return _unauthorized(emu, req, "Access token validation failure. The user no longer exists.")
    return Caller(user, str(claims.get("appid", "")), frozenset(scp.split()))


def _allowed(caller: Caller, own: set[str], others: set[str], app: set[str], is_self: bool) -> bool:
    if caller.user is None:
        return bool(caller.permissions & app)
    return bool(caller.permissions & (own if is_self else others))


# --- users ---------------------------------------------------------------------------------------------------


def _select(req: Request) -> list[str] | Response:
    raw = req.query.get("$select")
    if not raw:
        return list(DEFAULT_PROPERTIES)
    chosen = []
    for name in (p.strip() for p in raw.split(",") if p.strip()):
        if name.lower() not in ALL_PROPERTIES:
            return graph_error(
                req,
                400,
                "BadRequest",
                f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on type "
                "'microsoft.graph.user'.",
            )
        chosen.append(ALL_PROPERTIES[name.lower()])
    return chosen


def _project(user: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {f: user.get(f) for f in fields}


Condition = tuple[str, str, str]  # (operator, property, value)
_FILTER_TERM = re.compile(r"\s*(?:startswith\((\w+),\s*'((?:[^']|'')*)'\)|(\w+)\s+eq\s+'((?:[^']|'')*)')\s*", re.I)
_FILTER_JOIN = re.compile(r"(and|or)\s+", re.I)
_SEARCH_TERM = re.compile(r'\s*"(\w+):([^"]*)"\s*')
_SEARCH_JOIN = re.compile(r"(AND|OR)\s+")  # $search wants them in capitals


def _filter_term(m: re.Match[str]) -> Condition:
    prop, value = (m[1], m[2]) if m[1] else (m[3], m[4])
    return ("startswith" if m[1] else "eq", prop, value.replace("''", "'"))


def _parse(text: str, term: re.Pattern[str], join: re.Pattern[str], build: Any) -> list[list[Condition]] | None:
    """Terms joined by and/or -> OR of AND groups; None when anything is not understood (Graph: 400)."""
    groups: list[list[Condition]] = [[]]
    rest = text.strip()
    while True:
        m = term.match(rest)
        if not m:
            return None
        op, prop, value = build(m)
        if prop.lower() not in ALL_PROPERTIES:
            return None
        groups[-1].append((op, ALL_PROPERTIES[prop.lower()], value))
        rest = rest[m.end() :]
        if not rest:
            return groups
        joiner = join.match(rest)
        if not joiner:
            return None
        if joiner[1].lower() == "or":
            groups.append([])
        rest = rest[joiner.end() :]


def _matches(user: dict[str, Any], op: str, prop: str, value: str) -> bool:
    have = user.get(prop)
    if have is None:
        return False
    have, value = str(have).lower(), value.lower()
    if op == "eq":
        return have == value
    if op == "startswith":
        return have.startswith(value)
    return any(word.startswith(value) for word in re.split(r"[\s._@()\-]+", have)) or have.startswith(value)


def list_users(emu: Emulator, req: Request, caller: Caller) -> Response:
    if not _allowed(caller, READ_OTHERS, READ_OTHERS, APP_READ, False):
        return graph_error(req, 403, "Authorization_RequestDenied", INSUFFICIENT)
    q = req.query
    fields = _select(req)
    if isinstance(fields, Response):
        return fields
    eventual = req.headers.get("ConsistencyLevel", "").lower() == "eventual"
    if "$search" in q and not eventual:
        return graph_error(
            req,
            400,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special request header: "
            "'ConsistencyLevel: eventual'",
        )
    conditions = None
    if q.get("$filter"):
        conditions = _parse(q["$filter"], _FILTER_TERM, _FILTER_JOIN, _filter_term)
        if conditions is None:
            return graph_error(
                req, 400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause: {q['$filter']}"
            )
    if q.get("$search"):
        searched = _parse(q["$search"], _SEARCH_TERM, _SEARCH_JOIN, lambda m: ("search", m[1], m[2]))
        if searched is None:
            return graph_error(req, 400, "Request_UnsupportedQuery", "Syntax error: the $search value is not valid.")
        conditions = searched if conditions is None else [a + b for a in conditions for b in searched]  # AND of both
    try:
        top = int(q.get("$top", "100"))
        if not 1 <= top <= 999:
            raise ValueError
    except ValueError:
        return graph_error(
            req,
            400,
            "Request_BadRequest",
            f"Invalid page size specified: '{q.get('$top')}'. Must be between 1 and 999 inclusive.",
        )
    try:
        token = json.loads(base64.urlsafe_b64decode(q.get("$skiptoken", "") + "==") or b"{}")
        offset = max(0, int(token.get("o", 0)))
    except (ValueError, AttributeError):
        return graph_error(req, 400, "Request_BadRequest", "The specified page token value has expired or is invalid.")
    with emu.tenant.lock:
        users = sorted(emu.tenant.users.values(), key=lambda u: (u["displayName"].lower(), u["id"]))
    if conditions is not None:
        users = [u for u in users if any(all(_matches(u, *c) for c in group) for group in conditions)]
    page = users[offset : offset + top]
    body: dict[str, Any] = {"@odata.context": f"{emu.base_url}/v1.0/$metadata#users"}
    if q.get("$count", "").lower() == "true":
        if not eventual:
            return graph_error(
                req, 400, "Request_BadRequest", "$count is only supported with the 'ConsistencyLevel: eventual' header."
            )
        body["@odata.count"] = len(users)
    body["value"] = [_project(u, fields) for u in page]
    if offset + top < len(users):
        params = {k: v for k, v in q.items() if k != "$skiptoken"}
        params["$skiptoken"] = base64.urlsafe_b64encode(json.dumps({"o": offset + top}).encode()).decode().rstrip("=")
        body["@odata.nextLink"] = f"{emu.base_url}/v1.0/users?{urlencode(params)}"
    return json_response(200, body, content_type=ODATA_JSON)


# --- photos --------------------------------------------------------------------------------------------------


def _photo_meta(emu: Emulator, user: dict[str, Any], photo: Photo, size: int | None = None) -> dict[str, Any]:
    width, height = (size, size) if size else (photo.width, photo.height)
    return {
        "@odata.context": f"{emu.base_url}/v1.0/$metadata#users('{user['id']}')/photo/$entity",
        "@odata.mediaContentType": "image/jpeg",
        "@odata.mediaEtag": photo.etag,
        "id": f"{width}X{height}",
        "width": width,
        "height": height,
    }


def _no_photo(req: Request) -> Response:
    return graph_error(
        req,
        404,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )


def _photo_bytes(data: bytes, etag: str) -> Response:
    return Response(200, data, "image/jpeg", {"ETag": etag, "Cache-Control": PHOTO_CACHE_CONTROL}, chunked=True)


def _sizes(photo: Photo) -> list[int]:
    return [s for s in PHOTO_SIZES if s <= min(photo.width, photo.height)] or [PHOTO_SIZES[0]]


def _upload(emu: Emulator, req: Request, user: dict[str, Any]) -> Response:
    types = req.headers.get_all("Content-Type") or []
    if len(types) > 1 or any("," in t for t in types):
        return graph_error(req, 400, "BadRequest", "The request has more than one Content-Type header value.")
    if len(req.body) > MAX_PHOTO_BYTES:
        return graph_error(req, 413, "RequestEntityTooLarge", "Maximum request length exceeded.")
    not_image = "The file you chose isn't an image. Please choose a different file."
    if not types or not types[0].split(";")[0].strip().lower().startswith("image/"):
        return graph_error(req, 500, "ErrorInternalServerError", not_image)
    try:
        photo = encode_photo(req.body)
    except ValueError as exc:
        if str(exc) == "too small":
            return graph_error(req, 400, "ValidationWidthTooSmall", "The image width or height is too small.")
        return graph_error(req, 500, "ErrorInternalServerError", not_image)
    emu.tenant.store_photo(user["id"], photo, emu.faults.propagation)
    return Response(200, b"", None)


def photo_endpoint(emu: Emulator, req: Request, caller: Caller, user: dict[str, Any], rest: list[str]) -> Response:
    if user.get("userType") == "Guest":
        if caller.user is not None and caller.user["id"] == user["id"]:
            return nested_error(
                req,
                401,
                "NoPermissionsInAccessToken",
                "The token contains no permissions, or permissions can not be understood.",
            )
        return nested_error(
            req,
            400,
            "ErrorUserResolutionFailedUserDoesNotExist",
            "User resolution failed: the user has no mailbox in this organization.",
        )
    if user.get("mailbox") == "onprem":
        return graph_error(
            req,
            404,
            "MailboxNotHostedInExchangeOnline",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    photo = emu.tenant.visible_photo(user["id"])
    method = req.method
    if method != "GET" and not emu.tenant.policy["photo_updates"]:
        return graph_error(
            req, 403, "ErrorAccessDenied", "Photo changes are turned off for this organization (photoUpdateSettings)."
        )
    if rest == ["photo", "$value"]:
        if method in {"PUT", "PATCH"}:
            return _upload(emu, req, user)
        if photo is None:
            return _no_photo(req)
        if method == "DELETE":
            emu.tenant.store_photo(user["id"], None, emu.faults.propagation)
            return Response(200, b"", None)
        return _photo_bytes(photo.data, photo.etag)
    if rest == ["photo"]:
        if photo is None and emu.tenant.policy["no_photo_form"] == "1x1":  # the documented "no photo" form
            return json_response(200, _ONE_BY_ONE, content_type=ODATA_JSON)
        if photo is None:
            return _no_photo(req)
        return json_response(200, _photo_meta(emu, user, photo), content_type=ODATA_JSON)
    if rest == ["photos"]:
        value = [] if photo is None else [_photo_meta(emu, user, photo, s) for s in _sizes(photo)]
        for item in value:
            item.pop("@odata.context")
        return json_response(
            200,
            {"@odata.context": f"{emu.base_url}/v1.0/$metadata#users('{user['id']}')/photos", "value": value},
            content_type=ODATA_JSON,
        )
    if rest[1] == "$count":
        return graph_error(req, 400, "BadRequest", "Invalid request: $count is not supported on this segment.")
    m = re.fullmatch(r"(\d+)(?:[xX](\d+))?", rest[1])
    size = int(m[1]) if m and (m[2] is None or m[2] == m[1]) else None
    if photo is None or size not in _sizes(photo):
        return _no_photo(req)
    if len(rest) == 2:
        return json_response(200, _photo_meta(emu, user, photo, size), content_type=ODATA_JSON)
    return _photo_bytes(resized(photo, size), photo.etag)


# --- routing -------------------------------------------------------------------------------------------------

_ROUTES = (  # (path after the user, methods allowed)
    ([], {"GET"}),
    (["photo"], {"GET"}),
    (["photo", "$value"], {"GET", "PUT", "PATCH", "DELETE"}),
    (["photos"], {"GET"}),
    (["photos", "*"], {"GET"}),
    (["photos", "*", "$value"], {"GET"}),
)


def _route(rest: list[str]) -> set[str] | None:
    for pattern, methods in _ROUTES:
        if len(pattern) == len(rest) and all(p in ("*", r) for p, r in zip(pattern, rest, strict=True)):
            return methods
    return None


def handle(emu: Emulator, req: Request) -> Response:
    caller = authenticate(emu, req)
    if isinstance(caller, Response):
        return caller
    segs = req.segments[1:]  # drop "v1.0"
    if not segs:
        return graph_error(req, 400, "BadRequest", "Invalid version.")
    key: str | None
    if segs[0] == "me":
        key, rest = None, segs[1:]
        if caller.user is None:
            return graph_error(req, 400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    elif segs == ["users"]:
        if req.method != "GET":
            return graph_error(
                req, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
            )
        return list_users(emu, req, caller)
    elif segs[0] == "users" and len(segs) > 1:
        key, rest = segs[1], segs[2:]
    elif m := re.fullmatch(r"users\('(.+)'\)", segs[0]):
        key, rest = m[1].replace("''", "'"), segs[1:]
    else:
        return graph_error(req, 400, "BadRequest", f"Resource not found for the segment '{segs[0]}'.")
    methods = _route(rest)
    if methods is None:
        return graph_error(req, 400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")
    if req.method not in methods:
        return graph_error(
            req, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
        )
    is_self = caller.is_self(key)
    if not rest:
        if not _allowed(caller, READ_OWN, READ_OTHERS, APP_READ, is_self):
            return graph_error(req, 403, "Authorization_RequestDenied", INSUFFICIENT)
    elif req.method == "GET":
        if not _allowed(caller, PHOTO_READ_OWN, PHOTO_READ_OTHERS, APP_PHOTO_READ, is_self):
            return graph_error(req, 403, "ErrorAccessDenied", DENIED)
    else:
        admin = caller.user is not None and bool(set(caller.user.get("roles", [])) & set(ADMIN_ROLES))
        if not _allowed(caller, PHOTO_WRITE_OWN, PHOTO_WRITE_OTHERS, PHOTO_WRITE_OTHERS, is_self) or (
            caller.user is not None and not is_self and not admin
        ):
            return graph_error(req, 403, "ErrorAccessDenied", DENIED)
    user = caller.user if key is None else emu.tenant.find(key)
    if user is None:
        return graph_error(
            req,
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
        )
    if rest:
        return photo_endpoint(emu, req, caller, user, rest)
    fields = _select(req)
    if isinstance(fields, Response):
        return fields
    body = {"@odata.context": f"{emu.base_url}/v1.0/$metadata#users/$entity", **_project(user, fields)}
    return json_response(200, body, content_type=ODATA_JSON)
