"""`graphphoto-tui emulator` run as a user runs it, and the `--demo` wiring."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tui.core.config import load_settings
from tui.emulator import Emulator
from tui.emulator.demo import start_demo


def _start(*args: str, sigint: signal.Handlers = signal.SIG_DFL) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "emulator", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    assert proc.stdout is not None
    text = ""
    for line in proc.stdout:  # the JSON block is printed once the server listens
        text += line
        if line.startswith("}"):
            break
    return proc, json.loads(text)


def test_standalone_emulator_serves_a_human_with_curl_style_requests(tmp_path: Path) -> None:
    proc, info = _start("--state-dir", str(tmp_path / "emu"))
    try:
        assert info["ca_path"].startswith(str(tmp_path / "emu")) and info["users"]["admin"].endswith(".onmicrosoft.com")
        with httpx.Client(verify=ssl.create_default_context(cafile=info["ca_path"])) as http:
            token_url = f"{info['authority']}/oauth2/v2.0/token"
            device = http.post(
                f"{info['authority']}/oauth2/v2.0/devicecode",
                data={"client_id": info["public_client_id"], "scope": "User.ReadWrite offline_access"},
            ).json()
            approved = http.post(
                device["verification_uri"],
                data={"code": device["user_code"], "upn": info["users"]["member"], "action": "approve"},
            )
            assert approved.status_code == 200
            grant = {"grant_type": "device_code", "client_id": info["public_client_id"]}
            tokens = http.post(token_url, data={**grant, "device_code": device["device_code"]}).json()
            me = http.get(f"{info['graph_url']}/v1.0/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
            assert me.status_code == 200 and me.json()["userPrincipalName"] == info["users"]["member"]
            assert me.headers["request-id"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert tokens["access_token"] not in out + err
    log = (tmp_path / "emu" / "requests.jsonl").read_text()
    assert tokens["access_token"] not in log and tokens["refresh_token"] not in log


def test_kill_stops_a_background_emulator_started_from_a_script(tmp_path: Path) -> None:
    """`graphphoto-tui emulator &` in a script starts with SIGINT ignored: `kill` must still stop it cleanly."""
    proc, _ = _start("--state-dir", str(tmp_path / "emu"), sigint=signal.SIG_IGN)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert "stopped" in out and "Traceback" not in err


def test_port_in_use_and_bad_faults_are_one_line_errors(emulator: Emulator, tmp_path: Path) -> None:
    busy = subprocess.run(
        [sys.executable, "-m", "tui", "emulator", "--port", str(emulator.port), "--state-dir", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert busy.returncode == 1 and f"127.0.0.1:{emulator.port}" in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1
    bad = subprocess.run(
        [sys.executable, "-m", "tui", "emulator", "--faults", "429=lots", "--state-dir", str(tmp_path / "y")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "not a number" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    twin = subprocess.run(
        [sys.executable, "-m", "tui", "emulator", "--state-dir", str(emulator.state_dir)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert twin.returncode == 1 and f"already serves {emulator.state_dir} on {emulator.base_url}" in twin.stderr


def test_demo_points_settings_at_a_persisted_emulator(isolated_home: Path) -> None:
    settings, emu = start_demo(load_settings({"demo": True}))
    try:
        assert settings.graph_base == emu.graph_url and settings.authority_url == emu.authority
        assert settings.ca_bundle == emu.ca_path and settings.effective_client_id == emu.public_client_id
        assert settings.profile == "demo" and emu.state_dir == isolated_home / "state" / "demo"
        emu.set_photo(emu.member_upn, None)
        port, tenant = emu.port, emu.tenant_id
    finally:
        emu.stop()
    settings, again = start_demo(load_settings({"demo": True, "profile": "work"}))
    try:
        assert (again.port, again.tenant_id) == (port, tenant)  # cached demo sign-ins stay valid
        assert again.photo(again.member_upn) is None and settings.profile == "work"
        assert again.approve_after is not None and again.approve_after > 0
    finally:
        again.stop()


def test_a_second_demo_attaches_to_the_running_one(isolated_home: Path) -> None:
    first_settings, first = start_demo(load_settings({"demo": True}))
    try:
        second_settings, second = start_demo(load_settings({"demo": True}))  # e.g. `--demo set` beside the app
        assert second_settings.graph_url == first_settings.graph_url and second.port == first.port
        token = first.issue_token(first.member_upn)
        with httpx.Client(verify=ssl.create_default_context(cafile=str(second_settings.ca_bundle))) as http:
            deleted = http.delete(
                f"{second_settings.graph_url}/v1.0/me/photo/$value", headers={"Authorization": f"Bearer {token}"}
            )
        assert deleted.status_code == 200 and first.photo(first.member_upn) is None  # one state, seen by both
        second.stop()  # nothing of its own to stop
        assert first.request_log()[-1]["method"] == "DELETE"
    finally:
        first.stop()


def test_demo_moves_to_a_free_port_when_its_port_is_taken(isolated_home: Path) -> None:
    _, emu = start_demo(load_settings({"demo": True}))
    port = emu.port
    emu.stop()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        _, moved = start_demo(load_settings({"demo": True}))
        try:
            assert moved.port != port
        finally:
            moved.stop()


@pytest.mark.parametrize("argv", [["--help"], ["emulator", "--help"]])
def test_help_does_not_start_an_emulator(argv: list[str], isolated_home: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "tui", *argv], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and not (isolated_home / "state" / "demo").exists()
