"""The emulator's Python API: start/stop it, read and change its state, set faults, read its request log."""

from __future__ import annotations

import json
import os
import secrets
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tui.emulator import crypto, identity, tenant
from tui.emulator.faults import Fault, Faults
from tui.emulator.tenant import ADMIN_ROLES, Photo, encode_photo, new_etag

LOG_ROTATE_BYTES = 10 * 1024 * 1024


class Emulator:
    """A local Microsoft 365 (identity + Graph v1.0) on ``https://127.0.0.1:<port>``; see ``README.md`` here.

    ``approve_after``: approve device codes automatically (as the admin) after that many seconds.
    ``device_interval``: the polling interval the device-code endpoint announces (and enforces with slow_down).
    """

    def __init__(
        self,
        state_dir: str | Path,
        port: int = 0,
        approve_after: float | None = None,
        seed: int = 0,
        faults: str | None = None,
        *,
        device_interval: int = 5,
        device_code_lifetime: float = identity.DEVICE_CODE_LIFETIME,
        token_lifetime: int = 3600,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.requested_port = port
        self.approve_after = approve_after
        self.block_device_code = False  # a Conditional Access policy against the device-code flow
        self.device_interval = device_interval
        self.device_code_lifetime = device_code_lifetime
        self.token_lifetime = token_lifetime
        self.faults = Faults(faults, seed=seed)
        self.keys = crypto.load_or_create(self.state_dir / "keys")
        self.tenant = tenant.load_or_create(self.state_dir, seed)
        self.device_codes: dict[str, identity.DeviceCode] = {}
        self.auth_codes: dict[str, identity.AuthCode] = {}
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen on the requested port; with port 0, the state's last port when free (cached tokens name it)."""
        from tui.emulator.server import Server

        if self._server is not None:
            return self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.keys.server_cert_path, self.keys.server_key_path)
        ports = [self.requested_port] if self.requested_port else list(dict.fromkeys([self.tenant.port or 0, 0]))
        for port in ports:
            try:
                self._server = Server(self, port, context)
                break
            except OSError:
                if port == ports[-1]:
                    raise
        self.port = self._server.server_address[1]
        with self.tenant.lock:
            self.tenant.port = self.port
            self.tenant.save()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="m365-emulator", daemon=True
        )
        self._thread.start()
        return self

    def running_elsewhere(self) -> int | None:
        """The port of a live emulator (another process, say) already serving this state directory, if any."""
        import http.client

        port = self.tenant.port
        if not port or self._server is not None:
            return None
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=1, context=self.ssl_context())
        try:
            conn.request("GET", f"/{self.tenant_id}/v2.0/.well-known/openid-configuration")
            resp = conn.getresponse()
            return port if resp.status == 200 and self.tenant_id in json.loads(resp.read()).get("issuer", "") else None
        except (OSError, ValueError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator({self.base_url if self.port else 'stopped'}, state_dir={str(self.state_dir)!r})"

    # --- where it is -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not started")
        return f"https://127.0.0.1:{self.port}"

    graph_url = base_url

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def ca_path(self) -> Path:
        return self.keys.ca_path

    def client_flags(self) -> dict[str, str]:
        """The settings that point graphphoto-tui at this emulator, as ``load_settings`` flags (the names of
        ``--graph-url`` etc.); ``GRAPHPHOTO_`` + the upper-cased name gives the environment variable."""
        return {
            "graph_url": self.graph_url,
            "authority": self.authority,
            "ca_bundle": str(self.ca_path),
            "client_id": self.public_client_id,
            "tenant": self.tenant_id,
        }

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this emulator's CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id

    @property
    def tenant_domain(self) -> str:
        return tenant.TENANT_DOMAIN

    @property
    def public_client_id(self) -> str:
        return self.tenant.public_client_id

    @property
    def app_client_id(self) -> str:
        return self.tenant.app_client_id

    @property
    def app_client_secret(self) -> str:
        return self.tenant.apps[self.app_client_id]["secret"]

    @property
    def app_cert_path(self) -> Path:
        return self.keys.app_cert_path

    def app_certificate(self, client_id: str) -> Any:
        app = self.tenant.apps.get(client_id, {})
        if app.get("certificate_pem"):
            from cryptography import x509

            return x509.load_pem_x509_certificate(app["certificate_pem"].encode())
        return self.keys.app_certificate if app.get("certificate") else None

    # --- the demo users ----------------------------------------------------------------------------------------

    def _nth_upn(self, n: int) -> str:
        return tenant.seeded_upn(self.tenant, n)

    admin_upn = property(lambda self: self._nth_upn(0))
    member_upn = property(lambda self: self._nth_upn(1))
    nophoto_upn = property(lambda self: self._nth_upn(2))
    guest_upn = property(lambda self: self._nth_upn(3))
    onprem_upn = property(lambda self: self._nth_upn(4))

    def user(self, upn_or_id: str) -> dict[str, Any]:
        return dict(self.tenant.require(upn_or_id))

    def users(self) -> list[dict[str, Any]]:
        with self.tenant.lock:
            return [dict(u) for u in self.tenant.users.values()]

    def sign_in_candidates(self) -> list[dict[str, Any]]:
        return sorted(self.users(), key=lambda u: (u["id"] != self.user(self.admin_upn)["id"], u["displayName"]))

    def role_ids(self, user: dict[str, Any]) -> set[str]:
        return {ADMIN_ROLES[r] for r in user.get("roles", []) if r in ADMIN_ROLES}

    def add_user(self, upn: str, display_name: str, *, roles: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
        """Add a member (tests); ``props`` are Graph user properties."""
        given, _, surname = display_name.partition(" ")
        user = {
            "id": str(uuid.uuid4()),
            "userPrincipalName": upn,
            "displayName": display_name,
            "givenName": given,
            "surname": surname or None,
            "jobTitle": None,
            "mail": upn,
            "mobilePhone": None,
            "businessPhones": [],
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "userType": "Member",
            "accountEnabled": True,
            "roles": list(roles),
            "mailbox": "cloud",
            **props,
        }
        with self.tenant.lock:
            self.tenant.users[user["id"]] = user
            self.tenant.save()
        return dict(user)

    def set_roles(self, upn_or_id: str, roles: tuple[str, ...] | list[str]) -> None:
        with self.tenant.lock:
            self.tenant.require(upn_or_id)["roles"] = list(roles)
            self.tenant.save()

    def add_app(
        self, *, roles: tuple[str, ...] = (), name: str = "test app", certificate_pem: str | None = None
    ) -> dict[str, str]:
        """Register another confidential app (e.g. one without roles); returns its client id and secret."""
        client_id, secret = str(uuid.uuid4()), secrets.token_urlsafe(30)
        app = {
            "client_id": client_id,
            "name": name,
            "public": False,
            "secret": secret,
            "roles": list(roles),
            "object_id": str(uuid.uuid4()),
            "certificate_pem": certificate_pem,
        }
        with self.tenant.lock:
            self.tenant.apps[client_id] = app
            self.tenant.save()
        return {"client_id": client_id, "client_secret": secret}

    def set_client_scopes(self, scopes: tuple[str, ...] | list[str], client_id: str | None = None) -> None:
        """Change what the public client is registered (and consented) for, e.g. to provoke consent_required."""
        with self.tenant.lock:
            self.tenant.apps[client_id or self.public_client_id]["scopes"] = list(scopes)
            self.tenant.save()

    # --- sign-in -----------------------------------------------------------------------------------------------

    def pending_device_codes(self) -> list[str]:
        now = time.monotonic()
        with self.tenant.lock:
            return [c.user_code for c in self.device_codes.values() if c.state == "pending" and now < c.expires_at]

    def _pending(self, user_code: str | None) -> identity.DeviceCode:
        with self.tenant.lock:
            codes = self.pending_device_codes()
            if user_code is None:
                if not codes:
                    raise LookupError("no device code is waiting for approval")
                user_code = codes[-1]
            code = self.device_codes.get(user_code.strip().upper().replace("-", ""))
            if code is None or code.user_code not in codes:
                raise LookupError(f"code {user_code!r} is not pending (unknown, expired or already used)")
            return code

    def approve(self, user_code: str | None = None, upn: str | None = None) -> str:
        """Approve the newest (or the given) pending device code as ``upn`` (default: the admin)."""
        user = self.tenant.require(upn or self.admin_upn)
        with self.tenant.lock:
            code = self._pending(user_code)
            code.state, code.upn = "approved", user["userPrincipalName"]
            return code.user_code

    def decline(self, user_code: str | None = None) -> str:
        with self.tenant.lock:
            code = self._pending(user_code)
            code.state = "declined"
            return code.user_code

    def expire_device_codes(self) -> None:
        """Make every outstanding device code expire now (tests of ``expired_token``)."""
        with self.tenant.lock:
            for code in self.device_codes.values():
                code.expires_at = 0.0

    def authorize(self, url: str, upn: str | None = None) -> str:
        """Play the browser for an authorize URL: sign ``upn`` in and return the redirected URL (with ``code``)."""
        query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        return identity.authorize_redirect(self, query, upn or self.admin_upn)

    def issue_token(
        self,
        upn: str | None = None,
        scopes: tuple[str, ...] | list[str] = ("User.ReadWrite",),
        roles: tuple[str, ...] | list[str] = (),
        expires_in: int = 3600,
        *,
        client_id: str | None = None,
        audience: str | None = None,
    ) -> str:
        """A ready-made access token: delegated for ``upn`` (default admin), or app-only when only ``roles`` given."""
        if upn is None and roles:
            return identity.mint_access_token(
                self,
                user=None,
                client_id=client_id or self.app_client_id,
                roles=roles,
                lifetime=expires_in,
                audience=audience,
            )
        return identity.mint_access_token(
            self,
            user=self.tenant.require(upn or self.admin_upn),
            client_id=client_id or self.public_client_id,
            scopes=scopes,
            lifetime=expires_in,
            audience=audience,
        )

    def revoke_refresh_tokens(self, upn_or_id: str | None = None) -> None:
        """Invalidate refresh tokens (one user's, or everyone's): the next silent refresh fails with invalid_grant."""
        uid = self.tenant.require(upn_or_id)["id"] if upn_or_id else None
        with self.tenant.lock:
            for key, grant in list(self.tenant.refresh_tokens.items()):
                if uid is None or grant["user_id"] == uid:
                    del self.tenant.refresh_tokens[key]
            self.tenant.save()

    def set_token_lifetime(self, seconds: int) -> None:
        self.token_lifetime = seconds

    # --- photos ------------------------------------------------------------------------------------------------

    def set_photo(self, upn_or_id: str, data: bytes | None, *, reencode: bool = True) -> None:
        """Change a photo behind the app's back (``None`` removes it); no propagation delay."""
        uid = self.tenant.require(upn_or_id)["id"]
        if data is None:
            self.tenant.store_photo(uid, None)
            return
        if reencode:
            photo = encode_photo(data)
        else:
            from io import BytesIO

            from PIL import Image

            with Image.open(BytesIO(data)) as img:
                photo = Photo(data, new_etag(), img.width, img.height)
        self.tenant.store_photo(uid, photo)

    def set_device_code_blocked(self, blocked: bool = True) -> None:
        """A Conditional Access policy that blocks the device-code flow, as many tenants now have: the code is
        shown and approved, then redeeming it fails with AADSTS53003. Paste-back and app-only still work."""
        self.block_device_code = blocked

    def set_photo_updates_allowed(self, allowed: bool) -> None:
        """The tenant's photoUpdateSettings: when off, every photo change is refused with 403."""
        with self.tenant.lock:
            self.tenant.policy["photo_updates"] = allowed
            self.tenant.save()

    def set_no_photo_form(self, form: str) -> None:
        """How ``GET .../photo`` says "no photo": ``"404"`` (ImageNotFound) or ``"1x1"`` (200, 1x1 image/gif)."""
        if form not in {"404", "1x1"}:
            raise ValueError("form must be '404' or '1x1'")
        with self.tenant.lock:
            self.tenant.policy["no_photo_form"] = form
            self.tenant.save()

    def photo(self, upn_or_id: str) -> bytes | None:
        """The stored photo (what GET serves once any propagation delay is over)."""
        found = self.tenant.photos.get(self.tenant.require(upn_or_id)["id"])
        return found.data if found else None

    def photo_etag(self, upn_or_id: str) -> str | None:
        found = self.tenant.photos.get(self.tenant.require(upn_or_id)["id"])
        return found.etag if found else None

    # --- faults and the request log ----------------------------------------------------------------------------

    def set_faults(self, spec: str) -> None:
        self.faults.set(spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    def add_fault(
        self,
        kind: str,
        path: str | None = None,
        method: str | None = None,
        count: int = 1,
        retry_after: float = 1,
        delay: float = 2.0,
    ) -> None:
        """A targeted fault for the next ``count`` matching requests (``path`` is a substring of the path)."""
        from tui.emulator.faults import KINDS

        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        self.faults.add(Fault(kind, 1.0, retry_after, delay, path, method), count)

    def set_propagation_delay(self, seconds: float) -> None:
        self.faults.propagation = seconds

    def log_request(self, record: dict[str, Any]) -> None:
        """Keep the record in memory and append it to ``requests.jsonl`` (rotated to ``.1`` past 10 MB)."""
        line = json.dumps(record, ensure_ascii=False)
        path = self.state_dir / "requests.jsonl"
        with self._log_lock:
            self._log.append(record)
            if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
                path.replace(path.with_suffix(".jsonl.1"))
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def request_log(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return [dict(r) for r in self._log]

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def info(self) -> dict[str, Any]:
        """What a client needs to use this emulator (printed by ``graphphoto-tui emulator``)."""
        return {
            "graph_url": self.graph_url,
            "authority": self.authority,
            "ca_path": str(self.ca_path),
            "tenant_id": self.tenant_id,
            "tenant_domain": self.tenant_domain,
            "public_client_id": self.public_client_id,
            "app_client_id": self.app_client_id,
            "app_client_secret": self.app_client_secret,
            "app_cert_path": str(self.app_cert_path),
            "device_login": f"{self.base_url}/devicelogin",
            "state_dir": str(self.state_dir),
            "faults": self.faults.spec,
            "users": {
                "admin": self.admin_upn,
                "member": self.member_upn,
                "nophoto": self.nophoto_upn,
                "guest": self.guest_upn,
                "onprem": self.onprem_upn,
            },
        }
