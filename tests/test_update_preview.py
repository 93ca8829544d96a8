"""The Update Photo form before anything is sent: every kind of sample previews, bad files are refused in the form.

The screen runs in a small host app here (no Graph is needed until Submit); the upload tests use the real app and
the emulator.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual.app import App
from textual.command import CommandPalette
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from tui.core.errors import GraphPhotoError
from tui.core.imaging import open_source, prepare
from tui.core.photos import Target
from tui.screens.update import UpdateScreen
from tui.widgets.preview import CropView


class HostApp(App[None]):
    """Stands in for the app shell: it only has to receive worker failures."""

    def __init__(self, start: Path) -> None:
        super().__init__()
        self.start = start
        self.errors: list[BaseException] = []
        self.result: Any = "not dismissed"

    def report_worker(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.errors.append(event.worker.error)

    def on_mount(self) -> None:
        screen = UpdateScreen(Target("id-1", "adele@contoso.example", "Adele Vance"), None, start=self.start)
        self.push_screen(screen, self._done)

    def _done(self, result: Any) -> None:
        self.result = result


async def settle(pilot: Any, screen: UpdateScreen) -> None:
    """Wait for the open/preview workers (the preview one is started by the open one), never a fixed time."""
    while busy := [w for w in screen.workers if w.group in {"open", "preview"} and not w.is_finished]:
        await pilot.app.workers.wait_for_complete(busy)
    await pilot.pause()


async def until_true(pilot: Any, condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except Exception:  # the palette's list fills in as the providers answer
            pass
        assert time.monotonic() < deadline, "condition not reached"
        await pilot.pause(0.02)


async def choose(pilot: Any, screen: UpdateScreen, path: Path) -> None:
    screen.action_focus_path()
    path_input = screen.query_one("#path-input")
    path_input.value = str(path)  # type: ignore[attr-defined]
    await pilot.press("enter")
    await pilot.pause()
    await settle(pilot, screen)


def info(screen: UpdateScreen) -> str:
    return str(screen.query_one("#preview-info", Static).content)


def settings_error(screen: UpdateScreen) -> str | None:
    """The one-line message next to the Quality/Size inputs, or None when it is hidden."""
    error = screen.query_one("#settings-error", Static)
    return str(error.content) if error.display else None


def submit_enabled(screen: UpdateScreen) -> bool:
    return not screen.query_one("#submit", Button).disabled


@pytest.mark.parametrize(
    "sample",
    [
        "photos/Portrait_5.jpg",  # EXIF orientation 5
        "photos/iphone_13_pro_max.heic",
        "odd/avatar_transparent.png",
        "odd/animated.gif",
        "photos/hopper.webp",
    ],
)
async def test_each_kind_of_sample_shows_a_preview_and_enables_submit(samples: Path, sample: str) -> None:
    app = HostApp(samples / "photos")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        assert not submit_enabled(screen)
        await choose(pilot, screen, samples / sample)
        assert app.errors == []
        assert screen.prepared is not None
        assert submit_enabled(screen)
        assert screen.query_one(CropView).state == "photo"
        image = Image.open(io.BytesIO(screen.prepared.data))
        assert (image.format, image.size) == ("JPEG", (648, 648))
        kb = len(screen.prepared.data) / 1000  # the same decimal unit as `prepare` prints
        assert f"648×648 JPEG, {kb:.1f} kB, quality 80" in info(screen)
        if screen.prepared.source.orientation != 1:
            assert f"\n{screen.prepared.source.describe_orientation()}" in info(screen)


@pytest.mark.parametrize(
    "sample",
    ["not_an_image.jpg", "broken.png", "tiny_23x17.jpg", "empty.jpg", "truncated.jpg", "decompression_bomb.gif"],
)
async def test_a_refused_file_shows_the_pipelines_line_and_keeps_submit_disabled(samples: Path, sample: str) -> None:
    path = samples / "bad" / sample
    with pytest.raises(GraphPhotoError) as refused:
        prepare(open_source(path))
    app = HostApp(samples / "bad")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, path)
        assert info(screen) == str(refused.value)
        assert "\n" not in info(screen)
        assert screen.prepared is None and not submit_enabled(screen)
        await pilot.press("ctrl+s")  # the key does nothing either
        await pilot.pause()
        assert app.result == "not dismissed" and not screen.uploading
        assert app.errors == []


async def test_a_good_file_after_a_bad_one_enables_submit_again(samples: Path) -> None:
    app = HostApp(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, samples / "bad" / "broken.png")
        assert not submit_enabled(screen)
        await choose(pilot, screen, samples / "photos" / "hopper.png")
        assert submit_enabled(screen) and "648×648 JPEG" in info(screen)


async def test_typing_a_folder_after_a_refused_file_clears_the_refusal(samples: Path) -> None:
    app = HostApp(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, samples / "bad" / "empty.jpg")
        assert "the file is empty" in info(screen)
        await choose(pilot, screen, samples / "odd")
        assert info(screen) == "Choose an image on the left." and not submit_enabled(screen)
        await choose(pilot, screen, samples / "photos" / "hopper.png")
        await choose(pilot, screen, samples / "odd")  # a good preview stays while the user browses
        assert "hopper.png: PNG 128×128" in info(screen) and submit_enabled(screen)


async def test_crop_keys_quality_and_size_remake_the_preview(samples: Path) -> None:
    app = HostApp(samples / "photos")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, samples / "photos" / "phone_jolla_8mp.jpg")
        first = screen.prepared
        assert first is not None and first.crop == first.source.default_crop()
        screen.query_one(CropView).focus()
        await pilot.press("plus", "plus", "l")
        await settle(pilot, screen)
        zoomed = screen.prepared
        assert zoomed is not None
        assert zoomed.crop.size < first.crop.size and zoomed.crop.x > first.crop.x
        assert zoomed.data != first.data
        await pilot.press("0")
        await settle(pilot, screen)
        assert screen.prepared is not None and screen.prepared.crop == first.crop

        quality = screen.query_one("#quality")
        quality.focus()
        await pilot.press("end", *["backspace"] * 3, "5", "0")  # "5" alone is valid too; the newest value wins
        size = screen.query_one("#size")
        size.focus()
        await pilot.press("end", *["backspace"] * 3, *"240")
        await settle(pilot, screen)
        small = screen.prepared
        assert small is not None and (small.width, small.quality) == (240, 50)
        assert "240×240 JPEG" in info(screen) and "quality 50" in info(screen)

        await pilot.press(*["backspace"] * 3, "9")  # below the minimum: nothing to submit until it is fixed
        await settle(pilot, screen)
        assert screen.prepared is None and not submit_enabled(screen)
        assert settings_error(screen) == "Size must be from 48 to 4096 px."


async def test_an_out_of_range_setting_blocks_submit_until_fixed(samples: Path) -> None:
    """Typing 900 in Quality must not leave quality 90 in force unseen: it is refused next to the inputs."""
    app = HostApp(samples / "photos")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, samples / "photos" / "hopper.png")
        assert settings_error(screen) is None
        screen.query_one("#quality").focus()
        await pilot.press("end", *["backspace"] * 3, *"900")
        await settle(pilot, screen)
        assert settings_error(screen) == "Quality must be from 1 to 95."
        assert "\n" not in settings_error(screen)
        assert screen.prepared is None and not submit_enabled(screen)
        assert "quality 90" not in info(screen)  # the preview does not claim a quality that is not typed
        assert "Quality must be from 1 to 95." in "\n".join(s.text for s in screen._compositor.render_strips())
        await pilot.press("ctrl+s")  # the key is off too
        await pilot.pause()
        assert not screen.uploading and app.result == "not dismissed"
        screen.query_one("#size").focus()
        await pilot.press("end", *["backspace"] * 3, *"10")
        await settle(pilot, screen)
        assert settings_error(screen) == "Quality must be from 1 to 95. Size must be from 48 to 4096 px."  # both
        await pilot.press("backspace", "backspace", *"648")
        screen.query_one("#quality").focus()
        await pilot.press("end", "backspace")  # 90: valid again, and that is what the preview shows and Submit sends
        await settle(pilot, screen)
        assert settings_error(screen) is None
        assert screen.prepared is not None and screen.prepared.quality == 90 and submit_enabled(screen)
        assert "quality 90" in info(screen)


async def test_escape_before_uploading_goes_back_without_sending(samples: Path) -> None:
    app = HostApp(samples / "photos")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, samples / "photos" / "hopper.png")
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is None


async def test_the_screens_keys_are_in_the_command_palette(samples: Path) -> None:
    app = HostApp(samples / "photos")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, samples / "photos" / "hopper.png")
        screen.query_one(CropView).focus()
        await pilot.press("ctrl+p")
        await until_true(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"zoom in")
        palette = app.screen
        await until_true(
            pilot, lambda: "Zoom in" in str(palette.query_one("CommandList").get_option_at_index(0).prompt)
        )
        before = screen.prepared
        assert before is not None
        await pilot.press("enter")
        await until_true(pilot, lambda: screen.prepared is not None and screen.prepared is not before)
        assert screen.prepared.crop.size < before.crop.size


async def test_a_path_pasted_right_after_ctrl_l_lands_in_the_path_box(samples: Path) -> None:
    """Keys that arrive in one burst (a paste, a fast typist over SSH) after Ctrl+L, with the file list focused:
    none may reach the list, where '.' shows hidden files and Enter picks the highlighted file."""
    from textual import events
    from textual.widgets import Tree

    app = HostApp(samples / "photos")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        screen.set_focus(screen.query_one(Tree))
        await pilot.press("down")
        target = str(samples / "photos" / "Portrait_5.jpg")
        burst = [events.Key("ctrl+l", None)] + [events.Key(c if c.isalnum() else f"_{ord(c)}", c) for c in target]
        for key in [*burst, events.Key("enter", "\r")]:
            app.post_message(key)  # no pause between them, unlike pilot.press
        await settle(pilot, screen)
        await settle(pilot, screen)
        assert screen.query_one("#path-input").value == target
        assert "JPEG 1200×1800" in info(screen), info(screen)


async def test_someone_elses_photo_is_replaced_only_after_a_question_naming_them_and_the_file(samples: Path) -> None:
    from tui.screens.confirm import ConfirmScreen

    app = HostApp(samples)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, UpdateScreen)
        await choose(pilot, screen, samples / "photos" / "hopper.png")
        assert "hopper.png: PNG 128×128" in info(screen)  # the preview names the file it shows
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ConfirmScreen)
        asked = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "Replace the photo of Adele Vance" in asked and "hopper.png" in asked, asked
        await pilot.press("n")
        assert app.screen is screen and not screen.uploading  # nothing was sent
