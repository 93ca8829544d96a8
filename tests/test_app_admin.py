"""Admin work in the app (issue 8): find a user, remove their photo (backed up), restore it; members are refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import test_home
from test_home import make_app, screen_text, sign_in, synced, until
from textual.widgets import OptionList

from tui.app import ADMIN_WHY
from tui.core.history import AuditLog, History
from tui.core.photos import Target
from tui.emulator import Emulator
from tui.screens.confirm import ConfirmScreen
from tui.screens.history import HistoryScreen
from tui.screens.home import HomeScreen
from tui.screens.signin import SignInScreen
from tui.screens.users import UsersScreen
from tui.widgets.photo import PhotoView

emu = test_home.emu


def puts(emu: Emulator) -> list[dict]:
    return [r for r in emu.request_log() if r["method"] in {"PUT", "PATCH"} and r["path"].endswith("/photo/$value")]


async def test_admin_finds_user_removes_and_restores_photo(emu: Emulator) -> None:
    sign_in(emu)
    member = emu.user(emu.member_upn)
    original = emu.photo(emu.member_upn)
    assert original is not None
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))

        await pilot.press("s")
        assert isinstance(app.screen, UsersScreen)
        await pilot.press(*member["displayName"][:3].lower())
        results = app.screen.query_one(OptionList)
        await until(pilot, lambda: results.option_count > 0)
        index = next(i for i, p in enumerate(app.screen.profiles) if p.id == member["id"])
        results.focus()
        results.highlighted = index
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.target is not None)
        await until(pilot, lambda: synced(app)() and app.snapshot.profile.id == member["id"])
        assert member["displayName"] in app.sub_title  # the header names whose photo is on screen
        assert f"Viewing {member['displayName']}" in screen_text(app)

        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        assert member["displayName"] in screen_text(app)  # the confirmation names the user
        await pilot.press("y")
        await until(pilot, lambda: emu.photo(emu.member_upn) is None)
        await until(pilot, lambda: synced(app)() and app.snapshot.status.state == "none")
        backups = History().list(member["id"])
        assert len(backups) == 1 and backups[0].sha256 == hashlib.sha256(original).hexdigest()

        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: emu.photo(emu.member_upn) is not None)
        assert puts(emu)[-1]["body_sha256"] == backups[0].sha256  # the exact saved bytes went back
        actions = [(e.action, e.result) for e in AuditLog().entries()]
        assert actions == [("remove", "ok"), ("restore", "ok")]

        await pilot.press("escape")
        await pilot.press("m")
        await until(pilot, lambda: synced(app)() and app.target is not None and app.target.is_me)
        assert "Your profile" in screen_text(app)


async def test_admin_replaces_someone_elses_photo_after_saying_yes(emu: Emulator, samples: Path) -> None:
    from tui.screens.update import UpdateScreen

    sign_in(emu)
    member = emu.user(emu.member_upn)
    before = emu.photo(emu.member_upn)
    target = Target(member["id"], member["userPrincipalName"], member["displayName"])
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        app.view(target)
        await until(pilot, lambda: synced(app)() and app.snapshot.profile.id == member["id"])
        await pilot.press("u")
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await pilot.press("ctrl+l", *str(samples / "photos/hopper.png"), "enter")
        await until(pilot, lambda: screen.prepared is not None)
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Replace the photo of {member['displayName']}" in screen_text(app) and "hopper.png" in screen_text(app)
        assert puts(emu) == []  # nothing is sent before the answer
        await pilot.press("y")
        await until(pilot, lambda: emu.photo(emu.member_upn) != before)
        assert puts(emu)[-1]["body_sha256"] == hashlib.sha256(screen.prepared.data).hexdigest()
        assert History().list(member["id"])[0].sha256 == hashlib.sha256(before or b"").hexdigest()


async def test_member_is_refused_with_one_line_and_nothing_changes(emu: Emulator) -> None:
    sign_in(emu, emu.member_upn)
    other = emu.user(emu.admin_upn)
    before = emu.photo_etag(emu.admin_upn)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        app.view(Target(other["id"], other["userPrincipalName"], other["displayName"]))
        await until(pilot, lambda: synced(app)() and app.snapshot.profile.id == other["id"])  # reading is allowed
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        error = next(n.message for n in app._notifications if n.severity == "error")
        assert error.startswith("Access denied") and "\n" not in error
        assert "Administrator" in error  # says which role is missing
        assert emu.photo_etag(emu.admin_upn) == before
        assert [(e.action, e.result) for e in AuditLog().entries()] == [("remove", "failed")]
        assert len(History().list(other["id"])) == 1  # the backup made first is kept


async def test_search_without_admin_consent_asks_for_it(emu: Emulator) -> None:
    sign_in(emu, admin=False)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        await pilot.press("slash")
        await pilot.press("a", "d")
        await until(pilot, lambda: isinstance(app.screen, SignInScreen) and app.screen.code is not None)
        assert app.screen.reason == ADMIN_WHY
        assert "ProfilePhoto.ReadWrite.All" in " ".join(app.screen.scopes)
        assert "admin permissions" in screen_text(app)  # the reason is on screen, not only in a toast
        emu.approve(app.screen.code.user_code)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, UsersScreen))  # back where the user was
        await until(pilot, lambda: len(app.screen.profiles) > 0)  # and the search ran again, now allowed


async def test_user_search_pages_on_reaching_the_end(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        await pilot.press(*"contoso")
        await until(pilot, lambda: len(screen.profiles) == 25 and screen.next_url is not None)
        first_page = [p.id for p in screen.profiles]
        await pilot.press("down", "end")  # into the results, then to the last one: the next page loads
        await until(pilot, lambda: len(screen.profiles) > 25)
        assert [p.id for p in screen.profiles[:25]] == first_page
        assert len({p.id for p in screen.profiles}) == len(screen.profiles)  # no duplicates across pages
        assert "found" in str(screen.query_one("#users-state").render())


async def test_enter_in_the_search_box_opens_the_first_result(emu: Emulator) -> None:
    sign_in(emu)
    member = emu.user(emu.member_upn)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        assert "Type a few letters of a name or address" in screen_text(app)  # a hint where the list will be
        await pilot.press(*member["userPrincipalName"])
        await until(pilot, lambda: len(screen.profiles) == 1)
        assert "Type a few letters" not in screen_text(app)
        await pilot.press("enter")  # focus is still in the box: one Enter opens the result
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await until(pilot, lambda: synced(app)() and app.snapshot.profile.id == member["id"])

        await pilot.press("s")
        await pilot.press(*emu.admin_upn, "enter")  # Enter before the search has answered: opened when it does
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.target is not None)
        await until(pilot, lambda: synced(app)() and app.snapshot.profile.user_principal_name == emu.admin_upn)


async def test_history_shows_each_backup_id_whole_at_80x24(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        await pilot.press("x")
        await pilot.press("y")
        await until(pilot, lambda: synced(app)() and app.snapshot.status.state == "none")
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        backup = app.screen.backups[0]
        await until(pilot, lambda: backup.id in screen_text(app))
        row = next(line for line in screen_text(app).splitlines() if "before" not in line and backup.id in line)
        assert "remove" in row  # the id whole, on its row, for `graphphoto-tui restore ID`
        preview = app.screen.query_one(PhotoView)
        await until(pilot, lambda: preview.state == "photo")  # the removed photo, decoded off the UI thread
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("h", "escape")  # leaving before the preview is decoded: the late preview draws nothing
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.pause(0.3)
        assert not [n for n in app._notifications if n.severity == "error"]


async def test_history_shows_a_record_with_markup_in_it_as_text(emu: Emulator, samples: Path) -> None:
    """Backup records are files: a reason like "[/]" is drawn as written, never parsed as markup (a crash)."""
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        me = app.snapshot.profile
        History().save(
            (samples / "photos" / "Portrait_5.jpg").read_bytes(),
            reason="before [/]",
            user_id=me.id,  # type: ignore[arg-type]
        )
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen) and "[/]" in screen_text(app))
        await until(pilot, lambda: app.screen.query_one(PhotoView).state == "photo")
