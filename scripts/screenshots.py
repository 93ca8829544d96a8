"""Generate ``screenshots/*.svg`` from the demo emulator (never edit the SVGs by hand).

Each shot is an async function registered with :func:`shot`; it gets a fresh app (new GRAPHPHOTO_HOME, demo
emulator, optionally already signed in) and a Pilot, and returns when the screen is worth saving. To add one:

    @shot("update-preview", size=(100, 30))
    async def update_preview(app, pilot, emu):
        await pilot.press("u")
        ...

Run: ``.venv/bin/python scripts/screenshots.py [NAME ...]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"


class Clock:
    """The app's clock, frozen so ages ("synced just now") and countdowns read the same in every run."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


Steps = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Shot:
    name: str
    size: tuple[int, int]
    signed_in: bool
    steps: Steps


SHOTS: dict[str, Shot] = {}


def shot(name: str, *, size: tuple[int, int] = (100, 30), signed_in: bool = True) -> Callable[[Steps], Steps]:
    def register(steps: Steps) -> Steps:
        SHOTS[name] = Shot(name, size, signed_in, steps)
        return steps

    return register


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until ``condition`` holds (no fixed sleeps: the demo answers as fast as it can)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the screen did not reach the expected state")
        await pilot.pause(0.05)


def sign_in(settings: Any, emu: Any, upn: str | None = None) -> None:
    """Seed the token cache with a real device-code sign-in, approved by the emulator."""
    from tui.core.auth import ADMIN_SCOPES, OWN_SCOPES, Authenticator

    auth = Authenticator(settings)
    code = auth.start_device_code((*OWN_SCOPES, *ADMIN_SCOPES))
    emu.approve(code.user_code, upn=upn)
    deadline = time.monotonic() + 30
    while auth.poll_device_code(code) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the emulator did not approve the sign-in")
        time.sleep(0.2)


@shot("signin", size=(100, 30), signed_in=False)
async def signin(app: Any, pilot: Any, emu: Any) -> None:
    from tui.screens.signin import SignInScreen

    await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
    app.clock.now = app.screen.code.expires_at - (14 * 60 + 32)  # "expires in 14:32"
    app.screen._tick()


@shot("home", size=(100, 30))
async def home(app: Any, pilot: Any, emu: Any) -> None:
    await until(pilot, lambda: app.snapshot is not None and app.home.status.state == "synced")


@shot("home-80x24", size=(80, 24))
async def home_small(app: Any, pilot: Any, emu: Any) -> None:
    await home(app, pilot, emu)


# --- Update Photo (UI engineer B) ---------------------------------------------------------------------


async def _update_with_preview(app: Any, pilot: Any, sample: str = "iphone_13_pro_max.heic") -> Any:
    """Home -> ``u`` -> the tree at the sample photos -> arrows to ``sample`` -> Enter -> the preview is ready."""
    await home(app, pilot, None)
    await pilot.press("u")
    await until(pilot, lambda: type(app.screen).__name__ == "UpdateScreen")
    screen = app.screen
    screen.query_one("#picker").go_to(ROOT.parent / "shared" / "samples" / "photos")
    tree = screen.query_one("#image-tree")
    await until(pilot, lambda: sample in [str(n.label) for n in tree.root.children])
    tree.focus()
    await pilot.press(*["down"] * [str(n.label) for n in tree.root.children].index(sample), "enter")
    await until(pilot, lambda: screen.prepared is not None)
    return screen


@shot("update-preview", size=(100, 30))
async def update_preview(app: Any, pilot: Any, emu: Any) -> None:
    await _update_with_preview(app, pilot)


@shot("update-progress", size=(100, 30))
async def update_progress(app: Any, pilot: Any, emu: Any) -> None:
    """Staged at 45% through the panel's own API: a loopback upload finishes too fast to catch mid-way."""
    screen = await _update_with_preview(app, pilot)
    total = len(screen.prepared.data)
    screen._lock_form(True)
    screen.upload_panel.start(total)
    screen.upload_panel.advance(total * 45 // 100, total)


async def take(item: Shot) -> Path:
    with tempfile.TemporaryDirectory(prefix="graphphoto-shots-") as tmp:
        os.environ["GRAPHPHOTO_HOME"] = tmp  # config, cache and state: nothing of the user's leaks into a shot
        os.environ.pop("GRAPHPHOTO_CONFIG", None)
        from tui.app import build_app
        from tui.core.config import load_settings
        from tui.emulator import Emulator

        with Emulator(state_dir=Path(tmp) / "emu", seed=0) as emu:
            settings = load_settings(emu.client_flags(), env={})
            if item.signed_in:
                await asyncio.to_thread(sign_in, settings, emu)
            app = build_app(settings, clock=Clock())
            async with app.run_test(size=item.size) as pilot:
                await item.steps(app, pilot, emu)
                await pilot.pause()
                OUT.mkdir(exist_ok=True)
                path = Path(app.save_screenshot(filename=f"{item.name}.svg", path=str(OUT)))
        return path


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in SHOTS]
    if unknown:
        print(f"unknown shot(s): {', '.join(unknown)}; known: {', '.join(SHOTS)}", file=sys.stderr)
        return 2
    for name in names or list(SHOTS):
        print(asyncio.run(take(SHOTS[name])).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
