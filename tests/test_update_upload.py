"""Submitting from the Update Photo screen in the real app, against the emulator over HTTPS.

Each test signs in for real (device code approved by the emulator), opens the screen from home with ``u`` and
drives it with keys. Outcomes are checked where the user (and Graph) would see them: the emulator's stored photo,
the backup history, the audit log, the home screen and the text on the screen.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import device_sign_in, running_emulator
from PIL import Image
from textual.widgets import DirectoryTree, Input, ProgressBar

from tui.app import GraphPhotoApp, build_app
from tui.core.auth import OWN_SCOPES, Authenticator
from tui.core.config import Settings, load_settings
from tui.emulator import Emulator
from tui.screens.confirm import ConfirmScreen
from tui.screens.update import UpdateScreen

HEIC = "photos/iphone_13_pro_max.heic"  # what an iPhone user has: the success path uses it
SMALL = "photos/hopper.png"  # quick to decode: the other paths use it


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with running_emulator(tmp_path / "emu") as emulator:
        yield emulator


def settings_for(emu: Emulator) -> Settings:
    return load_settings(emu.client_flags(), env={})


def sign_in(settings: Settings, emu: Emulator) -> None:
    """A real device-code sign-in, approved by the emulator, leaves a token in this test's cache."""
    device_sign_in(emu, Authenticator(settings), scopes=OWN_SCOPES)


@pytest.fixture
async def app(emu: Emulator) -> GraphPhotoApp:
    settings = settings_for(emu)
    await asyncio.to_thread(sign_in, settings, emu)
    return build_app(settings)


async def until(pilot: Any, condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the app did not reach the expected state"
        await pilot.pause(0.02)


async def open_update(app: GraphPhotoApp, pilot: Any, samples: Path, sample: str = HEIC) -> UpdateScreen:
    """From a synced home screen: ``u``, type the path, Enter, wait for the preview."""
    await until(pilot, lambda: app.snapshot is not None and app.home.status.state == "synced")
    await pilot.press("u")
    await until(pilot, lambda: isinstance(app.screen, UpdateScreen))
    screen = app.screen
    assert isinstance(screen, UpdateScreen)
    screen.query_one("#path-input").value = str(samples / sample)  # type: ignore[attr-defined]
    await pilot.press("enter")
    await until(pilot, lambda: screen.prepared is not None)
    return screen


def screen_text(app: GraphPhotoApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def status(screen: UpdateScreen) -> str:
    return screen.upload_panel.status


def puts(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.request_log() if r["method"] == "PUT" and r["path"].endswith("/photo/$value")]


async def test_success_uploads_a_square_jpeg_backs_up_the_old_one_and_resyncs_home(
    app: GraphPhotoApp, emu: Emulator, samples: Path
) -> None:
    before, before_etag = emu.photo(emu.admin_upn), emu.photo_etag(emu.admin_upn)
    assert before is not None
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples)
        sent = screen.prepared
        assert sent is not None
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is app.home)
        # the emulator holds the new photo: upright, square, JPEG
        assert [r["body_sha256"] for r in puts(emu)] == [hashlib.sha256(sent.data).hexdigest()]
        stored = Image.open(io.BytesIO(emu.photo(emu.admin_upn) or b""))
        assert stored.format == "JPEG" and stored.width == stored.height == 648
        assert emu.photo_etag(emu.admin_upn) != before_etag
        # the previous photo is in the backup history, byte for byte
        newest = app.history.list(emu.user(emu.admin_upn)["id"])[0]
        assert newest.reason == "before replace" and app.history.read(newest) == before
        # home re-synced past the cache and says other apps may lag
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.etag == emu.photo_etag(emu.admin_upn))
        assert app.snapshot.photo == emu.photo(emu.admin_upn)
        assert any("updated" in str(n.message) for n in app._notifications)
    assert app.audit.entries()[-1].result == "ok"


async def test_throttled_upload_shows_the_wait_and_recovers(app: GraphPhotoApp, emu: Emulator, samples: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        emu.add_fault(kind="429", path="/photo/$value", method="PUT", count=1, retry_after=1)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "retrying" in status(screen))
        assert status(screen) == "Graph is busy, retrying in 1s"
        await until(pilot, lambda: app.screen is app.home)
    assert [r["status"] for r in puts(emu)] == [429, 200]


async def test_connection_reset_while_sending_is_retried(app: GraphPhotoApp, emu: Emulator, samples: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        emu.add_fault(kind="reset_upload", path="/photo/$value", method="PUT", count=1)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "retrying" in status(screen))
        assert status(screen).startswith("The network failed, retrying in ")
        await until(pilot, lambda: app.screen is app.home)
    assert puts(emu)[-1]["status"] == 200


