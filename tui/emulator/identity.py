"""The identity half: OpenID discovery, device code, token endpoint (device code, refresh token, client credentials
with secret or certificate, authorization code + PKCE), the authorize and device-login pages, and token minting.

Shapes follow Entra ID closely enough that MSAL builds and caches accounts unchanged: ``client_info`` carries
``uid``/``utid``, the id token carries ``oid``/``tid``/``preferred_username``, errors carry ``AADSTS`` codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import jwt

from tui.emulator.tenant import GRAPH_APP_ID
from tui.emulator.wire import Request, Response, html_page, json_response, oauth_error

if TYPE_CHECKING:
    from tui.emulator.api import Emulator

RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}
GRAPH_HOSTS = ("https://graph.microsoft.com", GRAPH_APP_ID)
DEVICE_CODE_LIFETIME = 900
DEVICE_GRANTS = {"urn:ietf:params:oauth:grant-type:device_code", "device_code"}


@dataclass
class DeviceCode:
    user_code: str
    device_code: str
    client_id: str
    scopes: list[str]  # as requested (forms kept for the response's ``scope``)
    created: float = field(default_factory=time.monotonic)
    expires_at: float = 0.0
    state: str = "pending"  # pending | approved | declined | redeemed
    upn: str | None = None
    last_poll: float | None = None


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    challenge: str | None
    method: str
    nonce: str | None
    upn: str
    expires_at: float


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def short_scope(scope: str, base_url: str) -> str:
    """``https://127.0.0.1:1234/User.Read`` or ``https://graph.microsoft.com/User.Read`` -> ``User.Read``."""
    for host in (base_url, *GRAPH_HOSTS):
        if scope.lower().startswith(host.lower() + "/"):
            return scope[len(host) + 1 :]
    return scope


def split_scopes(emu: Emulator, raw: str) -> tuple[list[str], list[str]]:
    """Requested scopes (as written) without the OpenID ones, and their short names."""
    asked = [s for s in raw.split() if s.lower() not in RESERVED_SCOPES]
    return asked, [short_scope(s, emu.base_url) for s in asked]


# --- tokens ------------------------------------------------------------------------------------------------


def _sign(emu: Emulator, claims: dict[str, Any]) -> str:
    headers = {"kid": emu.keys.signing_kid, "x5t": emu.keys.signing_kid}
    return jwt.encode(claims, emu.keys.signing_key, algorithm="RS256", headers=headers)


def mint_access_token(
    emu: Emulator,
    *,
    user: dict[str, Any] | None,
    client_id: str,
    scopes: list[str] | tuple[str, ...] = (),
    roles: list[str] | tuple[str, ...] = (),
    lifetime: int | None = None,
    audience: str | None = None,
) -> str:
    now = int(time.time())
    app = emu.tenant.apps.get(client_id, {})
    claims: dict[str, Any] = {
        "aud": audience or emu.base_url,
        "iss": f"{emu.base_url}/{emu.tenant_id}/",
        "iat": now,
        "nbf": now - 60,
        "exp": now + (emu.token_lifetime if lifetime is None else lifetime),
        "app_displayname": app.get("name", "app"),
        "appid": client_id,
        "tid": emu.tenant_id,
        "uti": _b64url(secrets.token_bytes(16)),
        "ver": "1.0",
    }
    if user is None:
        oid = app.get("object_id", client_id)
        claims.update(idtyp="app", oid=oid, sub=oid, roles=sorted(roles), appidacr="1")
    else:
        claims.update(
            idtyp="user",
            oid=user["id"],
            sub=hashlib.sha256(f"{user['id']}/{client_id}".encode()).hexdigest()[:43],
            upn=user["userPrincipalName"],
            unique_name=user["userPrincipalName"],
            name=user["displayName"],
            given_name=user.get("givenName"),
            family_name=user.get("surname"),
            scp=" ".join(sorted(set(scopes))),
            appidacr="0",
            wids=sorted(emu.role_ids(user)),
        )
    return _sign(emu, claims)


