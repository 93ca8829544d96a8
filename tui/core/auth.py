"""Signing in with MSAL in a way that works over SSH, and keeping the result in a private per-profile token cache.

MSAL is synchronous, so every method here blocks; the app calls them from thread workers and the CLI calls them
directly. Device code is driven one poll per call so a UI can show the server's own message and cancel at any
time. Nothing in this module ever puts a token into a message, a repr or a log line.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import signal
import threading
import time
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from tui.core.config import command_hint, private_subdir, state_dir
from tui.core.errors import AuthError, CancelledError, ConfigError, NetworkError
from tui.core.files import write_atomically
from tui.core.net import sync_client

if TYPE_CHECKING:
    import msal

    from tui.core.config import Settings

OWN_SCOPES = ("User.ReadWrite",)
ADMIN_SCOPES = ("User.Read.All", "ProfilePhoto.ReadWrite.All")
_OIDC = {"openid", "profile", "offline_access", "email"}
_GRANTED_KEY = "GraphPhotoGranted"  # our own section in the cache file: scopes granted per account
_CA_CODES = {53000, 53001, 53002, 53003, 53004, 50097, 50158, 530002, 530003, 530032, 530034}
_TENANT_CODES = {90002, 90033, 90072, 50020, 50128, 500011}
_APP_CODES = {700016, 50011, 7000112}


class TokenSource(Protocol):
    def token(self, scopes: Sequence[str], *, force_refresh: bool = False) -> str: ...


class DeviceCodeDeclined(AuthError):
    pass


class DeviceCodeExpired(AuthError):
    pass


class ConditionalAccessBlocked(AuthError):
    pass


class WrongTenantOrApp(AuthError):
    pass


class ConsentRequired(AuthError):
    """The account never granted ``scopes``: the caller should start an interactive sign-in for them and say why."""

    def __init__(self, message: str, scopes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.scopes = tuple(scopes)


class NotConfigured(AuthError):
    pass


@dataclass(frozen=True)
class Account:
    """Who is signed in; never holds a token."""

    username: str
    tenant_id: str | None
    object_id: str | None
    kind: Literal["delegated", "app", "env"]
    scopes: tuple[str, ...]


@dataclass
class DeviceCode:
    """What the sign-in screen shows, straight from the server (national clouds use other URLs)."""

    user_code: str
    verification_uri: str
    message: str
    expires_at: float
    interval: int


def login_command(settings: Settings, extra: str = "") -> str:
    """The exact command to sign in with these settings (the demo needs ``--demo`` to reach its emulator)."""
    return command_hint(settings, "login", extra)


def full_scopes(settings: Settings, scopes: Sequence[str]) -> list[str]:
    """Scopes written with the cloud's own Graph host (``--cloud``, or the emulator's), as Entra expects them."""
    host = settings.scope_host
    return [s if "://" in s or s in _OIDC else f"{host}/{s}" for s in dict.fromkeys(scopes)]


def short_scope(scope: str) -> str:
    """``https://graph.microsoft.com/User.Read`` -> ``User.Read``: servers answer in either form."""
    return scope.rsplit("/", 1)[-1] if "://" in scope else scope


