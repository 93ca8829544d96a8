"""The photo widget: high-quality downscale to exactly the cells it has, aspect kept, redraw on resize."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from tui.widgets.photo import PhotoView, decode, fit_cells, initials, photo_strips


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield PhotoView(id="photo")


def _text(view: PhotoView) -> list[str]:
    return [view.render_line(y).text for y in range(view.size.height)]


def _photo_box(view: PhotoView) -> tuple[int, int]:
    """(columns, rows) actually covered by half blocks."""
    rows = [line for line in _text(view) if "▄" in line]
    return (max(line.count("▄") for line in rows), len(rows)) if rows else (0, 0)


def test_fit_keeps_aspect_in_cells() -> None:
    assert fit_cells(648, 648, 80, 24) == (48, 48)  # 48 columns x 24 rows of two pixels: square
    assert fit_cells(4000, 2000, 80, 24) == (80, 40)  # wide: limited by columns
    assert fit_cells(648, 648, 80, 24, grey=True) == (48, 24)  # one character ~ twice as tall as wide


def test_big_and_small_sources_fill_the_same_cells(samples: Path) -> None:
    big = decode((samples / "photos" / "iphone_12mp.jpg").read_bytes())
    assert max(big.size) <= 512  # decoded once at working size, not 12 MP per redraw
    for image in (big, decode((samples / "photos" / "hopper.png").read_bytes())):
        strips = photo_strips(image, 70, 20)
        assert len(strips) == 20
        assert {s.cell_length for s in strips} == {70}


def test_initials() -> None:
    assert initials("Adele Vance") == "AV"
    assert initials("megan.bowen@contoso.com") == "MB"
    assert initials("\x1b[31m") == "?"


async def test_photo_draws_and_redraws_on_resize(samples: Path) -> None:
    app = _Host()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(PhotoView)
        assert view.show_photo((samples / "photos" / "hopper.png").read_bytes())
        await pilot.pause()
        assert _photo_box(view) == (40, 20)  # 128x128 source: a square of 40 px x 40 px = 40 cols x 20 rows
        styles = {seg.style for seg in view.render_line(10) if seg.text == "▄"}
        assert len(styles) > 5 and all(s.color and s.bgcolor for s in styles)
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert _photo_box(view) == (60, 30)


async def test_placeholder_unavailable_and_undecodable(samples: Path) -> None:
    app = _Host()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(PhotoView)
        view.show_placeholder("Adele Vance")
        await pilot.pause()
        assert any(line.strip() == "AV" for line in _text(view))
        view.show_unavailable("No cloud\x1b[2J mailbox [b]here[/b].")
        await pilot.pause()
        assert "No cloud mailbox [b]here[/b]." in " ".join(_text(view))
        assert not view.show_photo((samples / "bad" / "not_an_image.jpg").read_bytes())
        await pilot.pause()
        assert view.state == "unavailable"
        assert "could not be decoded" in " ".join(_text(view))


async def test_no_color_draws_grey_levels(samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = _Host()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(PhotoView)
        view.show_photo((samples / "photos" / "hopper.png").read_bytes())
        await pilot.pause()
        text = "".join(_text(view))
        assert "▄" not in text
        assert len(set(text) - {" "}) >= 5  # several grey levels, not a flat block


def test_downscale_averages_instead_of_picking_pixels() -> None:
    """A fine checkerboard must come out mid-grey (filtered), not as black and white specks (nearest neighbour)."""
    from PIL import Image

    board = Image.new("L", (512, 512))
    board.putdata([255 * ((x + y) % 2) for y in range(512) for x in range(512)])
    strips = photo_strips(board.convert("RGB"), 40, 20)
    levels = {c for s in strips for seg in s if seg.text == "▄" for c in (seg.style.color.triplet.red,)}
    assert levels and all(90 <= v <= 165 for v in levels), sorted(levels)
