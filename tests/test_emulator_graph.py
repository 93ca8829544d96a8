"""The emulator's Graph v1.0 over real HTTPS: profiles, search, photos, error shapes and authorisation."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
import pytest
from PIL import Image

from tui.emulator import Emulator


@pytest.fixture
def graph(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{emulator.graph_url}/v1.0", verify=emulator.ssl_context()) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jpeg(size: tuple[int, int] = (300, 300), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def error_of(resp: httpx.Response) -> dict:
    body = resp.json()["error"]
    assert body["innerError"]["request-id"] == resp.headers["request-id"]
    assert body["innerError"]["date"]
    return body


# --- profiles and search -----------------------------------------------------------------------------------


def test_me_returns_graph_default_properties(emulator: Emulator, graph: httpx.Client) -> None:
    resp = graph.get("/me", headers=bearer(emulator.issue_token(emulator.member_upn, ("User.Read",))))
    assert resp.status_code == 200
    me = resp.json()
    assert me["userPrincipalName"] == emulator.member_upn
    assert isinstance(me["businessPhones"], list) and me["displayName"] == "Adele Vance"
    assert "userType" not in me and "roles" not in me and "mailbox" not in me


def test_select_picks_properties_and_refuses_unknown_ones(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.admin_upn, ("User.Read.All",)))
    guest = graph.get(
        f"/users/{quote(emulator.guest_upn)}", params={"$select": "id,userType,displayName"}, headers=headers
    )
    assert guest.status_code == 200
    assert {k for k in guest.json() if not k.startswith("@")} == {"id", "userType", "displayName"}
    assert guest.json()["userType"] == "Guest"
    bad = graph.get("/me", params={"$select": "displayName,shoeSize"}, headers=headers)
    assert bad.status_code == 400 and "shoeSize" in error_of(bad)["message"]


def test_users_by_upn_in_parentheses_and_unknown_user(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.admin_upn, ("User.Read.All",)))
    resp = graph.get(f"/users('{emulator.member_upn}')", headers=headers)
    assert resp.json()["id"] == emulator.user(emulator.member_upn)["id"]
    missing = graph.get("/users/nobody@contoso-demo.onmicrosoft.com", headers=headers)
    assert missing.status_code == 404 and error_of(missing)["code"] == "Request_ResourceNotFound"


def test_filter_pages_through_every_user_by_next_link(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.admin_upn, ("User.ReadBasic.All",)))
    seen, url, pages = [], "/users?$top=7&$select=id,displayName", 0
    while url:
        body = graph.get(url, headers=headers).json()
        seen += [u["id"] for u in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
    assert len(emulator.users()) >= 30
    assert sorted(seen) == sorted(u["id"] for u in emulator.users())
    assert pages == -(-len(seen) // 7)
    found = graph.get("/users", params={"$filter": "startswith(displayName,'ade')"}, headers=headers).json()
    assert [u["displayName"] for u in found["value"]] == ["Adele Vance"]


def test_search_needs_consistency_level_and_matches_words(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.admin_upn, ("User.ReadBasic.All",)))
    params = {"$search": '"displayName:vance" OR "displayName:wil"', "$count": "true"}
    refused = graph.get("/users", params=params, headers=headers)
    assert refused.status_code == 400 and error_of(refused)["code"] == "Request_UnsupportedQuery"
    body = graph.get("/users", params=params, headers={**headers, "ConsistencyLevel": "eventual"}).json()
    names = {u["displayName"] for u in body["value"]}
    assert {"Adele Vance", "Alex Wilber"} <= names and body["@odata.count"] == len(names)
    bad_filter = graph.get("/users", params={"$filter": "endswith(mail,'x')"}, headers=headers)
    assert bad_filter.status_code == 400


# --- photos --------------------------------------------------------------------------------------------------


def test_photo_bytes_are_chunked_with_etag_and_cache_control(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.member_upn, ("User.Read",)))
    resp = graph.get("/me/photo/$value", headers=headers)
    assert resp.status_code == 200
    assert "content-length" not in resp.headers and resp.headers["transfer-encoding"] == "chunked"
    assert resp.headers["etag"] == emulator.photo_etag(emulator.member_upn)
    assert resp.headers["cache-control"] == "max-age=21600, private"
    assert resp.content == emulator.photo(emulator.member_upn)
    meta = graph.get("/me/photo", headers=headers).json()
    with Image.open(io.BytesIO(resp.content)) as img:
        assert (meta["width"], meta["height"]) == img.size
    assert meta["@odata.mediaEtag"] == resp.headers["etag"] and meta["@odata.mediaContentType"] == "image/jpeg"


def test_photo_sizes_and_one_size(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.member_upn, ("User.Read",)))
    sizes = graph.get("/me/photos", headers=headers).json()["value"]
    widths = [s["width"] for s in sizes]
    assert 48 in widths and 240 in widths and all(s["width"] == s["height"] for s in sizes)
    small = graph.get("/me/photos/240x240/$value", headers=headers)
    with Image.open(io.BytesIO(small.content)) as img:
        assert img.size == (240, 240)
    assert graph.get("/me/photos/241x241/$value", headers=headers).status_code == 404
    count = graph.get("/me/photos/$count", headers=headers)
    assert count.status_code == 400


def test_no_photo_is_image_not_found(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.nophoto_upn, ("User.Read",)))
    for path in ("/me/photo/$value", "/me/photo"):
        resp = graph.get(path, headers=headers)
        assert resp.status_code == 404
        err = error_of(resp)
        assert err["code"] == "ImageNotFound" and "ImageNotFoundException" in err["message"]
    assert graph.get("/me/photos", headers=headers).json()["value"] == []


def test_upload_is_reencoded_and_changes_etag(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.member_upn, ("User.ReadWrite",)))
    before = emulator.photo_etag(emulator.member_upn)
    sent = jpeg((900, 700))
    put = graph.put("/me/photo/$value", content=sent, headers={**headers, "Content-Type": "image/jpeg"})
    assert put.status_code == 200 and put.content == b""
    back = graph.get("/me/photo/$value", headers=headers)
    assert back.content != sent and back.headers["etag"] != before
    with Image.open(io.BytesIO(back.content)) as img:
        assert max(img.size) == 648
    patch = graph.patch(
        "/me/photo/$value", content=iter([sent[:1000], sent[1000:]]), headers={**headers, "Content-Type": "image/jpeg"}
    )  # a chunked upload (how progress-reporting clients send)
    assert patch.status_code == 200 and emulator.photo_etag(emulator.member_upn) != back.headers["etag"]


def test_delete_then_no_photo(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.member_upn, ("User.ReadWrite",)))
    assert graph.delete("/me/photo/$value", headers=headers).status_code == 200
    assert emulator.photo(emulator.member_upn) is None
    assert error_of(graph.get("/me/photo/$value", headers=headers))["code"] == "ImageNotFound"


def test_writes_to_photo_without_value_are_405(emulator: Emulator, graph: httpx.Client) -> None:
    headers = {**bearer(emulator.issue_token(emulator.member_upn, ("User.ReadWrite",))), "Content-Type": "image/jpeg"}
    for method in ("PUT", "PATCH", "DELETE"):
        assert graph.request(method, "/me/photo", content=jpeg(), headers=headers).status_code == 405
    assert emulator.photo_etag(emulator.member_upn) is not None


@pytest.mark.parametrize(
    ("body", "content_types", "status", "code"),
    [
        ("big", ["image/jpeg"], 413, "RequestEntityTooLarge"),
        ("jpeg", ["application/octet-stream"], 500, "ErrorInternalServerError"),
        ("text", ["image/jpeg"], 500, "ErrorInternalServerError"),
        ("jpeg", ["image/jpeg", "image/jpeg"], 400, "BadRequest"),
        ("jpeg", ["image/jpeg, image/jpeg"], 400, "BadRequest"),
        ("tiny", ["image/jpeg"], 400, "ValidationWidthTooSmall"),
    ],
)
def test_refused_uploads_change_nothing(
    emulator: Emulator, graph: httpx.Client, samples: Path, body: str, content_types: list[str], status: int, code: str
) -> None:
    data = {
        "big": b"\xff\xd8" + b"\0" * (4 * 1024 * 1024),
        "jpeg": jpeg(),
        "text": b"name,email\nadele,adele@example.com\n",
        "tiny": (samples / "bad" / "tiny_23x17.jpg").read_bytes(),
    }[body]
    before = emulator.photo(emulator.member_upn)
    token = emulator.issue_token(emulator.member_upn, ("User.ReadWrite",))
    headers = [("Authorization", f"Bearer {token}"), *(("Content-Type", ct) for ct in content_types)]
    resp = graph.put("/me/photo/$value", content=data, headers=headers)
    assert resp.status_code == status
    assert error_of(resp)["code"] == code
    assert emulator.photo(emulator.member_upn) == before


def test_guest_and_on_premises_photo_failures(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.admin_upn, ("User.Read.All", "ProfilePhoto.ReadWrite.All")))
    guest_id = emulator.user(emulator.guest_upn)["id"]
    guest = graph.get(f"/users/{guest_id}/photo/$value", headers=headers)
    assert guest.status_code == 400 and error_of(guest)["code"] == "UnknownError"
    assert json.loads(error_of(guest)["message"])["error"]["code"] == "ErrorUserResolutionFailedUserDoesNotExist"
    onprem = graph.get(f"/users/{quote(emulator.onprem_upn)}/photo/$value", headers=headers)
    assert onprem.status_code == 404 and error_of(onprem)["code"] == "MailboxNotHostedInExchangeOnline"
    own_guest = graph.get("/me/photo/$value", headers=bearer(emulator.issue_token(emulator.guest_upn, ("User.Read",))))
    assert own_guest.status_code == 401
    assert json.loads(error_of(own_guest)["message"])["error"]["code"] == "NoPermissionsInAccessToken"


# --- tokens --------------------------------------------------------------------------------------------------


def _forged(emulator: Emulator, **changes: object) -> str:
    claims = jwt.decode(emulator.issue_token(), options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, emulator.keys.signing_key, algorithm="RS256")


@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "audience", "unsigned", "other-key", "basic"])
def test_bad_tokens_get_401_with_www_authenticate(emulator: Emulator, graph: httpx.Client, kind: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    claims = jwt.decode(emulator.issue_token(), options={"verify_signature": False})
    headers = {
        "missing": {},
        "garbage": bearer("not-a-jwt"),
        "expired": bearer(emulator.issue_token(expires_in=-120)),
        "audience": bearer(_forged(emulator, aud="https://example.com")),
        "unsigned": bearer(jwt.encode(claims, None, algorithm="none")),
        "other-key": bearer(
            jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")
        ),
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[kind]
    resp = graph.get("/me", headers=headers)
    assert resp.status_code == 401
    assert error_of(resp)["code"] == "InvalidAuthenticationToken"
    assert resp.headers["www-authenticate"].startswith("Bearer ")
    if kind == "expired":
        assert "expired" in error_of(resp)["message"]


def test_graph_host_audience_is_accepted(emulator: Emulator, graph: httpx.Client) -> None:
    for aud in ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"):
        assert graph.get("/me", headers=bearer(emulator.issue_token(audience=aud))).status_code == 200


# --- authorisation -------------------------------------------------------------------------------------------


def _put(graph: httpx.Client, token: str, who: str | None) -> httpx.Response:
    path = "/me/photo/$value" if who is None else f"/users/{quote(who)}/photo/$value"
    return graph.put(path, content=jpeg(), headers={**bearer(token), "Content-Type": "image/jpeg"})


def test_member_is_refused_on_someone_elses_photo(emulator: Emulator, graph: httpx.Client) -> None:
    token = emulator.issue_token(emulator.member_upn, ("User.ReadWrite", "ProfilePhoto.ReadWrite.All"))
    before = emulator.photo_etag(emulator.nophoto_upn)
    resp = _put(graph, token, emulator.nophoto_upn)
    assert resp.status_code == 403 and error_of(resp)["code"] == "ErrorAccessDenied"
    assert emulator.photo_etag(emulator.nophoto_upn) == before
    assert _put(graph, token, None).status_code == 200  # their own is fine


def test_admin_needs_the_scope_as_well_as_the_role(emulator: Emulator, graph: httpx.Client) -> None:
    target = emulator.nophoto_upn
    assert _put(graph, emulator.issue_token(emulator.admin_upn, ("User.ReadWrite",)), target).status_code == 403
    granted = emulator.issue_token(emulator.admin_upn, ("ProfilePhoto.ReadWrite.All",))
    assert _put(graph, granted, target).status_code == 200 and emulator.photo(target) is not None
    emulator.set_roles(emulator.admin_upn, [])  # roles are checked live, as Graph does
    assert _put(graph, granted, target).status_code == 403


def test_own_photo_write_needs_user_readwrite(emulator: Emulator, graph: httpx.Client) -> None:
    resp = _put(graph, emulator.issue_token(emulator.member_upn, ("User.Read",)), None)
    assert resp.status_code == 403 and error_of(resp)["code"] == "ErrorAccessDenied"


def test_reading_others_needs_a_directory_scope(emulator: Emulator, graph: httpx.Client) -> None:
    headers = bearer(emulator.issue_token(emulator.member_upn, ("User.Read",)))
    profile = graph.get(f"/users/{quote(emulator.admin_upn)}", headers=headers)
    assert profile.status_code == 403 and error_of(profile)["code"] == "Authorization_RequestDenied"
    photo = graph.get(f"/users/{quote(emulator.admin_upn)}/photo/$value", headers=headers)
    assert photo.status_code == 403 and error_of(photo)["code"] == "ErrorAccessDenied"
    listing = graph.get("/users", headers=headers)
    assert listing.status_code == 403 and error_of(listing)["code"] == "Authorization_RequestDenied"
    own = graph.get(f"/users/{quote(emulator.member_upn)}", headers=headers)
    assert own.status_code == 200


def test_app_only_needs_the_application_permission(emulator: Emulator, graph: httpx.Client) -> None:
    app = emulator.issue_token(roles=("ProfilePhoto.ReadWrite.All", "User.Read.All"))
    assert _put(graph, app, emulator.nophoto_upn).status_code == 200
    assert graph.get("/users", headers=bearer(app)).status_code == 200
    me = graph.get("/me", headers=bearer(app))
    assert me.status_code == 400 and "delegated" in error_of(me)["message"]
    weak = emulator.issue_token(roles=("User.Read.All",))
    resp = _put(graph, weak, emulator.member_upn)
    assert resp.status_code == 403 and error_of(resp)["code"] == "ErrorAccessDenied"


# --- state and log -------------------------------------------------------------------------------------------


def test_request_log_keeps_no_secrets(emulator: Emulator, graph: httpx.Client) -> None:
    token = emulator.issue_token(emulator.member_upn, ("User.ReadWrite",))
    data = jpeg()
    _put(graph, token, None)
    graph.put("/me/photo/$value", content=data, headers={**bearer(token), "Content-Type": "image/jpeg"})
    entry = emulator.request_log()[-1]
    assert entry["method"] == "PUT" and entry["status"] == 200 and entry["body_size"] == len(data)
    import hashlib

    assert entry["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert "authorization" not in {k.lower() for k in entry["headers"]}
    text = (emulator.state_dir / "requests.jsonl").read_text()
    assert token not in text and token.split(".")[2] not in text and len(text.splitlines()) == 2


def test_state_survives_a_restart(emulator: Emulator, graph: httpx.Client) -> None:
    _put(graph, emulator.issue_token(emulator.member_upn, ("User.ReadWrite",)), None)
    etag, tenant_id, ca = emulator.photo_etag(emulator.member_upn), emulator.tenant_id, emulator.ca_path.read_bytes()
    emulator.stop()
    with Emulator(emulator.state_dir) as again:
        assert again.tenant_id == tenant_id and again.ca_path.read_bytes() == ca
        assert again.photo_etag(again.member_upn) == etag
        with httpx.Client(verify=again.ssl_context()) as client:
            resp = client.get(f"{again.graph_url}/v1.0/me/photo", headers=bearer(again.issue_token(again.member_upn)))
            assert resp.json()["@odata.mediaEtag"] == etag


def test_tenant_policy_can_turn_photo_changes_off(emulator: Emulator, graph: httpx.Client) -> None:
    emulator.set_photo_updates_allowed(False)
    token = emulator.issue_token(emulator.member_upn, ("User.ReadWrite",))
    resp = _put(graph, token, None)
    assert resp.status_code == 403 and "photoUpdateSettings" in error_of(resp)["message"]
    assert graph.delete("/me/photo/$value", headers=bearer(token)).status_code == 403
    assert graph.get("/me/photo/$value", headers=bearer(token)).status_code == 200
    emulator.set_photo_updates_allowed(True)
    assert _put(graph, token, None).status_code == 200


def test_documented_no_photo_form(emulator: Emulator, graph: httpx.Client) -> None:
    emulator.set_no_photo_form("1x1")
    headers = bearer(emulator.issue_token(emulator.nophoto_upn, ("User.Read",)))
    meta = graph.get("/me/photo", headers=headers)
    assert meta.status_code == 200
    assert (meta.json()["width"], meta.json()["@odata.mediaContentType"], meta.json()["@odata.mediaEtag"]) == (
        1,
        "image/gif",
        "",
    )
    assert graph.get("/me/photo/$value", headers=headers).status_code == 404


def test_decompression_bomb_is_refused_quickly(emulator: Emulator, graph: httpx.Client, samples: Path) -> None:
    token = emulator.issue_token(emulator.member_upn, ("User.ReadWrite",))
    bomb = (samples / "bad" / "decompression_bomb.gif").read_bytes()
    resp = graph.put("/me/photo/$value", content=bomb, headers={**bearer(token), "Content-Type": "image/gif"})
    assert resp.status_code == 500 and error_of(resp)["code"] == "ErrorInternalServerError"


def test_malformed_requests_get_answers_not_crashes(emulator: Emulator, graph: httpx.Client) -> None:
    import socket

    for raw in (b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", b"Content-Length: -5\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", emulator.port)) as plain:
            conn = emulator.ssl_context().wrap_socket(plain, server_hostname="127.0.0.1")
            conn.sendall(b"PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: 127.0.0.1\r\n" + raw)
            assert conn.recv(64).startswith(b"HTTP/1.1 400 ")
    claims = jwt.decode(emulator.issue_token(), options={"verify_signature": False})
    odd = jwt.encode({**claims, "scp": 5}, emulator.keys.signing_key, algorithm="RS256")
    assert graph.get("/me", headers=bearer(odd)).status_code == 401
    assert not [r for r in emulator.request_log() if "error" in r]


def test_upload_cut_short_by_the_client_changes_nothing(emulator: Emulator, samples: Path) -> None:
    import socket
    import time

    before = emulator.photo(emulator.member_upn)
    token = emulator.issue_token(emulator.member_upn, ("User.ReadWrite",))
    half = (samples / "photos" / "hopper.png").read_bytes()
    with socket.create_connection(("127.0.0.1", emulator.port)) as plain:
        conn = emulator.ssl_context().wrap_socket(plain, server_hostname="127.0.0.1")
        conn.sendall(
            b"PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(half) * 2}\r\n\r\n".encode()
            + half
        )
        conn.close()
    deadline = time.monotonic() + 15
    while not any(r["method"] == "PUT" for r in emulator.request_log()):
        assert time.monotonic() < deadline
        time.sleep(0.02)  # let the server thread run
    assert emulator.photo(emulator.member_upn) == before
    put = [r for r in emulator.request_log() if r["method"] == "PUT"]
    assert put[-1]["status"] == 0 and "error" not in put[-1]


def test_a_path_without_the_version_gets_graphs_envelope(emulator: Emulator) -> None:
    with httpx.Client(verify=emulator.ssl_context()) as raw:
        resp = raw.get(f"{emulator.base_url}/me", headers=bearer(emulator.issue_token()))
    body = error_of(resp)
    assert resp.status_code == 400 and body["code"] == "BadRequest" and "Invalid version" in body["message"]
    assert body["innerError"]["request-id"] and body["innerError"]["date"]
