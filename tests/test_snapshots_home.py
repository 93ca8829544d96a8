"""Snapshots of the home and sign-in screens at 80x24 and 120x40 (a seeded emulator, a frozen clock).

``snap_compare`` must be called from synchronous tests; update with ``pytest --snapshot-update`` after checking the
SVG diff by eye.
"""

from __future__ import annotations

from typing import Any

import pytest
import test_home
from test_home import make_app, sign_in, synced, until
from textual.pilot import Pilot

from tui.core.auth import DeviceCode
from tui.emulator import Emulator
from tui.screens.signin import SignInScreen

emu = test_home.emu
NOW = 1_764_763_200.0


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize("who", ["admin", "nophoto", "onprem"])
def test_home_snapshot(snap_compare: Any, emu: Emulator, size: tuple[int, int], who: str) -> None:
    sign_in(emu, getattr(emu, f"{who}_upn"), admin=False)
    app = make_app(emu, clock=lambda: NOW)

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, synced(app))
        app.home.status.synced(NOW)  # ages are relative to the frozen clock
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_signin_snapshot(snap_compare: Any, emu: Emulator, size: tuple[int, int]) -> None:
    app = make_app(emu, clock=lambda: NOW)

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        screen = app.screen
        assert isinstance(screen, SignInScreen)
        screen._stop()  # the emulator's port and code change per run: draw a fixed code instead
        screen._show_code(DeviceCode("KX7P2QMRD", "https://microsoft.com/devicelogin", "", NOW + 872, 5))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


def test_home_snapshot_no_color(snap_compare: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """With NO_COLOR the photo is drawn in grey levels (characters), not dropped."""
    sign_in(emu, admin=False)
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(emu, clock=lambda: NOW)
    assert app.no_color

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, synced(app))
        app.home.status.synced(NOW)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)
