"""The shell: every action has a key and a palette entry, `?` lists the keys, Graph text is never markup."""

from __future__ import annotations

from pathlib import Path

import test_home
from test_home import make_app, screen_text, sign_in, synced, until
from textual.widgets import Input

from tui.core.photos import Target
from tui.emulator import Emulator
from tui.screens.help import HelpScreen
from tui.screens.home import HOME_BINDINGS, HomeScreen
from tui.screens.signin import SignInScreen
from tui.screens.update import UpdateScreen

emu = test_home.emu


async def test_help_lists_every_home_key_and_palette_has_every_action(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        footer = screen_text(app).splitlines()[-1]
        assert all(key in footer for key in ("Refresh", "Update", "Remove", "History", "Users", "Help"))
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Refresh", "Update photo", "Remove photo", "History", "Find user", "Back to me", "Help"} <= titles
        assert "Keys" not in titles  # Textual's own key panel would duplicate Help
        for binding in HOME_BINDINGS:  # no dead keys: each binding names an action the app has
            assert callable(getattr(app, f"action_{binding.action.removeprefix('app.')}", None)), binding.action

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        over_help = {c.title for c in app.get_system_commands(app.screen)}
        assert not over_help & {"Update photo", "Remove photo", "Sign out"}  # home's actions only on home
        assert "Help" in over_help  # ...but Help is everywhere
        text = screen_text(app)
        assert all((b.tooltip or b.description) in text for b in HOME_BINDINGS)
        assert text.splitlines()[-1].strip().startswith("esc Close")  # its own footer, not home's dead keys
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_text_from_graph_is_shown_literally(emu: Emulator) -> None:
    sign_in(emu)
    evil = emu.add_user(
        "evil@contoso-demo.onmicrosoft.com",
        "[bold red]Mallory[/] \x1b[2JEve",
        jobTitle="[link=https://example.com]click[/link]\x07",
        mailbox="cloud",
    )
    app = make_app(emu)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, synced(app))
        app.view(Target(evil["id"], evil["userPrincipalName"], evil["displayName"]))
        await until(pilot, lambda: synced(app)() and app.snapshot.profile.id == evil["id"])
        text = screen_text(app)
        assert "[bold red]Mallory[/] Eve" in text  # markup shown as typed, the escape sequence dropped
        assert "[link=https://example.com]click[/link]" in text
        assert "\x1b" not in text and "\x07" not in text


async def test_user_flag_opens_on_that_user(emu: Emulator) -> None:
    sign_in(emu)
    member = emu.user(emu.member_upn)
    app = make_app(emu)
    app.settings = app.settings.replace(user=emu.member_upn)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        assert app.snapshot is not None and app.snapshot.profile.id == member["id"]
        assert app.target is not None and not app.target.is_me and app.target.id == member["id"]
        assert f"viewing {member['displayName']}" in app.sub_title
        assert f"Viewing {member['displayName']}" in screen_text(app)


async def test_sign_out_forgets_tokens_and_cached_profiles(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        key = app.account_key
        assert app.store.load(key) is not None
        sign_out = next(c for c in app.get_system_commands(app.screen) if c.title == "Sign out")
        sign_out.callback()
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        assert app.auth.account() is None
        assert app.store.load(key) is None
        assert app.sub_title == "not signed in"


async def test_help_shows_the_keys_of_the_screen_it_was_opened_from(emu: Emulator, samples: Path) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 40)) as pilot:
        await until(pilot, synced(app))
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UpdateScreen))
        update = app.screen
        path_input = update.query_one("#path-input", Input)
        assert update.focused is path_input
        await pilot.press("question_mark")  # a text box takes "?" as text...
        assert path_input.value == "?" and app.screen is update
        assert "F1 Help" in screen_text(app).splitlines()[-1]  # ...so the footer offers the key that works there
        path_input.value = ""
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        text = screen_text(app)
        assert "Update photo" in text and "Everywhere" in text and "Ctrl+S" in text
        shown = {row.what for row in help_screen.rows}
        for action in ("submit", "focus_path", "leave"):  # this screen's keys, as bound
            assert next(b.tooltip for b in UpdateScreen.BINDINGS if b.action == action) in shown
        assert "Complete path" in shown  # the focused box's own (footer-hidden) key
        # ...and the keys of the screen's other widgets, which work once they have the focus
        assert {"Move the crop box left (in the preview)", "Up a folder (in the file list)"} <= shown
        assert any(row.keys == "← / h" for row in help_screen.rows)  # both keys, written as on the keyboard
        retry = next(row for row in help_screen.rows if row.keys == "Ctrl+R")  # offered only after a failure...
        assert not retry.enabled and "(not available right now)" in screen_text(app)  # ...but never a secret
        assert "Move cursor left" not in shown  # a text box's built-in keys are not this app's to explain
        assert not shown & {b.tooltip for b in HOME_BINDINGS}  # never the profile screen's keys here
        assert "Quit" not in shown  # app-wide keys are under "Everywhere" only
        assert path_input.value == ""
        await pilot.press("f1")  # F1 again closes it
        await until(pilot, lambda: app.screen is update)

        update.query_one("#image-tree").focus()
        await pilot.press("question_mark")  # outside a text box "?" is help
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert {"Up a folder", "Hidden files"} <= {row.what for row in app.screen.rows}  # the tree has focus now
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is update)