def _id_token(emu: Emulator, user: dict[str, Any], client_id: str, nonce: str | None) -> str:
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": f"{emu.base_url}/{emu.tenant_id}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": user["displayName"],
        "oid": user["id"],
        "preferred_username": user["userPrincipalName"],
        "sub": hashlib.sha256(f"{user['id']}/{client_id}".encode()).hexdigest()[:43],
        "tid": emu.tenant_id,
        "ver": "2.0",
    }
    if nonce:
        claims["nonce"] = nonce
    return _sign(emu, claims)


def _delegated_tokens(
    emu: Emulator, user: dict[str, Any], client_id: str, asked: list[str], nonce: str | None = None
) -> Response:
    shorts = [short_scope(s, emu.base_url) for s in asked]
    if any(s == ".default" for s in shorts):
        shorts = list(emu.tenant.apps[client_id]["scopes"])
        asked = [f"{emu.base_url}/{s}" for s in shorts]
    refresh = "1.AQ" + secrets.token_urlsafe(48)
    with emu.tenant.lock:
        now = time.time()
        for key in [k for k, grant in emu.tenant.refresh_tokens.items() if grant["expires_at"] < now]:
            del emu.tenant.refresh_tokens[key]
        emu.tenant.refresh_tokens[hashlib.sha256(refresh.encode()).hexdigest()] = {
            "user_id": user["id"],
            "client_id": client_id,
            "expires_at": now + 90 * 86400,
        }
        emu.tenant.save()
    lifetime = emu.token_lifetime
    client_info = _b64url(json.dumps({"uid": user["id"], "utid": emu.tenant_id}).encode())
    return json_response(
        200,
        {
            "token_type": "Bearer",
            "scope": " ".join([*asked, "openid", "profile", "email"]),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": mint_access_token(emu, user=user, client_id=client_id, scopes=shorts),
            "refresh_token": refresh,
            "id_token": _id_token(emu, user, client_id, nonce),
            "client_info": client_info,
        },
        headers={"Cache-Control": "no-store"},
    )


# --- endpoints -----------------------------------------------------------------------------------------------


def known_tenant(emu: Emulator, name: str) -> bool:
    return name.lower() in {emu.tenant_id, "organizations", "common", emu.tenant_domain.lower()}


def openid_configuration(emu: Emulator, tenant: str) -> Response:
    if not known_tenant(emu, tenant):
        return oauth_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
        )
    base = f"{emu.base_url}/{tenant}"
    issuer_tid = emu.tenant_id if tenant.lower() not in {"organizations", "common"} else "{tenantid}"
    return json_response(
        200,
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{emu.base_url}/{issuer_tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{emu.base_url}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "oid",
            ],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": urlsplit(emu.base_url).netloc,
        },
    )


def _check_public_client(emu: Emulator, client_id: str, shorts: list[str]) -> Response | None:
    app = emu.tenant.apps.get(client_id)
    if app is None:
        return oauth_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{emu.tenant_domain}'.",
        )
    if not app.get("public"):
        return oauth_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    unknown = [s for s in shorts if s != ".default" and s not in app["scopes"]]
    if unknown:
        return oauth_error(
            400,
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid. The scope '{unknown[0]}' is not "
            "configured for this application.",
        )
    return None


