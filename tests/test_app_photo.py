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


def test_palette_renderer_draws_what_rich_pixels_draws(samples: Path) -> None:
    """Our renderer plugs into rich-pixels and gives the same cells as its stock HalfcellRenderer (colours within
    the palette's rounding), only faster: same glyph, same layout, fg = lower pixel, bg = upper pixel."""
    from rich.console import Console
    from rich_pixels import HalfcellRenderer, Pixels

    from tui.core.imaging import to_cells_image
    from tui.widgets.pixels import PaletteHalfcellRenderer

    image = to_cells_image(decode((samples / "photos" / "hopper.png").read_bytes()), 30, 15)
    console = Console(width=80, color_system="truecolor")

    def cells(renderer: object) -> list[list[tuple[tuple[int, ...], tuple[int, ...]]]]:
        lines = console.render_lines(Pixels.from_image(image, renderer=renderer), pad=False)
        return [[(s.style.color.triplet, s.style.bgcolor.triplet) for s in line if s.text == "▄"] for line in lines]

    ours, stock = cells(PaletteHalfcellRenderer()), cells(HalfcellRenderer())
    ours, stock = [row for row in ours if row], [row for row in stock if row]
    assert len(ours) == len(stock) == image.height // 2 and {len(r) for r in ours} == {image.width}
    worst = max(
        abs(a - b)
        for row_o, row_s in zip(ours, stock, strict=True)
        for cell_o, cell_s in zip(row_o, row_s, strict=True)
        for tri_o, tri_s in zip(cell_o, cell_s, strict=True)
        for a, b in zip(tri_o, tri_s, strict=True)
    )
    assert worst <= 24, worst  # 256 adaptive colours for 900 pixels: close, not exact


async def test_photo_bytes_outside_the_allow_list_are_not_drawn(tmp_path: Path, samples: Path) -> None:
    """Photo bytes from Graph or a tampered cache go through the upload pipeline's format allow-list: a TGA
    (which Pillow would happily decode) is refused with the widget's one line, and a good photo still draws."""
    from PIL import Image

    Image.open(samples / "photos" / "hopper.png").convert("RGB").save(tmp_path / "odd.tga", "TGA")
    app = _Host()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(PhotoView)
        assert view.show_photo((tmp_path / "odd.tga").read_bytes()) is False
        await pilot.pause()
        assert view.state == "unavailable" and "could not be decoded" in "".join(_text(view))
        assert view.show_photo((samples / "photos" / "hopper.webp").read_bytes())
        await pilot.pause()
        assert _photo_box(view)[0] > 0
