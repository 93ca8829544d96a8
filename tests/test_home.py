"""The home screen against the real emulator: each state a user can meet, and sync on start, focus, resume, key.

Helpers here (``emu``, ``settings_for``, ``sign_in``, ``until``) are shared by the other app test files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import device_sign_in, running_emulator
from textual import events
from textual.pilot import Pilot

from tui.app import GraphPhotoApp, build_app
from tui.core.auth import ADMIN_SCOPES, OWN_SCOPES, Account, Authenticator
from tui.core.config import Settings, load_settings
from tui.emulator import Emulator
from tui.screens.home import HomeScreen
from tui.widgets.photo import PhotoView


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with running_emulator(tmp_path / "emu", seed=0) as emulator:
        yield emulator


def settings_for(emu: Emulator) -> Settings:
    return load_settings(emu.client_flags(), env={})


def sign_in(emu: Emulator, upn: str | None = None, *, admin: bool = True) -> Account:
    """Seed this test's token cache with a real device-code sign-in (admin scopes on top unless ``admin=False``)."""
    scopes = (*OWN_SCOPES, *ADMIN_SCOPES) if admin else OWN_SCOPES
    return device_sign_in(emu, Authenticator(settings_for(emu)), upn, scopes)


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition`` holds (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.02)
    await pilot.pause()  # let the refresh the change scheduled be painted before anyone reads the screen


def make_app(emu: Emulator, **overrides: Any) -> GraphPhotoApp:
    overrides.setdefault("resync_throttle", 0.0)
    return build_app(settings_for(emu), **overrides)


def synced(app: GraphPhotoApp) -> Callable[[], bool]:
    return lambda: app.snapshot is not None and app.home.status.state == "synced"


def screen_text(app: GraphPhotoApp) -> str:
    """Everything drawn on the active screen, as a user would read it."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def photo_gets(emu: Emulator) -> int:
    return sum(1 for r in emu.request_log() if r["method"] == "GET" and r["path"].endswith("/photo/$value"))


async def test_signed_in_with_photo(emu: Emulator) -> None:
    sign_in(emu)
    admin = emu.user(emu.admin_upn)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        assert isinstance(app.screen, HomeScreen)
        text = screen_text(app)
        assert admin["displayName"] in text
        assert emu.admin_upn in text
        assert "synced just now" in text
        assert app.home.query_one(PhotoView).state == "photo"
        assert app.snapshot is not None and app.snapshot.photo == emu.photo(emu.admin_upn)
        assert emu.admin_upn in app.sub_title  # header: who is signed in


async def test_signed_in_without_photo_shows_initials(emu: Emulator) -> None:
    sign_in(emu, emu.nophoto_upn, admin=False)
    user = emu.user(emu.nophoto_upn)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        view = app.home.query_one(PhotoView)
        assert view.state == "none"
        words = user["displayName"].split()
        assert (words[0][0] + words[-1][0]).upper() in screen_text(app)
        assert not any(n.severity == "error" for n in app._notifications)  # no photo is not an error


async def test_photo_unavailable_says_why(emu: Emulator) -> None:
    sign_in(emu, emu.onprem_upn, admin=False)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        view = app.home.query_one(PhotoView)
        assert view.state == "unavailable"
        assert len(view.text) > 10
        assert view.text.split()[0] in screen_text(app)


async def test_offline_start_shows_cached_profile(emu: Emulator) -> None:
    sign_in(emu)
    name = emu.user(emu.admin_upn)["displayName"]
    first = make_app(emu)
    async with first.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(first))
    emu.stop()
    second = make_app(emu)
    async with second.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: second.snapshot is not None)  # cached data drawn before any network answer
        assert name in screen_text(second)
        assert emu.admin_upn in screen_text(second).splitlines()[0]  # the header names the account at once
        await until(pilot, lambda: second.home.status.state == "offline")
        assert "offline — showing last synced data" in screen_text(second)
        assert second.home.query_one(PhotoView).state == "photo"


async def test_graph_error_shows_the_sentence_and_keeps_data(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, synced(app))
        emu.add_fault("500", path="/v1.0/me", method="GET", count=8)
        await pilot.press("r")
        await until(pilot, lambda: app.home.status.state == "failed")
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors and "\n" not in errors[-1] and "Traceback" not in errors[-1]
        assert "sync failed — showing last synced data" in screen_text(app)
        assert app.home.query_one(PhotoView).state == "photo"  # nothing lost on screen


async def test_sync_on_focus_resume_and_key_downloads_only_changes(emu: Emulator, samples: Path) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        view = app.home.query_one(PhotoView)
        before_gets, before_image = photo_gets(emu), view.image

        # refresh with nothing changed: metadata only, no bytes
        await pilot.press("r")
        await until(pilot, lambda: app._sync_worker is not None and app._sync_worker.is_finished)
        assert photo_gets(emu) == before_gets

        # changed behind the app's back, then the terminal regains focus
        emu.set_photo(emu.admin_upn, (samples / "photos" / "hopper.png").read_bytes())
        app.post_message(events.AppFocus())
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.etag == emu.photo_etag(emu.admin_upn))
        assert photo_gets(emu) == before_gets + 1
        await pilot.pause()
        assert view.image is not before_image and view.state == "photo"

        # back from another screen
        emu.set_photo(emu.admin_upn, (samples / "photos" / "Landscape_1.jpg").read_bytes())
        await pilot.press("question_mark")
        await pilot.press("escape")
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.etag == emu.photo_etag(emu.admin_upn))
        assert photo_gets(emu) == before_gets + 2


async def test_a_running_sync_is_not_started_twice(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        first = app.sync()
        assert first is not None and app.sync() is first
        await until(pilot, lambda: first.is_finished)


async def test_throttled_sync_says_so_on_the_sync_line_not_in_piling_toasts(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        emu.add_fault("429", path="/me", method="GET", count=2, retry_after=1)
        await pilot.press("r")
        await until(pilot, lambda: "syncing… (throttled, retry in 1 s)" in screen_text(app))  # whole at 80x24
        await until(pilot, synced(app))  # the third try gets through
        assert not [n for n in app._notifications if "retrying" in n.message]


async def test_refresh_downloads_again_a_cached_photo_that_cannot_be_drawn(emu: Emulator) -> None:
    import dataclasses

    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
    assert app.snapshot is not None and app.account_key
    app.store.save(dataclasses.replace(app.snapshot, photo=b"\xff\xd8 damaged on disk"))  # same ETag, bad bytes
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: synced(app)() and app.home.photo.state == "unavailable")
        gets = photo_gets(emu)
        await pilot.press("r")
        await until(pilot, lambda: app.home.photo.state == "photo")
        assert photo_gets(emu) == gets + 1


async def test_retries_outside_a_sync_show_one_toast_at_a_time_not_on_the_sync_line(emu: Emulator) -> None:
    sign_in(emu)
    app = make_app(emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, synced(app))
        emu.add_fault("429", path="/photo/$value", method="DELETE", count=3, retry_after=1)
        await pilot.press("x", "y")  # a remove, not a sync: its retries must not claim the sync line
        shown: list[int] = []  # retry toasts on screen at each moment

        def removed() -> bool:
            shown.append(sum("retrying" in n.message for n in app._notifications))
            assert "retry" not in app.home.status.line
            return emu.photo(emu.admin_upn) is None

        await until(pilot, removed)
        assert max(shown) == 1  # three waits, never more than one toast about them at a time
        await until(pilot, synced(app))
