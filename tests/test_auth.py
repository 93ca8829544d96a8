"""Sign-in through MSAL against the emulator over real sockets: every way in, every way it can fail."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import device_sign_in, running_emulator

import tui.core.auth as auth_mod
from tui.core.auth import (
    ADMIN_SCOPES,
    OWN_SCOPES,
    Account,
    Authenticator,
    ConditionalAccessBlocked,
    ConsentRequired,
    DeviceCode,
    DeviceCodeDeclined,
    DeviceCodeExpired,
    NotConfigured,
    WrongTenantOrApp,
    auth_error,
    full_scopes,
    install_sighup_save,
)
from tui.core.config import Settings, load_settings
from tui.core.errors import AuthError, CancelledError, NetworkError
from tui.core.graph import GraphClient
from tui.emulator import Emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emu")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: Emulator) -> Iterator[None]:
    yield
    emu.clear_faults()
    emu.set_token_lifetime(3600)


def settings_for(emu: Emulator, **flags: Any) -> Settings:
    env = {k: v for k, v in flags.items() if k.isupper()}
    return load_settings({**emu.client_flags(), **{k: v for k, v in flags.items() if not k.isupper()}}, env=env)


def wait_poll(auth: Authenticator, code: DeviceCode) -> Account:
    """Poll like the app does: once per server-announced interval."""
    deadline = time.time() + 15
    while time.time() < deadline:
        account = auth.poll_device_code(code)
        if account is not None:
            return account
        time.sleep(code.interval)
    raise AssertionError("device code never completed")


def test_device_code_shows_the_servers_message_and_signs_in(emu: Emulator, isolated_home: Path) -> None:
    auth = Authenticator(settings_for(emu))
    code = auth.start_device_code(OWN_SCOPES)
    assert code.user_code in code.message and emu.base_url in code.verification_uri
    assert code.verification_uri in code.message  # the server's own URL, never a hard-coded one
    assert auth.poll_device_code(code) is None  # pending
    emu.approve(code.user_code, emu.member_upn)
    account = wait_poll(auth, code)
    member = emu.user(emu.member_upn)
    assert (account.username, account.object_id, account.kind) == (emu.member_upn, member["id"], "delegated")
    assert account.tenant_id == emu.tenant_id and "User.ReadWrite" in account.scopes
    assert "ProfilePhoto.ReadWrite.All" not in account.scopes  # least privilege: only what was asked

    cache = auth.cache_path
    assert cache.parent == isolated_home / "state" / "tokens" and cache.name == "default.json"
    assert cache.stat().st_mode & 0o777 == 0o600 and cache.parent.stat().st_mode & 0o777 == 0o700
    assert not [p for p in cache.parent.iterdir() if p.name.startswith(".")]  # no temp file left behind

    again = Authenticator(settings_for(emu))  # a new process: the cache alone knows who is signed in
    assert again.account() == account
    assert again.token(OWN_SCOPES)


def test_declined_expired_and_cancelled_codes_each_say_so(emu: Emulator) -> None:
    auth = Authenticator(settings_for(emu))
    code = auth.start_device_code(OWN_SCOPES)
    emu.decline(code.user_code)
    with pytest.raises(DeviceCodeDeclined, match="declined"):
        wait_poll(auth, code)

    code = auth.start_device_code(OWN_SCOPES)
    emu.expire_device_codes()
    with pytest.raises(DeviceCodeExpired, match="new code"):
        wait_poll(auth, code)

    code = auth.start_device_code(OWN_SCOPES)
    auth.cancel_device_code(code)
    emu.approve(code.user_code, emu.member_upn)  # too late: the app stopped asking
    with pytest.raises(CancelledError):
        auth.poll_device_code(code)
    assert auth.account() is None


def test_conditional_access_block_names_the_fallbacks_and_paste_back_works(emu: Emulator) -> None:
    auth = Authenticator(settings_for(emu))
    emu.set_device_code_blocked()
    try:
        code = auth.start_device_code(OWN_SCOPES)
        emu.approve(code.user_code, emu.member_upn)
        with pytest.raises(ConditionalAccessBlocked) as info:
            wait_poll(auth, code)
        text = str(info.value)
        assert "Conditional Access" in text and "--paste-back" in text and "--app-only" in text
        assert "\n" not in text and "Trace ID" not in text
        assert auth.account() is None
        account = auth.finish_paste_back(emu.authorize(auth.start_paste_back(OWN_SCOPES), emu.member_upn))
        assert account.username == emu.member_upn
    finally:
        emu.set_device_code_blocked(False)


def test_paste_back_sign_in_and_bad_pastes(emu: Emulator) -> None:
    auth = Authenticator(settings_for(emu))
    with pytest.raises(AuthError, match="no paste-back"):
        auth.finish_paste_back("http://localhost/?code=x&state=y")
    url = auth.start_paste_back(OWN_SCOPES)
    assert url.startswith(emu.authority) and "code_challenge=" in url  # PKCE
    with pytest.raises(AuthError, match="whole http://localhost"):
        auth.finish_paste_back("I signed in")
    redirected = emu.authorize(url, emu.member_upn)
    with pytest.raises(AuthError, match="another sign-in"):
        auth.finish_paste_back(redirected.replace("state=", "state=x"))
    account = auth.finish_paste_back(redirected)
    assert account.username == emu.member_upn and account.kind == "delegated"


@pytest.mark.parametrize("form", ["secret", "pem", "pfx"])
async def test_app_only_with_secret_or_certificate(emu: Emulator, tmp_path: Path, form: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    env = {"GRAPHPHOTO_CLIENT_SECRET": emu.app_client_secret}
    if form != "secret":
        env = {}
        path = emu.app_cert_path
        if form == "pfx":
            pem = emu.app_cert_path.read_bytes()
            key = serialization.load_pem_private_key(pem, None)
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(pem)
            path = tmp_path / "app.pfx"
            protection = serialization.BestAvailableEncryption(b"pfx-pass")
            path.write_bytes(pkcs12.serialize_key_and_certificates(b"app", key, cert, None, protection))  # type: ignore[arg-type]
            env = {"GRAPHPHOTO_CLIENT_CERTIFICATE_PASSWORD": "pfx-pass"}
        env["GRAPHPHOTO_CLIENT_CERTIFICATE_PATH"] = str(path)
    settings = settings_for(emu, client_id=emu.app_client_id, **env)
    auth = Authenticator(settings)
    account = auth.sign_in_app_only()
    assert account.kind == "app" and account.username == f"app {emu.app_client_id}"
    assert "ProfilePhoto.ReadWrite.All" in account.scopes and account.tenant_id == emu.tenant_id
    async with GraphClient(settings, auth) as graph:
        member = await graph.resolve_user(emu.member_upn)
        assert (await graph.get_profile(member)).user_principal_name == emu.member_upn
    assert Authenticator(settings).account() == account  # cached for the next process


def test_app_only_refusals_are_one_clear_line(emu: Emulator, tmp_path: Path) -> None:
    wrong = Authenticator(settings_for(emu, client_id=emu.app_client_id, GRAPHPHOTO_CLIENT_SECRET="not-it"))
    with pytest.raises(WrongTenantOrApp, match="secret or certificate was refused"):
        wrong.sign_in_app_only()
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(AuthError, match="PEM file with the private key") as info:
        Authenticator(
            settings_for(emu, client_id=emu.app_client_id, GRAPHPHOTO_CLIENT_CERTIFICATE_PATH=str(bad))
        ).sign_in_app_only()
    assert "\n" not in str(info.value)
    no_tenant = load_settings({"client_id": "x"}, env={"GRAPHPHOTO_CLIENT_SECRET": "s"})
    with pytest.raises(AuthError, match="needs a tenant"):
        Authenticator(no_tenant).sign_in_app_only()


def test_silent_refresh_after_expiry_then_revocation_says_why(emu: Emulator) -> None:
    emu.set_token_lifetime(2)
    auth = Authenticator(settings_for(emu))
    device_sign_in(emu, auth, emu.member_upn)
    first = auth.token(OWN_SCOPES)
    later = Authenticator(settings_for(emu))  # as on the next start: silent refresh from the cache file
    second = later.token(OWN_SCOPES)
    assert second != first

    async def me() -> str | None:
        async with GraphClient(later.settings, later) as graph:
            return (await graph.get_profile()).user_principal_name

    assert asyncio.run(me()) == emu.member_upn

    emu.revoke_refresh_tokens(emu.member_upn)
    with pytest.raises(AuthError, match=r"expired or was revoked \(invalid_grant\): sign in again") as info:
        later.token(OWN_SCOPES, force_refresh=True)
    assert second not in str(info.value) and second not in repr(info.value)


def test_logout_forgets_the_account_on_disk(emu: Emulator) -> None:
    auth = Authenticator(settings_for(emu))
    device_sign_in(emu, auth, emu.member_upn)
    token = auth.token(OWN_SCOPES)
    auth.logout()
    assert auth.account() is None and token not in auth.cache_path.read_text()
    fresh = Authenticator(settings_for(emu))
    assert fresh.account() is None
    with pytest.raises(AuthError, match="not signed in"):
        fresh.token(OWN_SCOPES)


def test_one_account_per_profile_and_profiles_are_separate(emu: Emulator) -> None:
    auth = Authenticator(settings_for(emu))
    device_sign_in(emu, auth, emu.member_upn)
    device_sign_in(emu, auth, emu.admin_upn)
    assert Authenticator(settings_for(emu)).account().username == emu.admin_upn  # type: ignore[union-attr]
    other = Authenticator(settings_for(emu, profile="work"))
    assert other.account() is None and other.cache_path.name == "work.json"
    with pytest.raises(Exception, match="profile"):
        _ = Authenticator(settings_for(emu, profile="../../etc")).cache_path


def test_admin_scopes_need_explicit_consent(emu: Emulator) -> None:
    auth = Authenticator(settings_for(emu))
    device_sign_in(emu, auth, emu.admin_upn)
    with pytest.raises(ConsentRequired, match=r"ProfilePhoto\.ReadWrite\.All") as info:
        auth.token(OWN_SCOPES + ADMIN_SCOPES)
    assert set(info.value.scopes) == set(ADMIN_SCOPES)
    account = device_sign_in(emu, auth, emu.admin_upn, OWN_SCOPES + ADMIN_SCOPES)
    assert {"ProfilePhoto.ReadWrite.All", "User.Read.All", "User.ReadWrite"} <= set(account.scopes)
    assert auth.token(OWN_SCOPES + ADMIN_SCOPES) and auth.token(OWN_SCOPES)


def test_consent_withdrawn_or_never_registered(emu: Emulator) -> None:
    from tui.emulator.tenant import PUBLIC_CLIENT_SCOPES

    auth = Authenticator(settings_for(emu))
    device_sign_in(emu, auth, emu.admin_upn, OWN_SCOPES + ADMIN_SCOPES)
    emu.set_client_scopes(("User.Read", "User.ReadWrite"))  # the tenant withdrew the admin permissions
    try:
        with pytest.raises(ConsentRequired, match="AADSTS65001"):
            auth.token(OWN_SCOPES + ADMIN_SCOPES, force_refresh=True)
        with pytest.raises(WrongTenantOrApp, match="API permissions"):
            auth.start_device_code(OWN_SCOPES + ADMIN_SCOPES)
    finally:
        emu.set_client_scopes(PUBLIC_CLIENT_SCOPES)


def test_wrong_tenant_and_wrong_app_id(emu: Emulator) -> None:
    tenant = settings_for(emu, authority=f"{emu.base_url}/no-such-tenant.onmicrosoft.com", tenant="no-such-tenant")
    with pytest.raises(WrongTenantOrApp, match="tenant 'no-such-tenant'"):
        Authenticator(tenant).start_device_code(OWN_SCOPES)
    app = settings_for(emu, client_id="00000000-1111-2222-3333-444444444444")
    with pytest.raises(WrongTenantOrApp, match=r"00000000-1111-2222-3333-444444444444.*AADSTS700016"):
        Authenticator(app).start_device_code(OWN_SCOPES)


def test_untrusted_certificate_and_unreachable_service(emu: Emulator) -> None:
    untrusted = load_settings({"authority": emu.authority, "client_id": emu.public_client_id}, env={})
    with pytest.raises(AuthError, match="does not trust: pass --ca-bundle"):
        Authenticator(untrusted).start_device_code(OWN_SCOPES)
    down = settings_for(emu, authority="https://127.0.0.1:9/tenant")
    with pytest.raises(NetworkError, match=r"cannot reach the sign-in service 127\.0\.0\.1:9"):
        Authenticator(down).start_device_code(OWN_SCOPES)


@pytest.mark.parametrize(
    ("cloud", "authority", "scope"),
    [
        ("global", "https://login.microsoftonline.com/contoso.com", "https://graph.microsoft.com/User.ReadWrite"),
        ("usgov", "https://login.microsoftonline.us/contoso.com", "https://graph.microsoft.us/User.ReadWrite"),
        ("usgov-dod", "https://login.microsoftonline.us/contoso.com", "https://dod-graph.microsoft.us/User.ReadWrite"),
        (
            "china",
            "https://login.chinacloudapi.cn/contoso.com",
            "https://microsoftgraph.chinacloudapi.cn/User.ReadWrite",
        ),
    ],
)
def test_cloud_switches_authority_and_scope_host_together(cloud: str, authority: str, scope: str) -> None:
    settings = load_settings({"cloud": cloud, "tenant": "contoso.com"}, env={})
    assert settings.authority_url == authority
    assert full_scopes(settings, ["User.ReadWrite", "openid"]) == [scope, "openid"]


def test_missing_ca_bundle_is_one_line(tmp_path: Path) -> None:
    from tui.core.errors import ConfigError
    from tui.core.net import verify_for

    with pytest.raises(ConfigError, match=r"ca-bundle .* cannot be loaded") as info:
        verify_for(load_settings({"ca_bundle": str(tmp_path / "missing.pem")}, env={}))
    assert "\n" not in str(info.value) and "--ca-bundle" in str(info.value)


def test_no_client_id_explains_registration_in_one_line() -> None:
    auth = Authenticator(load_settings({}, env={}))
    assert auth.account() is None
    with pytest.raises(NotConfigured) as info:
        auth.start_device_code(OWN_SCOPES)
    text = str(info.value)
    assert "\n" not in text and "README" in text and "--use-graph-cli-tools-app" in text  # errors are one line


@pytest.mark.parametrize(
    ("result", "kind", "words"),
    [
        (
            {"error": "invalid_grant", "error_codes": [53003], "error_description": "AADSTS53003: Access has been "
             "blocked by Conditional Access policies.\r\nTrace ID: 1"},
            ConditionalAccessBlocked, "--paste-back",
        ),
        ({"error": "interaction_required", "suberror": "basic_action", "error_description": "AADSTS50097: Device "
          "authentication is required."}, ConditionalAccessBlocked, "--app-only"),
        ({"error": "invalid_request", "error_codes": [90002]}, WrongTenantOrApp, "tenant"),
        ({"error": "unauthorized_client", "error_codes": [700016]}, WrongTenantOrApp, "app id"),
        ({"error": "invalid_client", "error_codes": [7000218]}, WrongTenantOrApp, "public client flows"),
        ({"error": "weird", "error_description": "AADSTS1: Something odd.\r\nTrace ID: 2"}, AuthError, "Something odd"),
    ],
)  # fmt: skip
def test_entra_error_shapes_the_emulator_does_not_produce(result: dict[str, Any], kind: type, words: str) -> None:
    err = auth_error(result, load_settings({"tenant": "contoso.onmicrosoft.com", "client_id": "app-1"}, env={}))
    assert type(err) is kind and words in str(err) and "\n" not in str(err) and "Trace ID" not in str(err)


def test_env_token_is_used_as_is_and_never_written(emu: Emulator, isolated_home: Path) -> None:
    token = emu.issue_token(emu.member_upn, scopes=("User.ReadWrite",))
    auth = Authenticator(settings_for(emu, GRAPHPHOTO_ACCESS_TOKEN=token))
    account = auth.account()
    assert account is not None and account.kind == "env" and account.scopes == ("User.ReadWrite",)
    assert auth.token(OWN_SCOPES) == token
    auth.logout()
    assert not any(token in p.read_text() for p in isolated_home.rglob("*") if p.is_file())
    expired = emu.issue_token(emu.member_upn, expires_in=-60)
    with pytest.raises(AuthError, match="GRAPHPHOTO_ACCESS_TOKEN expired"):
        Authenticator(settings_for(emu, GRAPHPHOTO_ACCESS_TOKEN=expired)).token(OWN_SCOPES)


def test_sighup_saves_the_cache_before_the_process_goes(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    import msal

    auth = Authenticator(settings_for(emu))
    device_sign_in(emu, auth, emu.member_upn)
    for at in list(auth.cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
        auth.cache.remove_at(at)  # an in-memory change not yet on disk
    assert '"AccessToken": {}' not in auth.cache_path.read_text().replace(" ", "").replace('":{', '": {')
    seen: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    monkeypatch.setattr(auth_mod, "_SIGHUP_INSTALLED", False)
    try:
        install_sighup_save()
        os.kill(os.getpid(), signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert seen == [signal.SIGHUP]  # the previous handler still runs
    assert json.loads(auth.cache_path.read_text())["AccessToken"] == {}


def test_declined_in_the_browser_says_so(emu: Emulator) -> None:
    from urllib.parse import parse_qs, urlsplit

    auth = Authenticator(settings_for(emu))
    state = parse_qs(urlsplit(auth.start_paste_back(OWN_SCOPES)).query)["state"][0]
    with pytest.raises(AuthError, match="declined or cancelled in the browser"):
        auth.finish_paste_back(f"http://localhost/?error=access_denied&error_description=User+cancelled&state={state}")


def test_unreadable_cache_is_kept_aside_not_overwritten(emu: Emulator) -> None:
    auth = Authenticator(settings_for(emu))
    auth.cache_path.write_text("{not json")
    assert auth.account() is None
    assert auth.cache_path.with_suffix(".unreadable").read_text() == "{not json"
    account = device_sign_in(emu, auth, emu.member_upn)
    assert Authenticator(settings_for(emu)).account() == account


def test_who_is_signed_in_is_known_without_importing_msal(emu: Emulator) -> None:
    """The app draws the cached profile before MSAL loads: the cache file alone must name the same account."""
    settings = settings_for(emu)
    device_sign_in(emu, Authenticator(settings), emu.member_upn)
    expected = Authenticator(settings)
    _ = expected.cache  # loaded through MSAL
    flags = emu.client_flags()
    code = (
        "import json, sys\n"
        "from tui.core.auth import Authenticator\n"
        "from tui.core.config import load_settings\n"
        "a = Authenticator(load_settings(json.loads(sys.argv[1]))).account()\n"
        "print(json.dumps([a.username, a.tenant_id, a.object_id, list(a.scopes), 'msal' in sys.modules]))"
    )
    run = subprocess.run([sys.executable, "-c", code, json.dumps(flags)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    username, tenant, oid, scopes, msal_loaded = json.loads(run.stdout)
    want = expected.account()
    assert want is not None and (username, tenant, oid, tuple(scopes)) == (
        want.username,
        want.tenant_id,
        want.object_id,
        want.scopes,
    )
    assert username == emu.member_upn and not msal_loaded
