"""The emulator's identity endpoints driven by MSAL itself (unchanged) and by raw httpx, over real HTTPS."""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msal
import pytest

from tui.emulator import Emulator
from tui.emulator.crypto import self_signed_pem


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(verify=emulator.ssl_context()) as client:
        yield client


def scopes(emu: Emulator, *names: str) -> list[str]:
    return [f"{emu.base_url}/{n}" for n in names]


def public_app(emu: Emulator, http: httpx.Client) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        emu.public_client_id, authority=emu.authority, http_client=http, instance_discovery=False
    )


def poll_once(app: msal.PublicClientApplication, flow: dict[str, Any]) -> dict[str, Any]:
    flow["latest_attempt_at"] = 0  # we poll when we choose to; MSAL only warns about pace
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


class FormBytesAsText:
    """httpx form-encodes a bytes value as "b'...'"; MSAL posts its certificate assertion as bytes.

    The emulator, like Entra, refuses the mangled assertion (see test below), so MSAL + httpx need this shim.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self.client.post(url, data=data, **kwargs)


# --- discovery -----------------------------------------------------------------------------------------------


def test_discovery_serves_what_msal_needs(emulator: Emulator, http: httpx.Client) -> None:
    config = http.get(f"{emulator.authority}/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"].startswith(emulator.authority)
    assert config["device_authorization_endpoint"].endswith("/oauth2/v2.0/devicecode")
    keys = http.get(config["jwks_uri"]).json()["keys"]
    token = emulator.issue_token()
    key = jwt.PyJWK(keys[0]).key
    assert jwt.decode(token, key, algorithms=["RS256"], audience=emulator.base_url)["tid"] == emulator.tenant_id
    for tenant in ("organizations", emulator.tenant_domain):
        app = msal.PublicClientApplication(
            emulator.public_client_id,
            authority=f"{emulator.base_url}/{tenant}",
            http_client=http,
            instance_discovery=False,
        )
        assert app.authority.device_authorization_endpoint
    with pytest.raises(ValueError, match="tenant name or GUID"):
        msal.PublicClientApplication(
            emulator.public_client_id,
            authority=f"{emulator.base_url}/fabrikam.example",
            http_client=http,
            instance_discovery=False,
        )


def test_tls_is_trusted_only_with_the_emulator_ca(emulator: Emulator) -> None:
    with pytest.raises(httpx.ConnectError), httpx.Client() as default_trust:
        default_trust.get(f"{emulator.authority}/v2.0/.well-known/openid-configuration")


# --- device code ---------------------------------------------------------------------------------------------


def test_device_code_sign_in_then_graph(emulator: Emulator, http: httpx.Client) -> None:
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=scopes(emulator, "User.ReadWrite"))
    assert flow["user_code"] in flow["message"] and flow["verification_uri"] == f"{emulator.base_url}/devicelogin"
    assert poll_once(app, flow)["error"] == "authorization_pending"
    emulator.approve(flow["user_code"], emulator.member_upn)
    result = poll_once(app, flow)
    assert "access_token" in result, result.get("error_description")
    access = claims(result["access_token"])
    member = emulator.user(emulator.member_upn)
    assert access["scp"] == "User.ReadWrite" and access["oid"] == member["id"] and access["tid"] == emulator.tenant_id
    assert access["upn"] == emulator.member_upn and access["aud"] == emulator.base_url and access["exp"]
    (account,) = app.get_accounts()
    assert account["username"] == emulator.member_upn
    assert account["home_account_id"] == f"{member['id']}.{emulator.tenant_id}"
    me = http.get(f"{emulator.graph_url}/v1.0/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.json()["id"] == member["id"]
    assert poll_once(app, flow)["error"] == "bad_verification_code"  # a code signs in once


def test_admin_gets_role_ids_in_wids(emulator: Emulator, http: httpx.Client) -> None:
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=scopes(emulator, "User.ReadWrite", "ProfilePhoto.ReadWrite.All"))
    emulator.approve()
    access = claims(poll_once(app, flow)["access_token"])
    assert access["upn"] == emulator.admin_upn
    assert access["wids"] == ["024906de-61e5-49c8-8572-40335f1e0e10"]  # People Administrator
    assert set(access["scp"].split()) == {"User.ReadWrite", "ProfilePhoto.ReadWrite.All"}


def test_declined_and_expired_device_codes(emulator: Emulator, http: httpx.Client) -> None:
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=scopes(emulator, "User.Read"))
    emulator.decline(flow["user_code"])
    assert poll_once(app, flow)["error"] == "authorization_declined"
    flow = app.initiate_device_flow(scopes=scopes(emulator, "User.Read"))
    emulator.expire_device_codes()
    result = poll_once(app, flow)
    assert result["error"] == "expired_token" and "AADSTS70019" in result["error_description"]
    with pytest.raises(LookupError):
        emulator.approve(flow["user_code"])


def test_polling_too_fast_gets_slow_down(emulator: Emulator, http: httpx.Client) -> None:
    emulator.device_interval = 5
    device = http.post(
        f"{emulator.authority}/oauth2/v2.0/devicecode",
        data={"client_id": emulator.public_client_id, "scope": "User.Read openid"},
    ).json()
    assert device["interval"] == 5
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": emulator.public_client_id,
        "device_code": device["device_code"],
    }
    token_url = f"{emulator.authority}/oauth2/v2.0/token"
    assert http.post(token_url, data=form).json()["error"] == "authorization_pending"
    assert http.post(token_url, data=form).json()["error"] == "slow_down"


def test_auto_approval_after_delay(tmp_path: Any) -> None:
    with Emulator(tmp_path / "auto", approve_after=0) as emu, httpx.Client(verify=emu.ssl_context()) as http:
        app = public_app(emu, http)
        flow = app.initiate_device_flow(scopes=scopes(emu, "User.ReadWrite"))
        assert claims(poll_once(app, flow)["access_token"])["upn"] == emu.admin_upn


def test_devicelogin_page_approves_and_declines(emulator: Emulator, http: httpx.Client) -> None:
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=scopes(emulator, "User.Read"))
    page = http.get(f"{emulator.base_url}/devicelogin")
    assert page.status_code == 200 and flow["user_code"] in page.text and "Adele Vance" in page.text
    done = http.post(
        f"{emulator.base_url}/devicelogin",
        data={"code": flow["user_code"].lower(), "upn": emulator.member_upn, "action": "approve"},
    )
    assert done.status_code == 200 and "Approved" in done.text
    assert claims(poll_once(app, flow)["access_token"])["upn"] == emulator.member_upn
    unknown = http.post(f"{emulator.base_url}/devicelogin", data={"code": "NOPE", "action": "decline"})
    assert unknown.status_code == 400


def test_unregistered_client_and_scope_are_refused(emulator: Emulator, http: httpx.Client) -> None:
    url = f"{emulator.authority}/oauth2/v2.0/devicecode"
    stranger = http.post(url, data={"client_id": "00000000-0000-0000-0000-000000000001", "scope": "User.Read"})
    assert stranger.status_code == 400 and stranger.json()["error_codes"] == [700016]
    scope = http.post(url, data={"client_id": emulator.public_client_id, "scope": "Mail.Read"})
    assert scope.json()["error"] == "invalid_scope"


# --- refresh -------------------------------------------------------------------------------------------------


def _signed_in(emu: Emulator, http: httpx.Client, *names: str) -> tuple[msal.PublicClientApplication, dict]:
    app = public_app(emu, http)
    flow = app.initiate_device_flow(scopes=scopes(emu, *names))
    emu.approve(flow["user_code"], emu.member_upn)
    result = poll_once(app, flow)
    assert "access_token" in result
    return app, app.get_accounts()[0]


def test_silent_refresh_after_expiry(emulator: Emulator, http: httpx.Client) -> None:
    emulator.set_token_lifetime(1)  # MSAL treats a token this close to expiry as expired
    app, account = _signed_in(emulator, http, "User.ReadWrite")
    emulator.set_token_lifetime(3600)
    result = app.acquire_token_silent(scopes(emulator, "User.ReadWrite"), account=account)
    assert result is not None and result["token_source"] == "identity_provider"
    again = app.acquire_token_silent(scopes(emulator, "User.ReadWrite"), account=account)
    assert again["token_source"] == "cache" and again["access_token"] == result["access_token"]
    grants = [r for r in emulator.request_log() if r["path"].endswith("/token")]
    assert len(grants) == 2  # the device code redemption and one refresh


def test_refresh_for_unconsented_scope_needs_consent(emulator: Emulator, http: httpx.Client) -> None:
    app, account = _signed_in(emulator, http, "User.ReadWrite")
    emulator.set_client_scopes(["User.Read", "User.ReadWrite"])
    result = app.acquire_token_silent_with_error(scopes(emulator, "ProfilePhoto.ReadWrite.All"), account=account)
    assert result["error"] == "invalid_grant" and result.get("suberror") == "consent_required"
    assert "AADSTS65001" in result["error_description"]


def test_revoked_refresh_token_fails_silently(emulator: Emulator, http: httpx.Client) -> None:
    app, account = _signed_in(emulator, http, "User.ReadWrite")
    emulator.revoke_refresh_tokens(emulator.member_upn)
    result = app.acquire_token_silent_with_error(
        scopes(emulator, "User.ReadWrite"), account=account, force_refresh=True
    )
    assert result["error"] == "invalid_grant"


# --- client credentials --------------------------------------------------------------------------------------


def test_client_credentials_with_secret(emulator: Emulator, http: httpx.Client) -> None:
    app = msal.ConfidentialClientApplication(
        emulator.app_client_id,
        client_credential=emulator.app_client_secret,
        authority=emulator.authority,
        http_client=http,
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes(emulator, ".default"))
    access = claims(result["access_token"])
    assert access["idtyp"] == "app" and set(access["roles"]) == {"ProfilePhoto.ReadWrite.All", "User.Read.All"}
    assert "scp" not in access and access["appid"] == emulator.app_client_id
    wrong = msal.ConfidentialClientApplication(
        emulator.app_client_id,
        client_credential="not-the-secret",
        authority=emulator.authority,
        http_client=http,
        instance_discovery=False,
    ).acquire_token_for_client(scopes(emulator, ".default"))
    assert wrong["error"] == "invalid_client" and 7000215 in wrong["error_codes"]
    no_default = app.acquire_token_for_client(scopes(emulator, "User.Read.All"))
    assert no_default["error"] == "invalid_scope"


def test_client_credentials_with_certificate(emulator: Emulator, http: httpx.Client) -> None:
    pem = emulator.app_cert_path.read_text()

    def acquire(credential_pem: str, client: Any) -> dict[str, Any]:
        return msal.ConfidentialClientApplication(
            emulator.app_client_id,
            client_credential={"private_key": credential_pem, "public_certificate": credential_pem},
            authority=emulator.authority,
            http_client=client,
            instance_discovery=False,
        ).acquire_token_for_client(scopes(emulator, ".default"))

    result = acquire(pem, FormBytesAsText(http))
    assert claims(result["access_token"])["appid"] == emulator.app_client_id
    stranger = acquire(self_signed_pem().decode(), FormBytesAsText(http))
    assert stranger["error"] == "invalid_client" and 700027 in stranger["error_codes"]
    mangled = acquire(pem, http)  # plain httpx sends "b'eyJ...'": refused as Entra refuses it
    assert 50027 in mangled["error_codes"]


def test_a_second_app_without_roles(emulator: Emulator, http: httpx.Client) -> None:
    extra = emulator.add_app()
    result = http.post(
        f"{emulator.authority}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default", **extra},
    ).json()
    assert claims(result["access_token"])["roles"] == []
    resp = http.get(f"{emulator.graph_url}/v1.0/users", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert resp.status_code == 403


# --- authorization code + PKCE -------------------------------------------------------------------------------


def test_auth_code_with_pkce(emulator: Emulator, http: httpx.Client) -> None:
    app = public_app(emulator, http)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MSAL recommends form_post; the paste-back flow needs query
        flow = app.initiate_auth_code_flow(scopes(emulator, "User.ReadWrite"), redirect_uri="http://localhost")
    assert parse_qs(urlsplit(flow["auth_uri"]).query)["code_challenge_method"] == ["S256"]
    redirected = emulator.authorize(flow["auth_uri"], emulator.member_upn)
    assert redirected.startswith("http://localhost?code=") or redirected.startswith("http://localhost/?code=")
    reply = {k: v[0] for k, v in parse_qs(urlsplit(redirected).query).items()}
    result = app.acquire_token_by_auth_code_flow(flow, reply)
    assert "access_token" in result, result.get("error_description")
    assert app.get_accounts()[0]["username"] == emulator.member_upn
    reused = http.post(
        f"{emulator.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": emulator.public_client_id,
            "code": reply["code"],
            "redirect_uri": "http://localhost",
            "code_verifier": flow["code_verifier"],
        },
    ).json()
    assert reused["error"] == "invalid_grant" and reused["error_codes"] == [54005]


def test_auth_code_with_wrong_verifier_and_the_html_sign_in(emulator: Emulator, http: httpx.Client) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": emulator.public_client_id,
        "response_type": "code",
        "redirect_uri": "http://localhost:8400/",
        "scope": "User.Read openid",
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    url = f"{emulator.authority}/oauth2/v2.0/authorize"
    page = http.get(url, params=query)
    assert page.status_code == 200 and "Megan Bowen" in page.text
    signed = http.post(url, params=query, data={"upn": emulator.member_upn})
    assert signed.status_code == 302
    reply = parse_qs(urlsplit(signed.headers["location"]).query)
    assert reply["state"] == ["xyz"] and signed.headers["location"].startswith("http://localhost:8400/?")
    form = {
        "grant_type": "authorization_code",
        "client_id": emulator.public_client_id,
        "code": reply["code"][0],
        "redirect_uri": "http://localhost:8400/",
        "code_verifier": "w" * 50,
    }
    bad = http.post(f"{emulator.authority}/oauth2/v2.0/token", data=form).json()
    assert bad["error"] == "invalid_grant" and bad["error_codes"] == [501481]
    evil = http.get(url, params={**query, "redirect_uri": "https://evil.example/"})
    assert evil.status_code == 200  # the page renders; signing in is what refuses
    refused = http.post(
        url, params={**query, "redirect_uri": "https://evil.example/"}, data={"upn": emulator.member_upn}
    )
    assert refused.status_code == 400 and "AADSTS50011" in refused.text


def test_token_errors_look_like_entra(emulator: Emulator, http: httpx.Client) -> None:
    resp = http.post(f"{emulator.authority}/oauth2/v2.0/token", data={"grant_type": "password"})
    body = resp.json()
    assert resp.status_code == 400 and body["error"] == "unsupported_grant_type"
    assert body["error_description"].startswith("AADSTS70003:") and body["trace_id"] and body["correlation_id"]
    assert json.loads(resp.text) == body