def device_code(emu: Emulator, req: Request) -> Response:
    form = req.form
    asked, shorts = split_scopes(emu, form.get("scope", ""))
    refused = _check_public_client(emu, form.get("client_id", ""), shorts)
    if refused:
        return refused
    alphabet = string.ascii_uppercase + string.digits
    user_code = "".join(secrets.choice(alphabet) for _ in range(9))
    code = DeviceCode(user_code, "DAQ" + secrets.token_urlsafe(48), form["client_id"], asked)
    code.expires_at = code.created + emu.device_code_lifetime
    with emu.tenant.lock:
        for stale in [k for k, c in emu.device_codes.items() if c.expires_at < code.created - 60]:
            del emu.device_codes[stale]  # long-running demos should not hoard old codes
        emu.device_codes[user_code] = code
    uri = f"{emu.base_url}/devicelogin"
    return json_response(
        200,
        {
            "user_code": user_code,
            "device_code": code.device_code,
            "verification_uri": uri,
            "expires_in": int(emu.device_code_lifetime),
            "interval": emu.device_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} "
            "to authenticate.",
        },
    )


def _redeem_device_code(emu: Emulator, form: dict[str, str]) -> Response:
    with emu.tenant.lock:
        code = next((c for c in emu.device_codes.values() if c.device_code == form.get("device_code")), None)
        now = time.monotonic()
        if code is None or code.client_id != form.get("client_id") or code.state == "redeemed":
            return oauth_error(400, "bad_verification_code", 70000, "The provided device code is not valid.")
        if now >= code.expires_at:
            return oauth_error(400, "expired_token", 70019, "Verification code expired.")
        if code.state == "pending" and emu.approve_after is not None and now - code.created >= emu.approve_after:
            code.state, code.upn = "approved", emu.admin_upn
        if code.state == "declined":
            return oauth_error(400, "authorization_declined", 70000, "The user declined the sign-in request.")
        if code.state == "pending":
            too_soon = code.last_poll is not None and now - code.last_poll < emu.device_interval / 2
            code.last_poll = now
            if too_soon:
                return oauth_error(400, "slow_down", None, "Polling too fast; wait the interval between requests.")
            return oauth_error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        code.state = "redeemed"
        user = emu.tenant.require(code.upn or emu.admin_upn)
    if emu.block_device_code:
        return oauth_error(
            400,
            "invalid_grant",
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            suberror="message_only",
        )
    return _delegated_tokens(emu, user, code.client_id, code.scopes)


