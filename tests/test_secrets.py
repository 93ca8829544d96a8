"""No token or client secret ever reaches stdout, stderr, the debug log, an exception message or a repr."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli, running_emulator

from tui.core.auth import ADMIN_SCOPES, OWN_SCOPES, Authenticator
from tui.core.config import load_settings
from tui.core.errors import GraphPhotoError
from tui.core.graph import GraphClient
from tui.core.net import redact_headers, redact_url
from tui.emulator import Emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emu"), approve_after=0.2) as emulator:
        yield emulator


def cached_secrets(home: Path) -> set[str]:
    """Every token held in any token cache file under ``home``."""
    found: set[str] = set()
    for path in home.rglob("tokens/*.json"):
        for section in json.loads(path.read_text()).values():
            if isinstance(section, dict):
                found |= {e["secret"] for e in section.values() if isinstance(e, dict) and e.get("secret")}
    return found


def test_no_secret_in_cli_output_or_debug_log(emu: Emulator, tmp_path: Path, isolated_home: Path) -> None:
    debug = tmp_path / "debug.log"
    base = ["--graph-url", emu.graph_url, "--authority", emu.authority, "--ca-bundle", str(emu.ca_path),
            "--debug", str(debug)]  # fmt: skip
    delegated = [*base, "--client-id", emu.public_client_id]
    app = [*base, "--client-id", emu.app_client_id, "--profile", "app"]
    app_env = {"GRAPHPHOTO_CLIENT_SECRET": emu.app_client_secret}
    env_token = emu.issue_token(emu.member_upn)
    runs = [
        run_cli("login", "--admin", *delegated),
        run_cli("whoami", "--json", *delegated),
        run_cli("login", "--app-only", *app, env=app_env),
        run_cli("whoami", *app, env=app_env),
        run_cli("whoami", *delegated, env={"GRAPHPHOTO_ACCESS_TOKEN": env_token}),
        run_cli("login", *delegated, env={"GRAPHPHOTO_ACCESS_TOKEN": env_token}),
    ]
    assert [r.returncode for r in runs] == [0] * len(runs), [r.stderr for r in runs]

    secrets = cached_secrets(isolated_home) | {emu.app_client_secret, env_token}
    assert len(secrets) >= 6  # access, refresh and id tokens of both profiles, the secret, the env token
    log = debug.read_text()
    assert debug.stat().st_mode & 0o777 == 0o600
    assert "/v1.0/me" in log and "Bearer [redacted]" in log and "/oauth2/v2.0/token" in log
    for text in [log, *(r.stdout for r in runs), *(r.stderr for r in runs)]:
        for secret in secrets:
            assert secret not in text
    assert not any(line.startswith("eyJ") or " eyJ" in line for line in log.splitlines())


async def test_no_token_in_errors_or_reprs(emu: Emulator, tmp_path: Path) -> None:
    flags = {**emu.client_flags(), "debug_log": str(tmp_path / "d.log")}
    token = emu.issue_token(emu.member_upn, scopes=("User.ReadWrite", *ADMIN_SCOPES))
    settings = load_settings(flags, env={"GRAPHPHOTO_ACCESS_TOKEN": token, "GRAPHPHOTO_CLIENT_SECRET": "s3cret-value"})
    auth = Authenticator(settings)
    errors: list[GraphPhotoError] = []
    async with GraphClient(settings, auth) as graph:
        admin = await graph.resolve_user(emu.admin_upn)
        for call in (graph.upload_photo(b"\xff\xd8" + b"x" * 500, admin), graph.get_profile("nope")):
            with pytest.raises(GraphPhotoError) as info:
                await call  # 403 (not an admin) and 404
            errors.append(info.value)
        texts = [repr(graph), repr(auth), repr(settings), repr(auth.account())]

    signed_in = Authenticator(load_settings(flags, env={}))
    code = signed_in.start_device_code(OWN_SCOPES)  # auto-approved by the emulator
    deadline = time.monotonic() + 30
    while (account := signed_in.poll_device_code(code)) is None:
        assert time.monotonic() < deadline, "the device code was never approved"
        time.sleep(0.1)
    tokens = [signed_in.token(OWN_SCOPES), *cached_secrets(signed_in.cache_path.parent.parent)]
    emu.revoke_refresh_tokens()
    with pytest.raises(GraphPhotoError) as info:
        signed_in.token(OWN_SCOPES, force_refresh=True)
    errors.append(info.value)
    texts += [repr(account), repr(signed_in), repr(code)]
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [str(e.args) for e in errors]
    texts.append((tmp_path / "d.log").read_text())
    for text in texts:
        for secret in (token, "s3cret-value", *tokens):
            assert secret not in text


def test_redaction_helpers() -> None:
    url = "https://login.example/t/oauth2/v2.0/authorize?client_id=abc&code=SECRET1&refresh_token=SECRET2&x=1"
    assert "SECRET" not in redact_url(url) and "client_id=abc" in redact_url(url)
    headers = redact_headers({"Authorization": "Bearer SECRET3", "Set-Cookie": "a=SECRET4", "Accept": "x"})
    assert headers == {"Authorization": "Bearer [redacted]", "Set-Cookie": "[redacted]", "Accept": "x"}