def claims(token: str) -> dict[str, Any]:
    """The unverified payload of a JWT (for display only: which tenant, which scopes, when it expires)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _token_scopes(data: dict[str, Any]) -> tuple[str, ...]:
    scp = data.get("scp")
    names = scp.split() if isinstance(scp, str) else []
    roles = data.get("roles")
    names += [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []
    return tuple(sorted({short_scope(s) for s in names} - _OIDC))


def _describe(result: dict[str, Any]) -> str:
    """The first sentence of an error description, without the AADSTS prefix and the trace ids."""
    desc = str(result.get("error_description") or "").strip().splitlines()
    text = re.sub(r"^AADSTS\d+:\s*", "", desc[0]).split(" Trace ID:")[0] if desc else ""
    return text if len(text) <= 160 else text[:157] + "..."


def auth_error(result: dict[str, Any], settings: Settings) -> AuthError:
    """One MSAL error result -> the AuthError subclass and sentence a user can act on."""
    error = str(result.get("error") or "unknown_error")
    codes = {int(c) for c in result.get("error_codes") or [] if str(c).isdigit()}
    codes |= {int(c) for c in re.findall(r"AADSTS(\d+)", str(result.get("error_description") or ""))}
    suberror = result.get("suberror")
    code = f"AADSTS{min(codes)}" if codes else error
    if codes & _CA_CODES:
        return ConditionalAccessBlocked(
            f"Conditional Access blocked this sign-in ({code}): sign in with "
            f"`{login_command(settings, '--paste-back')}` on another device, or use app-only sign-in with a "
            f"certificate (`{login_command(settings, '--app-only')}`)"
        )
    if error == "consent_required" or suberror == "consent_required" or 65001 in codes:
        return ConsentRequired(f"this sign-in has not been granted the permissions needed ({code}): sign in again")
    if codes & _TENANT_CODES or error == "invalid_tenant":
        return WrongTenantOrApp(
            f"the sign-in service does not know tenant '{settings.tenant}' ({code}): check --tenant"
        )
    if codes & _APP_CODES or error == "unauthorized_client":
        return WrongTenantOrApp(
            f"app id '{settings.effective_client_id}' is not registered for this tenant or this sign-in method "
            f"({code}): check --client-id and --tenant"
        )
    if 7000218 in codes:
        return WrongTenantOrApp(
            "the app registration does not allow public client flows (AADSTS7000218): turn on "
            "'Allow public client flows' under Authentication in the app registration"
        )
    if error == "invalid_scope" or 70011 in codes:
        return WrongTenantOrApp(
            f"the app registration does not offer the permissions asked for ({code}): add them under "
            "API permissions in the app registration (and grant consent)"
        )
    if error == "invalid_client":
        return WrongTenantOrApp(f"the app's client secret or certificate was refused ({code}): check the credential")
    if error == "authorization_declined":
        return DeviceCodeDeclined("the sign-in was declined on the other device: start a new sign-in to try again")
    if error in {"expired_token", "code_expired"}:
        return DeviceCodeExpired("the sign-in code expired before it was used: start a new sign-in for a new code")
    if error == "access_denied":
        return AuthError(f"the sign-in was declined or cancelled in the browser ({error}): start a new sign-in")
    if error in {"invalid_grant", "interaction_required", "login_required"}:
        again = login_command(settings)
        return AuthError(f"your sign-in expired or was revoked ({error}): sign in again with `{again}`")
    detail = _describe(result)
    return AuthError(f"sign-in failed ({code})" + (f": {detail}" if detail else ""))


_LIVE: weakref.WeakSet[Authenticator] = weakref.WeakSet()
_SIGHUP_INSTALLED = False


def install_sighup_save() -> None:
    """Save every token cache when the SSH link drops: SIGHUP skips ``atexit``. Safe to call more than once."""
    global _SIGHUP_INSTALLED
    if _SIGHUP_INSTALLED or not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGHUP)

    def on_hangup(signum: int, frame: Any) -> None:
        for auth in list(_LIVE):
            with contextlib.suppress(Exception):
                auth.save()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGHUP)

    signal.signal(signal.SIGHUP, on_hangup)
    _SIGHUP_INSTALLED = True


class Authenticator:
    """Sign-in for one profile: device code, paste-back, app-only, or a token from the environment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._cache: msal.SerializableTokenCache | None = None
        self._granted: dict[str, list[str]] = {}
        self._public: msal.PublicClientApplication | None = None
        self._confidential: msal.ConfidentialClientApplication | None = None
        self._memo: dict[frozenset[str], tuple[str, float]] = {}
        self._flows: dict[str, dict[str, Any]] = {}
        self._cancelled: set[str] = set()
        self._auth_code_flow: dict[str, Any] | None = None
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"Authenticator(profile={self.settings.profile!r}, authority={self.settings.authority_url!r})"

    # --- token cache ----------------------------------------------------------------------------------

    @property
    def cache_path(self) -> Path:
        profile = self.settings.profile
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", profile):
            source = self.settings.sources.get("profile", "settings")
            raise ConfigError("profile", profile, source, "use letters, digits, '.', '_' or '-'")
        return private_subdir(state_dir(), "tokens") / f"{profile}.json"

    @property
    def cache(self) -> msal.SerializableTokenCache:
        with self._lock:
            if self._cache is None:
                import msal

                self._cache = msal.SerializableTokenCache()
                path = self.cache_path
                if path.exists():
                    if path.stat().st_mode & 0o077:
                        path.chmod(0o600)
                    try:
                        state = json.loads(path.read_text(encoding="utf-8"))
                        self._granted = state.pop(_GRANTED_KEY, {})
                        self._cache.deserialize(json.dumps(state))
                    except (OSError, ValueError, AttributeError):
                        # Unreadable: keep it aside for inspection rather than overwrite it.
                        path.replace(path.with_suffix(".unreadable"))
                        self._granted = {}
            return self._cache

    def save(self) -> None:
        """Write the cache atomically (mode 0600 from creation) if it changed since the last save."""
        with self._lock:
            cache = self._cache
            if cache is None or not cache.has_state_changed:
                return
            state = json.loads(cache.serialize() or "{}")
            state[_GRANTED_KEY] = self._granted
            write_atomically(self.cache_path, json.dumps(state).encode())  # 0600 from creation
            cache.has_state_changed = False

    def _cache_accounts(self) -> list[dict[str, Any]]:
        import msal
        from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

        host = (urlsplit(self.settings.authority_url).hostname or "").lower()
        cache = self.cache
        accounts = [
            a
            for a in cache.search(msal.TokenCache.CredentialType.ACCOUNT)
            if a.get("environment") == host
            or (host in WELL_KNOWN_AUTHORITY_HOSTS and a.get("environment") in WELL_KNOWN_AUTHORITY_HOSTS)
        ]
        client_id = self.settings.effective_client_id
        with_rt = {
            rt.get("home_account_id")
            for rt in cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN, query={"client_id": client_id})
        }
        return sorted(accounts, key=lambda a: a.get("home_account_id") not in with_rt)

    def _granted_for(self, home_account_id: str) -> set[str]:
        return set(self._granted.get(home_account_id, ()))

    def _remember(self, result: dict[str, Any], requested: Sequence[str], home_account_id: str | None) -> str:
        """Keep what an acquisition granted (memo + cache file) and return its access token."""
        token = result["access_token"]
        scope = result.get("scope")
        granted = {short_scope(s) for s in (scope.split() if isinstance(scope, str) else requested)} - _OIDC
        granted |= set(_token_scopes(claims(token)))
        known = self._granted_for(home_account_id) if home_account_id else granted
        if home_account_id and not granted <= known:
            self._granted[home_account_id] = sorted(known | granted)
            self.cache.has_state_changed = True
        expires = time.time() + float(result.get("expires_in") or 300)
        self._memo[frozenset(granted or {short_scope(s) for s in requested})] = (token, expires)
        self.save()
        return token

    # --- MSAL applications ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _network(self) -> Iterator[None]:
        """Turn transport and discovery failures inside MSAL into one sentence."""
        import httpx

        host = urlsplit(self.settings.authority_url).netloc
        try:
            yield
        except httpx.HTTPError as exc:
            text = str(exc)
            if "CERTIFICATE_VERIFY_FAILED" in text:
                raise AuthError(
                    f"the sign-in service {host} presented a certificate this machine does not trust: "
                    "pass --ca-bundle for a private CA"
                ) from None
            raise NetworkError(f"cannot reach the sign-in service {host}: {type(exc).__name__}") from None
        except ValueError as exc:
            text = str(exc)
            if "OIDC Discovery" in text or "authority configuration" in text:
                raise WrongTenantOrApp(
                    f"the sign-in service {host} does not know tenant '{self.settings.tenant}': check --tenant "
                    "(or --authority)"
                ) from None
            if "https" in text and "authority" in text.lower():
                url = self.settings.authority_url
                raise AuthError(f"the sign-in authority must be an https:// URL, not {url}") from None
            raise

    def _msal_kwargs(self) -> dict[str, Any]:
        from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

        host = (urlsplit(self.settings.authority_url).hostname or "").lower()
        return {
            "authority": self.settings.authority_url,
            "http_client": sync_client(self.settings),
            "token_cache": self.cache,
            # An emulator or a proxy is not a Microsoft host: skip the instance discovery that would reject it.
            "instance_discovery": None if host in WELL_KNOWN_AUTHORITY_HOSTS else False,
        }

    def _public_app(self) -> msal.PublicClientApplication:
        with self._lock:
            if self._public is None:
                client_id = self.settings.effective_client_id
                if not client_id:
                    raise NotConfigured(
                        "no app (client) id is configured: register an app as the README's 'Register an app' "
                        "section shows, then pass --client-id or set GRAPHPHOTO_CLIENT_ID; "
                        "or opt in to Microsoft's Graph Command Line Tools app with --use-graph-cli-tools-app."
                    )
                import msal

                with self._network():
                    self._public = msal.PublicClientApplication(client_id, **self._msal_kwargs())
            return self._public

    def _client_credential(self) -> str | dict[str, str]:
        s = self.settings
        if s.client_secret:
            return s.client_secret
        path = Path(s.client_certificate_path or "")
        password = s.client_certificate_password.encode() if s.client_certificate_password else None
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        try:
            data = path.read_bytes()
            if path.suffix.lower() in {".pfx", ".p12"}:
                key, cert, _ = pkcs12.load_key_and_certificates(data, password)
            else:
                key = serialization.load_pem_private_key(data, password)
                cert = x509.load_pem_x509_certificate(data)
        except OSError as exc:
            raise AuthError(f"cannot read the client certificate {path}: {exc.strerror}") from None
        except (ValueError, TypeError):
            raise AuthError(
                f"cannot load the client certificate {path}: it must be a PEM file with the private key and the "
                "certificate, or a PFX file (with GRAPHPHOTO_CLIENT_CERTIFICATE_PASSWORD if it has one)"
            ) from None
        if key is None or cert is None:
            raise AuthError(f"the client certificate {path} must hold both the private key and the certificate")
        pem_key = key.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {"private_key": pem_key.decode(), "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper()}

    def _confidential_app(self) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._confidential is None:
                s = self.settings
                if not s.client_id:
                    raise NotConfigured("app-only sign-in needs the app's client id: pass --client-id")
                if not s.authority and s.tenant in {"organizations", "common", "consumers"}:
                    raise AuthError("app-only sign-in needs a tenant: pass --tenant contoso.onmicrosoft.com")
                import msal

                credential = self._client_credential()
                with self._network():
                    self._confidential = msal.ConfidentialClientApplication(
                        s.client_id, client_credential=credential, **self._msal_kwargs()
                    )
            return self._confidential

    def _full(self, scopes: Sequence[str]) -> list[str]:
        return full_scopes(self.settings, scopes)

    # --- public API -----------------------------------------------------------------------------------

    def account(self) -> Account | None:
        """Who is signed in, from the cache only (no network)."""
        s = self.settings
        if s.access_token:
            data = claims(s.access_token)
            return Account(
                "token from GRAPHPHOTO_ACCESS_TOKEN", data.get("tid"), data.get("oid"), "env", _token_scopes(data)
            )
        with self._lock:
            if s.app_only:
                return self._app_account()
            if not s.effective_client_id:
                return None
            peeked = self._peek_account() if self._cache is None else None
            if peeked is not None:
                a, granted = peeked
            else:
                accounts = self._cache_accounts()
                if not accounts:
                    return None
                a = accounts[0]
                granted = self._granted_for(a["home_account_id"])
            return Account(
                a.get("username") or "unknown",
                a.get("realm"),
                a.get("local_account_id"),
                "delegated",
                tuple(sorted(granted)),
            )

    def _peek_account(self) -> tuple[dict[str, Any], set[str]] | None:
        """The signed-in account read from the cache file itself (MSAL's unified cache schema), without MSAL.

        The app asks "who is signed in?" before drawing the cached profile, and importing MSAL costs ~130 ms.
        Only an exact match of the authority host is trusted here; anything else (``None``) goes through MSAL.
        """
        try:
            state = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        host = (urlsplit(self.settings.authority_url).hostname or "").lower()
        client_id = self.settings.effective_client_id
        with_rt = {
            rt.get("home_account_id")
            for rt in (state.get("RefreshToken") or {}).values()
            if rt.get("client_id") == client_id
        }
        accounts = [a for a in (state.get("Account") or {}).values() if a.get("environment") == host]
        accounts.sort(key=lambda a: a.get("home_account_id") not in with_rt)
        if not accounts or not accounts[0].get("home_account_id"):
            return None
        home = accounts[0]["home_account_id"]
        return accounts[0], set((state.get(_GRANTED_KEY) or {}).get(home, ()))

    def _app_account(self) -> Account | None:
        import msal

        client_id = self.settings.client_id
        tokens = [
            at
            for at in self.cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, query={"client_id": client_id})
            if not at.get("home_account_id")
        ]
        if not tokens:
            return None
        data = claims(max(tokens, key=lambda at: int(at.get("cached_at", 0)))["secret"])
        tenant = data.get("tid") or tokens[0].get("realm")
        return Account(f"app {client_id}", tenant, data.get("oid"), "app", _token_scopes(data))

    def token(self, scopes: Sequence[str], *, force_refresh: bool = False) -> str:
        """A valid access token for ``scopes`` without user interaction, or an AuthError saying why not."""
        s = self.settings
        if s.access_token:
            exp = claims(s.access_token).get("exp")
            if force_refresh or (isinstance(exp, (int, float)) and exp < time.time()):
                raise AuthError(
                    "the token in GRAPHPHOTO_ACCESS_TOKEN expired or was refused: get a new one, or unset it and "
                    f"run `{login_command(s)}`"
                )
            return s.access_token
        wanted = {short_scope(x) for x in scopes} - _OIDC
        with self._lock:
            if force_refresh:
                self._memo.clear()
            now = time.time()
            for granted, (token, expires) in self._memo.items():
                if wanted <= granted and expires - 120 > now:
                    return token
            if s.app_only:
                return self._app_token(force_refresh)
            app = self._public_app()
            accounts = self._cache_accounts()
            if not accounts:
                raise AuthError(f"not signed in: run `{login_command(s)}`")
            account = accounts[0]
            home = account["home_account_id"]
            known = self._granted_for(home)
            missing = sorted(wanted - known)
            if known and missing:
                raise ConsentRequired(
                    f"this needs {', '.join(missing)}, which {account.get('username')} has not granted to this app: "
                    f"sign in again to grant it (`{login_command(s, '--admin')}`)",
                    missing,
                )
            with self._network():
                result = app.acquire_token_silent_with_error(
                    self._full(scopes), account=account, force_refresh=force_refresh
                )
            if not result:
                raise AuthError(f"your sign-in has no refresh token for these permissions: run `{login_command(s)}`")
            if "access_token" not in result:
                self.save()
                raise auth_error(result, s)
            return self._remember(result, scopes, home)

    def _app_token(self, force_refresh: bool) -> str:
        app = self._confidential_app()
        if force_refresh:
            app.remove_tokens_for_client()
        scope = f"{self.settings.scope_host}/.default"
        with self._network():
            result = app.acquire_token_for_client([scope])
        if "access_token" not in result:
            raise auth_error(result, self.settings)
        return self._remember(result, [scope], None)

    def sign_in_app_only(self) -> Account:
        if not self.settings.app_only:
            raise AuthError(
                "app-only sign-in needs a client secret (GRAPHPHOTO_CLIENT_SECRET) or a certificate "
                "(GRAPHPHOTO_CLIENT_CERTIFICATE_PATH)"
            )
        with self._lock:
            self._app_token(force_refresh=False)
            account = self._app_account()
        assert account is not None
        return account

    def start_device_code(self, scopes: Sequence[str]) -> DeviceCode:
        app = self._public_app()
        with self._network():
            flow = app.initiate_device_flow(scopes=self._full(scopes))
        if "user_code" not in flow:
            raise auth_error(flow, self.settings)
        flow["graphphoto_scopes"] = list(scopes)
        with self._lock:
            self._flows[flow["user_code"]] = flow
        return DeviceCode(
            flow["user_code"],
            flow.get("verification_uri") or flow.get("verification_url") or "",
            flow.get("message") or "",
            float(flow.get("expires_at") or time.time() + int(flow.get("expires_in", 900))),
            int(flow.get("interval") or 5),
        )

    def poll_device_code(self, code: DeviceCode) -> Account | None:
        """One poll: an Account when approved, None while pending; raises on decline, expiry, refusal."""
        flow = self._flows.get(code.user_code)
        if flow is None or code.user_code in self._cancelled:
            raise CancelledError("the sign-in was cancelled")
        if time.time() > float(flow.get("expires_at", 0)):
            self._flows.pop(code.user_code, None)
            raise DeviceCodeExpired("the sign-in code expired before it was used: start a new sign-in for a new code")
        if float(flow.get("latest_attempt_at", 0)) + int(flow.get("interval", 5)) - 1 > time.time():
            return None  # too soon: MSAL would warn on stderr, and the server would answer slow_down
        app = self._public_app()
        with self._network():
            result = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
        if code.user_code in self._cancelled:
            raise CancelledError("the sign-in was cancelled")
        code.interval = int(flow.get("interval") or code.interval)
        if result.get("error") in {"authorization_pending", "slow_down"}:
            return None
        self._flows.pop(code.user_code, None)
        return self._finish_interactive(result, flow["graphphoto_scopes"])

    def cancel_device_code(self, code: DeviceCode) -> None:
        with self._lock:
            self._cancelled.add(code.user_code)
            flow = self._flows.pop(code.user_code, None)
        if flow is not None:
            flow["expires_at"] = 0  # makes a poll in progress return at once

    def start_paste_back(self, scopes: Sequence[str]) -> str:
        """Authorization code + PKCE: the URL to open on any device; the flow waits in memory for the paste."""
        app = self._public_app()
        with self._network(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MSAL recommends form_post, which needs a server we do not have
            flow = app.initiate_auth_code_flow(self._full(scopes), redirect_uri="http://localhost")
        flow["graphphoto_scopes"] = list(scopes)
        self._auth_code_flow = flow
        return str(flow["auth_uri"])

    def finish_paste_back(self, pasted_url: str) -> Account:
        flow = self._auth_code_flow
        if flow is None:
            raise AuthError("no paste-back sign-in is waiting: start one first")
        query = parse_qs(urlsplit(pasted_url.strip()).query)
        response = {k: v[0] for k, v in query.items()}
        if "code" not in response and "error" not in response:
            raise AuthError(
                "that is not the address the browser ended on: paste the whole http://localhost/?code=... address"
            )
        app = self._public_app()
        try:
            with self._network():
                result = app.acquire_token_by_auth_code_flow(flow, response)
        except ValueError:
            raise AuthError("the pasted address belongs to another sign-in (state mismatch): start again") from None
        self._auth_code_flow = None
        return self._finish_interactive(result, flow["graphphoto_scopes"])

    def _finish_interactive(self, result: dict[str, Any], scopes: Sequence[str]) -> Account:
        if "access_token" not in result:
            raise auth_error(result, self.settings)
        with self._lock:
            self._memo.clear()
            info = result.get("id_token_claims") or {}
            home = self._home_account_id(result)
            # One account per profile: a new sign-in replaces whoever was signed in before.
            for other in self._cache_accounts():
                if other["home_account_id"] != home:
                    self._forget(other)
            self._remember(result, scopes, home)
            account = self.account()
        if account is None:  # pragma: no cover - MSAL always caches the account it just signed in
            raise AuthError("the sign-in succeeded but no account was returned")
        if not account.tenant_id and info.get("tid"):
            account = Account(account.username, info["tid"], account.object_id, account.kind, account.scopes)
        return account

    def _home_account_id(self, result: dict[str, Any]) -> str | None:
        raw = result.get("client_info")
        if isinstance(raw, str):
            info = claims(f"x.{raw}.x")
            if info.get("uid") and info.get("utid"):
                return f"{info['uid']}.{info['utid']}"
        accounts = self._cache_accounts()
        return accounts[0]["home_account_id"] if accounts else None

    def _forget(self, account: dict[str, Any]) -> None:
        import msal

        kinds = msal.TokenCache.CredentialType
        query = {"home_account_id": account["home_account_id"]}
        cache = self.cache
        for kind, remove in (
            (kinds.REFRESH_TOKEN, cache.remove_rt),
            (kinds.ACCESS_TOKEN, cache.remove_at),
            (kinds.ID_TOKEN, cache.remove_idt),
            (kinds.ACCOUNT, cache.remove_account),
        ):
            for entry in list(cache.search(kind, query=query)):
                remove(entry)
        self._granted.pop(account["home_account_id"], None)

    def logout(self) -> None:
        """Forget every account (and app-only token) of this profile, in memory and on disk."""
        import msal

        with self._lock:
            cache = self.cache
            for account in list(cache.search(msal.TokenCache.CredentialType.ACCOUNT)):
                self._forget(account)
            for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(at)
            self._granted.clear()
            self._memo.clear()
            self._flows.clear()
            self._auth_code_flow = None
            cache.has_state_changed = True
            self.save()
