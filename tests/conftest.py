from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, cache and state directories and a clean environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("GRAPHPHOTO_HOME", str(home))
    monkeypatch.setenv("GRAPHPHOTO_CONFIG", str(home / "config.toml"))
    for var in list(__import__("os").environ):
        if (var.startswith("GRAPHPHOTO_") and var not in {"GRAPHPHOTO_HOME", "GRAPHPHOTO_CONFIG"}) or (
            var.startswith("AZURE_")
        ):
            monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def samples() -> Path:
    assert SAMPLES.is_dir(), f"sample images expected at {SAMPLES}"
    return SAMPLES


@pytest.fixture
def emulator(tmp_path: Path):  # -> Iterator[tui.emulator.Emulator]
    """A fresh Microsoft 365 emulator (identity + Graph on loopback HTTPS) in tmp_path, stopped after the test.

    Trust only its CA: ``httpx.Client(verify=emulator.ssl_context())``. MSAL needs ``instance_discovery=False``.
    Device codes announce a 1 s polling interval here (5 s by default).
    """
    from tui.emulator import Emulator

    with Emulator(state_dir=tmp_path / "emulator", device_interval=1) as emu:
        yield emu
    crashes = [f"{r['method']} {r['path']}: {r['error']}" for r in emu.request_log() if "error" in r]
    assert not crashes, f"the emulator failed internally (a bug in tui/emulator): {crashes}"
