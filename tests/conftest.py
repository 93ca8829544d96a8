from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The project's real sample photos (see their SOURCES.md): shared/ beside the clone, or GRAPHPHOTO_SAMPLES.
SAMPLES = Path(
    os.environ.get("GRAPHPHOTO_SAMPLES") or ROOT.parent / "shared" / "samples"
).resolve()  # the app shows real paths


def pytest_sessionstart(session: pytest.Session) -> None:
    """Many tests use the real sample photos: without them, say so once instead of failing a hundred times."""
    if not (SAMPLES / "photos").is_dir():
        pytest.exit(
            f"the sample images are not at {SAMPLES}: put the project's shared/ folder beside this clone "
            "or set GRAPHPHOTO_SAMPLES=/path/to/samples",
            returncode=4,
        )


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`graphphoto-tui ARGS` as a separate process, as a script or a shell runs it (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


@contextlib.contextmanager
def running_emulator(state_dir: Path, **options: Any) -> Iterator[Any]:  # -> Iterator[tui.emulator.Emulator]
    """An emulator for a test or a module; afterwards, any request it failed on internally fails the test."""
    from tui.emulator import Emulator

    with Emulator(state_dir=state_dir, **{"device_interval": 1, **options}) as emu:
        yield emu
    crashes = [f"{r['method']} {r['path']}: {r['error']}" for r in emu.request_log() if "error" in r]
    assert not crashes, f"the emulator failed internally (a bug in tui/emulator): {crashes}"


def device_sign_in(emu, auth, upn: str | None = None, scopes=("User.ReadWrite",)):  # -> Account
    """A real device-code sign-in through ``auth`` (an Authenticator), approved by the emulator as ``upn`` (default:
    the admin): what the app and `login` do, and how tests seed a token cache. Polls as often as the client allows."""
    code = auth.start_device_code(tuple(scopes))
    emu.approve(code.user_code, upn=upn)
    deadline = time.monotonic() + 30
    while (account := auth.poll_device_code(code)) is None:
        assert time.monotonic() < deadline, "the device code was never approved"
        time.sleep(0.1)  # no event crosses the process boundary: poll, with a deadline
    return account


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, cache and state directories and a clean environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("GRAPHPHOTO_HOME", str(home))  # config.toml, cache/ and state/ all live under it
    for var in list(os.environ):
        if (var.startswith("GRAPHPHOTO_") and var not in {"GRAPHPHOTO_HOME", "GRAPHPHOTO_SAMPLES"}) or (
            var.startswith("AZURE_")
        ):
            monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def emulator(tmp_path: Path):  # -> Iterator[tui.emulator.Emulator]
    """A fresh Microsoft 365 emulator (identity + Graph on loopback HTTPS) in tmp_path, stopped after the test.

    Trust only its CA: ``httpx.Client(verify=emulator.ssl_context())``. MSAL needs ``instance_discovery=False``.
    Device codes announce a 1 s polling interval here (5 s by default).
    """
    with running_emulator(tmp_path / "emulator") as emu:
        yield emu