async def test_failed_upload_keeps_the_form_shows_the_request_id_and_retries(
    app: GraphPhotoApp, emu: Emulator, samples: Path
) -> None:
    before = emu.photo(emu.admin_upn)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        screen.query_one("#quality").value = "70"  # type: ignore[attr-defined]
        await until(pilot, lambda: screen.prepared is not None and screen.prepared.quality == 70)
        chosen = screen.prepared
        assert "Retry" not in screen_text(app).splitlines()[-1]  # the footer offers a retry only after a failure
        emu.add_fault(kind="500", path="/photo/$value", method="PUT", count=1)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.failed)
        failed_put = puts(emu)[-1]
        assert failed_put["status"] == 500
        assert app.screen is screen and emu.photo(emu.admin_upn) == before
        assert status(screen).startswith("Upload failed: ") and failed_put["request_id"] in status(screen)
        assert "Ctrl+R" in status(screen)
        await pilot.pause()
        assert "^r Retry" in screen_text(app).splitlines()[-1]  # the key the message names is in the footer
        # the choices are all still there
        assert screen.prepared is chosen and screen.query_one("#quality").value == "70"  # type: ignore[attr-defined]
        assert str(screen.query_one("#path-input").value).endswith("hopper.png")  # type: ignore[attr-defined]
        await pilot.press("ctrl+r")
        await until(pilot, lambda: app.screen is app.home)
    assert puts(emu)[-1]["status"] == 200 and emu.photo(emu.admin_upn) != before
    assert [e.result for e in app.audit.entries()][-2:] == ["failed", "ok"]


async def test_escape_during_upload_asks_and_cancel_leaves_the_photo_intact(
    app: GraphPhotoApp, emu: Emulator, samples: Path
) -> None:
    before = emu.photo(emu.admin_upn)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        emu.add_fault(kind="slow", path="/photo/$value", method="GET", count=1, delay=1.5)  # the backup download
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.uploading)
        assert screen.active_bindings["escape"].binding.description == "Cancel upload"  # what the footer says
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not screen.uploading)
        assert app.screen is screen
        assert status(screen) == "Upload cancelled; your photo was not changed."
        assert screen.prepared is not None  # the form is ready for another try
    assert puts(emu) == [] and emu.photo(emu.admin_upn) == before
    assert app.audit.entries()[-1].result == "cancelled"


async def test_escape_during_upload_then_no_keeps_uploading(app: GraphPhotoApp, emu: Emulator, samples: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        emu.add_fault(kind="slow", path="/photo/$value", method="PUT", count=1, delay=1)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "saving" in status(screen))  # all bytes sent, Graph still answering
        await pilot.pause()
        bar = screen.query_one("#upload-bar", ProgressBar)
        assert bar.percentage == 1 and "100%" in str(bar.query_one("PercentageStatus").render())  # a small photo too
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "may still apply" in str(app.screen.query_one("#detail").content)  # type: ignore[attr-defined]
        await pilot.press("n")
        await until(pilot, lambda: app.screen is app.home)
    assert [r["status"] for r in puts(emu)] == [200]


async def test_cancel_after_the_body_was_sent_says_graph_may_still_apply_it(
    app: GraphPhotoApp, emu: Emulator, samples: Path
) -> None:
    """Graph cannot be asked to forget a body it has received: the screen says so, and the old photo is safe."""
    before = emu.photo(emu.admin_upn)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        emu.add_fault(kind="slow", path="/photo/$value", method="PUT", count=1, delay=1)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "saving" in status(screen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not screen.uploading)
        assert status(screen).startswith("Cancelled after the photo was sent: Graph may still apply it")
    newest = app.history.list(emu.user(emu.admin_upn)["id"])[0]
    assert app.history.read(newest) == before
    assert app.audit.entries()[-1].result == "cancelled"


async def test_footer_and_path_box_fit_at_80x24(app: GraphPhotoApp, samples: Path) -> None:
    """Whatever has focus, the footer keeps Submit, Path, Back and Help whole; Ctrl+Q still quits from here."""
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        path_input = screen.query_one("#path-input", Input)
        path_input.value = ""
        await pilot.pause()
        assert "Image path (Tab completes)" in screen_text(app)
        for widget in ("#path-input", "#image-tree", "#crop-view", "#quality"):
            screen.query_one(widget).focus()
            await pilot.pause()
            footer = screen_text(app).splitlines()[-1]
            keys = footer.split("▏")[0]  # left of the command palette's key
            assert all(word in keys for word in ("^s Submit", "^l Path", "esc Back")), (widget, footer)
            assert keys.rstrip().endswith("Help"), (widget, footer)  # "? Help", or "F1 Help" in a text box
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running)


async def test_a_folder_typed_in_the_path_box_moves_the_tree_there(app: GraphPhotoApp, samples: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.home.status.state == "synced")
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UpdateScreen))
        screen = app.screen
        tree = screen.query_one("#image-tree", DirectoryTree)
        await pilot.press(*str(samples / "odd"), "enter")
        await until(pilot, lambda: Path(tree.path) == samples / "odd" and len(tree.root.children) > 0)
        assert screen.focused is tree and screen.query_one("#path-input", Input).value == ""
        assert {str(node.label) for node in tree.root.children} >= {"animated.gif", "avatar_transparent.png"}


async def test_ctrl_l_then_typing_replaces_the_path_even_when_the_box_has_focus(
    app: GraphPhotoApp, emu: Emulator, samples: Path
) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_update(app, pilot, samples, SMALL)
        box = screen.query_one("#path-input", Input)
        assert box.has_focus and box.value.endswith(SMALL)  # Enter leaves the focus in the box
        await pilot.press("ctrl+l", *str(samples / HEIC), "enter")
        assert box.value == str(samples / HEIC)  # replaced, not appended to the old path
        await until(pilot, lambda: screen.prepared is not None and screen.prepared.source.format == "HEIF")
