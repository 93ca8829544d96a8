"""The sign-in screen against the emulator's real device-code and authorization-code endpoints."""

from __future__ import annotations

import re

import test_home
from test_home import make_app, screen_text, synced, until
from textual.widgets import Input

from tui.emulator import Emulator
from tui.screens.home import HomeScreen
from tui.screens.signin import SignInScreen

emu = test_home.emu  # the emulator fixture (fast device-code interval)


async def test_device_code_screen_then_home(emu: Emulator) -> None:
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        screen = app.screen
        assert isinstance(screen, SignInScreen) and screen.code is not None
        assert screen.code.user_code.replace("-", "") in [c.replace("-", "") for c in emu.pending_device_codes()]
        await until(pilot, lambda: "The code expires in" in screen_text(app))
        text = screen_text(app)
        assert screen.code.user_code in text  # the server's code, drawn
        assert screen.code.verification_uri in text
        assert re.search(r"The code expires in 1[45]:\d\d", text)
        emu.add_fault("slow", path="/me", method="GET", delay=1.0)  # the first sync takes a moment
        emu.approve(screen.code.user_code)
        await pilot.press("enter")  # check now
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert "Not signed in" not in screen_text(app) and "Loading" in screen_text(app)  # while the sync runs
        await until(pilot, lambda: synced(app)())
        assert emu.user(emu.admin_upn)["displayName"] in screen_text(app)


async def test_countdown_runs_on_the_app_clock(emu: Emulator) -> None:
    now = [0.0]
    app = make_app(emu, clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        screen = app.screen
        assert isinstance(screen, SignInScreen) and screen.code is not None
        now[0] = screen.code.expires_at - 125
        screen._tick()
        await pilot.pause()
        assert "The code expires in 2:05" in screen_text(app)


async def test_declined_says_why_and_what_to_try(emu: Emulator) -> None:
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        emu.decline()
        await pilot.press("enter")
        state = app.screen.query_one("#signin-state")
        await until(pilot, lambda: "Press n for a new code" in str(state.render()))
        assert "declined" in str(state.render())
        first = app.screen.code
        await pilot.press("n")
        await until(pilot, lambda: app.screen.code is not None and app.screen.code != first)
        cancelled = app.screen.code.user_code
        await pilot.press("escape")
        await until(pilot, lambda: "Sign-in cancelled" in str(state.render()))
        flow = app.screen._flow
        await until(pilot, lambda: flow is not None and flow.is_finished)  # polling stopped at once
        assert app.screen.code is None
        text = screen_text(app)
        assert cancelled not in text  # a dead code is not left to be typed in somewhere
        footer = text.splitlines()[-1]
        assert "New code" in footer and not {"Check", "Copy", "Cancel"} & set(footer.split()), footer


async def test_paste_back_sign_in(emu: Emulator) -> None:
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        await pilot.press("p")
        screen = app.screen
        await until(pilot, lambda: bool(str(screen.query_one("#pasteback-url").render())))
        url = str(screen.query_one("#pasteback-url").render()).replace("\n", "")
        redirected = emu.authorize(url, emu.member_upn)
        field = screen.query_one("#pasteback-input", Input)
        field.value = redirected
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and synced(app)())
        assert emu.user(emu.member_upn)["displayName"] in screen_text(app)


async def test_revoked_sign_in_asks_to_sign_in_again_and_says_why(emu: Emulator) -> None:
    emu.set_token_lifetime(1)  # every request needs a silent refresh
    test_home.sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        emu.revoke_refresh_tokens()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        reason = app.screen.reason
        assert reason and reason[:40] in " ".join(screen_text(app).split())  # why a new sign-in is needed
        assert app.home.query_one("#profile").profile is not None  # the last synced data stays underneath
        emu.approve(app.screen.code.user_code)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and synced(app)())


async def test_expired_code_says_so_and_offers_a_new_one(emu: Emulator) -> None:
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        emu.expire_device_codes()
        await pilot.press("enter")
        state = app.screen.query_one("#signin-state")
        await until(pilot, lambda: "Press n for a new code" in str(state.render()))
        assert "expired" in str(state.render())
        await pilot.press("n")
        await until(pilot, lambda: app.screen.code is not None and "Waiting" in str(state.render()))


async def test_cancel_from_paste_back_leaves_the_box_so_the_advertised_keys_work(emu: Emulator) -> None:
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        screen = app.screen
        await pilot.press("p")
        field = screen.query_one("#pasteback-input", Input)
        await until(pilot, lambda: screen.focused is field)
        await pilot.press("escape")
        await until(pilot, lambda: "Sign-in cancelled" in str(screen.query_one("#signin-state").render()))
        assert screen.focused is not field
        footer = screen_text(app).splitlines()[-1]
        assert "New code" in footer and "Paste-back" in footer  # the keys the message names are on offer
        await pilot.press("n")
        await until(pilot, lambda: screen.mode == "device" and screen.code is not None)
        assert field.value == ""  # "n" asked for a new code, it was not typed into the box
