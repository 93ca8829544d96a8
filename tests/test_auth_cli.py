"""`login`, `logout` and `whoami` from a plain shell, against the emulator: exit status and one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import run_cli, running_emulator

from tui.emulator import Emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emu"), approve_after=0.2) as emulator:
        yield emulator


def flags(emu: Emulator, client_id: str | None = None) -> list[str]:
    return [
        "--graph-url", emu.graph_url, "--authority", emu.authority, "--ca-bundle", str(emu.ca_path),
        "--client-id", client_id or emu.public_client_id,
    ]  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    return result.stderr


def test_login_whoami_logout_round_trip(emu: Emulator) -> None:
    login = run_cli("login", *flags(emu))
    assert login.returncode == 0, login.stderr
    assert f"{emu.base_url}/devicelogin" in login.stderr  # the server's own instructions, on stderr
    assert login.stdout.startswith(f"signed in as {emu.admin_upn}")

    whoami = run_cli("whoami", *flags(emu))
    assert whoami.returncode == 0, whoami.stderr
    assert emu.admin_upn in whoami.stdout and emu.user(emu.admin_upn)["displayName"] in whoami.stdout
    assert "signed-in user" in whoami.stdout and "User.ReadWrite" in whoami.stdout

    data = json.loads(run_cli("whoami", "--json", *flags(emu)).stdout)
    assert data["account"] == emu.admin_upn and data["kind"] == "delegated" and data["tenant_id"] == emu.tenant_id
    assert data["display_name"] == emu.user(emu.admin_upn)["displayName"] and "User.ReadWrite" in data["scopes"]

    logout = run_cli("logout", *flags(emu))
    assert logout.returncode == 0 and f"signed out {emu.admin_upn}" in logout.stdout
    assert "not signed in" in one_line_error(run_cli("whoami", *flags(emu)), 3)
    assert "no one was signed in" in run_cli("logout", *flags(emu)).stdout


def test_login_admin_asks_for_more_and_says_why(emu: Emulator) -> None:
    login = run_cli("login", "--admin", *flags(emu))
    assert login.returncode == 0 and "ProfilePhoto.ReadWrite.All" in login.stderr
    data = json.loads(run_cli("whoami", "--json", *flags(emu)).stdout)
    assert {"ProfilePhoto.ReadWrite.All", "User.Read.All"} <= set(data["scopes"])


def test_paste_back_login_reads_the_url_from_stdin(emu: Emulator) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "login", "--paste-back", *flags(emu)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdin and proc.stderr
    url = ""
    for line in proc.stderr:
        if line.strip().startswith("https://"):
            url = line.strip()
            break
    assert url.startswith(emu.authority)
    out, err = proc.communicate(emu.authorize(url, emu.member_upn) + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith(f"signed in as {emu.member_upn}")


def test_app_only_login_and_whoami(emu: Emulator) -> None:
    env = {"GRAPHPHOTO_CLIENT_SECRET": emu.app_client_secret}
    login = run_cli("login", "--app-only", *flags(emu, emu.app_client_id), env=env)
    assert login.returncode == 0, login.stderr
    assert f"app {emu.app_client_id}" in login.stdout and "ProfilePhoto.ReadWrite.All" in login.stdout
    data = json.loads(run_cli("whoami", "--json", *flags(emu, emu.app_client_id), env=env).stdout)
    assert data["kind"] == "app" and data["display_name"] is None
    assert "--app-only needs" in one_line_error(run_cli("login", "--app-only", *flags(emu)), 2)


def test_failures_are_one_clear_line(emu: Emulator) -> None:
    wrong_app = run_cli("login", *flags(emu, "00000000-1111-2222-3333-444444444444"))
    assert "AADSTS700016" in one_line_error(wrong_app, 3)
    wrong_ca = run_cli("login", "--authority", emu.authority, "--client-id", emu.public_client_id)
    assert "--ca-bundle" in one_line_error(wrong_ca, 3)
    no_app = run_cli("login", "--authority", emu.authority, "--ca-bundle", str(emu.ca_path))
    assert no_app.returncode == 3 and "Traceback" not in no_app.stderr
    assert "\n" not in no_app.stderr.strip() and "--use-graph-cli-tools-app" in no_app.stderr  # one line, as all errors


def test_env_token_whoami_needs_no_sign_in(emu: Emulator) -> None:
    env = {"GRAPHPHOTO_ACCESS_TOKEN": emu.issue_token(emu.member_upn)}
    data = json.loads(run_cli("whoami", "--json", *flags(emu), env=env).stdout)
    assert data["kind"] == "env" and data["display_name"] == emu.user(emu.member_upn)["displayName"]


@pytest.mark.slow
def test_demo_login_and_whoami() -> None:
    login = run_cli("--demo", "login")
    assert login.returncode == 0, login.stderr
    whoami = run_cli("--demo", "whoami", "--json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["kind"] == "delegated"
