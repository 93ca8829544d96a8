"""`login`, `logout` and `whoami`: sign-in from a plain shell, with the server's own instructions on stderr.

Results go to stdout (text, or JSON for ``whoami --json``); instructions and progress go to stderr so scripts can
capture the result. Failures are raised as GraphPhotoError and printed as one line by ``tui.cli.main``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from tui.core.config import command_hint
from tui.core.errors import EXIT_OK, AuthError, UsageError
from tui.core.text import clean

if TYPE_CHECKING:
    from tui.core.auth import Account, Authenticator
    from tui.core.config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tui.core.auth import Authenticator

    auth = Authenticator(settings)
    command = {"login": _login, "logout": _logout, "whoami": _whoami}[args.command]
    return command(args, settings, auth)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _describe(account: Account) -> str:
    tenant = f" (tenant {account.tenant_id})" if account.tenant_id else ""
    scopes = f"; permissions: {', '.join(account.scopes)}" if account.scopes else ""
    return f"{account.username}{tenant}{scopes}"


def _login(args: argparse.Namespace, settings: Settings, auth: Authenticator) -> int:
    from tui.core.auth import ADMIN_SCOPES, OWN_SCOPES

    if settings.access_token:
        _say("GRAPHPHOTO_ACCESS_TOKEN is set: that token is used as-is and nothing is cached; unset it to sign in")
        return EXIT_OK
    if args.app_only:
        if not settings.app_only:
            raise UsageError(
                "--app-only needs a client secret (GRAPHPHOTO_CLIENT_SECRET) or a certificate "
                "(GRAPHPHOTO_CLIENT_CERTIFICATE_PATH) in the environment or the config file"
            )
        account = auth.sign_in_app_only()
    else:
        if settings.app_only:
            hint = command_hint(settings, "login", "--app-only")
            raise UsageError(f"a client secret or certificate is configured: use `{hint}`")
        scopes = OWN_SCOPES + ADMIN_SCOPES if args.admin else OWN_SCOPES
        if args.admin:
            _say("asking also for User.Read.All and ProfilePhoto.ReadWrite.All, to change other users' photos")
        account = _paste_back(auth, scopes) if args.paste_back else _device_code(auth, scopes)
    print(f"signed in as {_describe(account)}")
    return EXIT_OK


def _device_code(auth: Authenticator, scopes: tuple[str, ...]) -> Account:
    code = auth.start_device_code(scopes)
    _say(code.message or f"To sign in, open {code.verification_uri} and enter the code {code.user_code}")
    try:
        while True:
            account = auth.poll_device_code(code)
            if account is not None:
                return account
            time.sleep(max(1, code.interval))
    except KeyboardInterrupt:
        auth.cancel_device_code(code)
        raise


def _paste_back(auth: Authenticator, scopes: tuple[str, ...]) -> Account:
    url = auth.start_paste_back(scopes)
    _say("Open this address on any device with a browser and sign in:")
    _say(f"  {url}")
    _say("The browser then ends on a page that does not load (http://localhost/?code=...): copy that whole address")
    _say("from the address bar and paste it here, then press Enter:")
    line = sys.stdin.readline()
    if not line.strip():
        raise AuthError(f"no address was pasted: run `{command_hint(auth.settings, 'login', '--paste-back')}` again")
    return auth.finish_paste_back(line)


def _logout(args: argparse.Namespace, settings: Settings, auth: Authenticator) -> int:
    if settings.access_token:
        _say("GRAPHPHOTO_ACCESS_TOKEN is set: it is never cached, so there is nothing to forget; unset it")
    account = auth.account()
    auth.logout()
    if account is None or account.kind == "env":
        print(f"no one was signed in (profile {settings.profile})")
    else:
        print(f"signed out {account.username} (profile {settings.profile})")
    return EXIT_OK


def _whoami(args: argparse.Namespace, settings: Settings, auth: Authenticator) -> int:
    from tui.core.auth import login_command

    if settings.app_only:
        account: Account | None = auth.sign_in_app_only()  # cached by MSAL; acquires only when needed
    else:
        account = auth.account()
    if account is None:
        raise AuthError(f"not signed in (profile {settings.profile}): run `{login_command(settings)}`")
    display_name = None
    from tui.core.auth import claims

    delegated_env = account.kind == "env" and "scp" in claims(settings.access_token or "")
    if account.kind == "delegated" or delegated_env:
        display_name = asyncio.run(_display_name(settings, auth))
        account = auth.account() or account  # a silent refresh may have updated the granted scopes
    info: dict[str, Any] = {
        "account": account.username,
        "display_name": display_name,
        "kind": account.kind,
        "tenant_id": account.tenant_id,
        "object_id": account.object_id,
        "scopes": list(account.scopes),
        "profile": settings.profile,
        "authority": settings.authority_url,
        "graph": settings.graph_base,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    rows = [
        ("account", account.username),
        ("name", display_name),
        ("kind", {"delegated": "signed-in user", "app": "app-only", "env": "token from the environment"}[account.kind]),
        ("tenant", account.tenant_id),
        ("permissions", ", ".join(account.scopes) or None),
        ("profile", settings.profile),
        ("graph", settings.graph_base),
    ]
    for label, value in rows:
        if value:
            print(f"{label + ':':<13}{clean(value)}")  # a name with a line break must not forge a row
    return EXIT_OK


async def _display_name(settings: Settings, auth: Authenticator) -> str | None:
    from tui.core.graph import GraphClient

    def on_retry(seconds: float, why: str) -> None:
        what = {"throttled": "Graph is throttling", "network": "the connection dropped"}.get(why, "Graph is busy")
        _say(f"{what}: retrying in {seconds:.0f} s")

    async with GraphClient(settings, auth, on_retry=on_retry) as graph:
        return (await graph.get_profile()).display_name