def _redeem_refresh_token(emu: Emulator, form: dict[str, str]) -> Response:
    asked, shorts = split_scopes(emu, form.get("scope", ""))
    key = hashlib.sha256(form.get("refresh_token", "").encode()).hexdigest()
    with emu.tenant.lock:
        grant = emu.tenant.refresh_tokens.get(key)
    if grant is None or grant["client_id"] != form.get("client_id"):
        return oauth_error(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.", suberror="bad_token")
    if time.time() >= grant["expires_at"]:
        return oauth_error(
            400, "invalid_grant", 700082, "The refresh token has expired due to inactivity.", suberror="bad_token"
        )
    app = emu.tenant.apps[grant["client_id"]]
    missing = [s for s in shorts if s != ".default" and s not in app["scopes"]]
    if missing:
        return oauth_error(
            400,
            "invalid_grant",
            65001,
            f"The user or administrator has not consented to use the application with ID '{app['client_id']}' "
            f"named '{app['name']}'. Send an interactive authorization request for this user and resource.",
            suberror="consent_required",
        )
    user = emu.tenant.find(grant["user_id"])
    if user is None or not user.get("accountEnabled", True):
        return oauth_error(
            400, "invalid_grant", 50057, "The user account is disabled.", suberror="user_password_expired"
        )
    return _delegated_tokens(emu, user, grant["client_id"], asked or list(app["scopes"]))


def _thumbprints(cert: Any) -> set[str]:
    from cryptography.hazmat.primitives import hashes

    return {_b64url(cert.fingerprint(hashes.SHA1())), _b64url(cert.fingerprint(hashes.SHA256()))}


def _check_assertion(emu: Emulator, app: dict[str, Any], assertion: str) -> Response | None:
    """None when the assertion is a JWT signed by the app's registered certificate, naming the app."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return oauth_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
    if not _assertion_ok(emu, app, assertion, header):
        return oauth_error(
            401, "invalid_client", 700027, "Client assertion failed signature validation or names another app."
        )
    return None


def _assertion_ok(emu: Emulator, app: dict[str, Any], assertion: str, header: dict[str, Any]) -> bool:
    cert = emu.app_certificate(app["client_id"])
    if cert is None:
        return False
    try:
        thumbs = {str(header[k]).rstrip("=") for k in ("x5t", "x5t#S256") if header.get(k)}
        if not thumbs & _thumbprints(cert):
            return False
        claims = jwt.decode(
            assertion,
            cert.public_key(),
            algorithms=["RS256", "PS256"],
            options={"verify_aud": False, "require": ["exp", "iss", "sub", "aud"]},
        )
    except jwt.PyJWTError:
        return False
    aud = claims["aud"] if isinstance(claims["aud"], str) else next(iter(claims["aud"]), "")
    return claims["iss"] == claims["sub"] == app["client_id"] and aud.endswith("/oauth2/v2.0/token")


def _client_credentials(emu: Emulator, form: dict[str, str]) -> Response:
    app = emu.tenant.apps.get(form.get("client_id", ""))
    if app is None:
        return oauth_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id')}' was not found in the directory "
            f"'{emu.tenant_domain}'.",
        )
    if "client_assertion" in form:
        refused = _check_assertion(emu, app, form["client_assertion"])
        if refused is not None:
            return refused
    elif "client_secret" in form:
        secret = app.get("secret")
        if not secret or not hmac.compare_digest(secret, form["client_secret"]):
            return oauth_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                "value, not the client secret ID.",
            )
    else:
        return oauth_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    scopes = form.get("scope", "").split()
    resources = {s.rsplit("/", 1)[0] for s in scopes if s.endswith("/.default")}
    if len(scopes) != 1 or not resources or not resources <= {emu.base_url, *GRAPH_HOSTS}:
        return oauth_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {' '.join(scopes) or '(none)'} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier (application ID URI).",
        )
    token = mint_access_token(emu, user=None, client_id=app["client_id"], roles=app.get("roles", []))
    lifetime = emu.token_lifetime
    return json_response(
        200,
        {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token},
        headers={"Cache-Control": "no-store"},
    )


def _redeem_auth_code(emu: Emulator, form: dict[str, str]) -> Response:
    with emu.tenant.lock:
        code = emu.auth_codes.pop(form.get("code", ""), None)
    if code is None:
        return oauth_error(
            400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed or is not valid."
        )
    if time.monotonic() >= code.expires_at:
        return oauth_error(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired.")
    if code.client_id != form.get("client_id") or code.redirect_uri != form.get("redirect_uri"):
        return oauth_error(
            400, "invalid_grant", 50148, "The redirect URI or client id does not match the authorization request."
        )
    verifier = form.get("code_verifier", "")
    if code.challenge is not None:
        expected = _b64url(hashlib.sha256(verifier.encode()).digest()) if code.method == "S256" else verifier
        if not hmac.compare_digest(expected, code.challenge):
            return oauth_error(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            )
    return _delegated_tokens(emu, emu.tenant.require(code.upn), code.client_id, code.scopes, code.nonce)


def token(emu: Emulator, req: Request) -> Response:
    form = req.form
    grant = form.get("grant_type", "")
    if grant in DEVICE_GRANTS:
        return _redeem_device_code(emu, form)
    if grant == "refresh_token":
        return _redeem_refresh_token(emu, form)
    if grant == "client_credentials":
        return _client_credentials(emu, form)
    if grant == "authorization_code":
        return _redeem_auth_code(emu, form)
    return oauth_error(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")


# --- authorization code + PKCE -----------------------------------------------------------------------------


def _redirect_allowed(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1"}


def authorize_redirect(emu: Emulator, query: dict[str, str], upn: str) -> str:
    """Sign ``upn`` in for an authorize request and return the URL the browser would be sent to.

    Raises ValueError with the reason (in Entra's words) when the request itself is bad.
    """
    client_id, redirect = query.get("client_id", ""), query.get("redirect_uri", "")
    asked, shorts = split_scopes(emu, query.get("scope", ""))
    refused = _check_public_client(emu, client_id, shorts)
    if refused is not None:
        raise ValueError(json.loads(refused.body)["error_description"].split(" Trace ID")[0])
    if not _redirect_allowed(redirect):
        raise ValueError(
            f"AADSTS50011: The redirect URI '{redirect}' specified in the request does not match the redirect URIs "
            f"configured for the application '{client_id}'."
        )
    if query.get("response_type") != "code":
        raise ValueError("AADSTS900144: The request body must contain the following parameter: 'response_type'.")
    user = emu.tenant.require(upn)
    code = "1.AQ" + secrets.token_urlsafe(64)
    with emu.tenant.lock:
        emu.auth_codes[code] = AuthCode(
            client_id,
            redirect,
            asked,
            query.get("code_challenge"),
            query.get("code_challenge_method", "plain"),
            query.get("nonce"),
            user["userPrincipalName"],
            time.monotonic() + 600,
        )
    params = {"code": code, "state": query.get("state", ""), "session_state": str(uuid.uuid4())}
    sep = "&" if urlsplit(redirect).query else "?"
    return f"{redirect}{sep}{urlencode(params)}"


def authorize_page(emu: Emulator, req: Request) -> Response:
    """GET: a tiny sign-in page listing the tenant's users; POST (``upn``): redirect back with a code."""
    query = dict(req.query)
    if req.method == "POST":
        query.update(req.form)
        try:
            return Response(302, b"", None, {"Location": authorize_redirect(emu, query, query.get("upn", ""))})
        except (ValueError, KeyError) as exc:
            return html_page(400, "Sign-in failed", f"<p>{html.escape(str(exc))}</p>")
    hidden = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>" for k, v in query.items()
    )
    buttons = "".join(
        f"<button name='upn' value='{html.escape(u['userPrincipalName'])}'>{html.escape(u['displayName'])}</button><br>"
        for u in emu.sign_in_candidates()
    )
    return html_page(
        200, "Sign in to the emulator", f"<p>Pick an account:</p><form method='post'>{hidden}{buttons}</form>"
    )


def devicelogin_page(emu: Emulator, req: Request) -> Response:
    """Where a human approves or declines a pending device code (browser through a tunnel, or curl)."""
    data = {**req.query, **(req.form if req.method == "POST" else {})}
    note = ""
    if req.method == "POST":
        code = data.get("code", "").strip().upper().replace("-", "")
        try:
            if data.get("action") == "decline":
                emu.decline(code)
                note = f"<p><b>Declined</b> code {html.escape(code)}.</p>"
            else:
                emu.approve(code, data.get("upn") or None)
                note = f"<p><b>Approved</b> code {html.escape(code)}. You can close this page.</p>"
        except (KeyError, LookupError) as exc:
            return html_page(400, "Device login", f"<p>{html.escape(str(exc.args[0]))}</p>")
    options = "".join(
        f"<option value='{html.escape(u['userPrincipalName'])}'>{html.escape(u['displayName'])} "
        f"({html.escape(u['userPrincipalName'])})</option>"
        for u in emu.sign_in_candidates()
    )
    pending = ", ".join(html.escape(c) for c in emu.pending_device_codes()) or "none"
    form = (
        f"{note}<p>Pending codes: {pending}</p><form method='post'>"
        f"<p>Code: <input name='code' value='{html.escape(data.get('code', ''))}' autofocus></p>"
        f"<p>Account: <select name='upn'>{options}</select></p>"
        "<button name='action' value='approve'>Approve</button>"
        "<button name='action' value='decline'>Decline</button></form>"
    )
    return html_page(200, "Device login", form)
