"""The profile photo as terminal pixels, or a placeholder with initials, or a short reason it cannot be shown.

Drawn through rich-pixels' ``Renderer`` API with two renderers of our own (:mod:`tui.widgets.pixels`, imported on
first draw: rich-pixels imports Pillow, which the app's start-up must not pay for): rich-pixels' stock renderer
resizes with nearest neighbour and builds one parsed ``Style`` per cell, which is jagged and slow (~150 ms for a
full-screen photo). So the image is first shrunk with LANCZOS to exactly the cells it will fill, then
:class:`PaletteHalfcellRenderer` quantises it to an adaptive 256-colour palette so that one ``Style`` per colour
pair can be reused: a 120x60-cell photo then costs a few milliseconds whatever the source size. Each cell is a
lower half block (``▄``: foreground = lower pixel, background = upper pixel), so a cell holds two square-ish
pixels and the photo keeps its aspect ratio. With ``NO_COLOR``, :class:`GreyRampRenderer` draws grey levels with
a character ramp instead. Rendered lines are cached per size, so resizes and repaints are cheap.
"""

from __future__ import annotations

import re
import zlib
from typing import TYPE_CHECKING, Literal

from rich.align import Align
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from tui.core.imaging import to_cells_image
from tui.core.text import clean

if TYPE_CHECKING:
    from PIL.Image import Image

WORKING_SIDE = 512  # decoded photos are kept at most this large: enough for any terminal, cheap to resample
GREY_RAMP = " .:-=+*#%@"  # light-on-dark terminals: brighter pixel, denser character
PLACEHOLDER_COLOURS = ("#5b6abf", "#2e7d6f", "#a0522d", "#7b4f9d", "#2f6f9f", "#8c6d1f", "#9d3f5a", "#4f7a28")
State = Literal["empty", "photo", "none", "unavailable", "message"]


def initials(name: str | None) -> str:
    """Two letters for the placeholder: first and last word of the display name (or the UPN's local part)."""
    text = clean(name or "").split("@")[0]
    words = [w for w in re.split(r"[\s._\-]+", text) if w and w[0].isalnum()]
    if not words:
        return "?"
    picked = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return picked.upper()


def decode(data: bytes | bytearray | memoryview | Image) -> Image:
    """Photo bytes (from Graph or the local cache) or an image, as an upright RGB working copy of at most
    :data:`WORKING_SIDE` pixels. Bytes go through the pipeline's allow-list of formats: a tampered cache file never
    reaches one of Pillow's rarer decoders. Raises :class:`~tui.core.errors.ImageError` when they are not a photo.
    """
    return to_cells_image(data, WORKING_SIDE, WORKING_SIDE // 2, grow=False)


def fit_cells(width: int, height: int, cols: int, rows: int, *, grey: bool = False) -> tuple[int, int]:
    """Largest (cols, pixel rows) an image of ``width`` x ``height`` fills inside ``cols`` x ``rows`` cells.

    Colour cells hold one pixel across and two down (half blocks); grey cells hold one character, which is about
    twice as tall as wide, so the width is doubled to keep the aspect ratio.
    """
    if width <= 0 or height <= 0 or cols <= 0 or rows <= 0:
        return 0, 0
    px_w, px_h = (cols / 2, rows) if grey else (cols, rows * 2)
    scale = min(px_w / width, px_h / height)
    out_w = max(1, round(width * scale))
    out_h = max(1, round(height * scale))
    if grey:
        return min(cols, out_w * 2), min(rows, out_h)
    return min(cols, out_w), min(rows * 2, out_h + (out_h % 2))


def photo_strips(image: Image, cols: int, rows: int, *, grey: bool = False, base: Style | None = None) -> list[Strip]:
    """Turn ``image`` into exactly ``rows`` strips of ``cols`` cells, the photo centred and as large as fits."""
    from PIL import Image as PILImage

    base = base or Style()
    blank = Strip([Segment(" " * cols, base)], cols) if cols > 0 else Strip([])
    out_w, out_h = fit_cells(image.width, image.height, cols, rows, grey=grey)
    if not out_w or not out_h:
        return [blank] * max(rows, 0)
    from tui.widgets.pixels import GreyRampRenderer, PaletteHalfcellRenderer  # rich-pixels imports Pillow

    if grey:
        small = image.convert("L").resize((out_w, out_h), PILImage.Resampling.LANCZOS)
        renderer: GreyRampRenderer | PaletteHalfcellRenderer = GreyRampRenderer(base)
    else:
        small = to_cells_image(image, cols, rows)  # LANCZOS to exactly the cells, aspect kept
        out_w = small.width
        renderer = PaletteHalfcellRenderer()
    segment_rows = list(Segment.split_lines(renderer.render(small, None)))
    left = (cols - out_w) // 2
    pad_l = [Segment(" " * left, base)] if left else []
    pad_r = [Segment(" " * (cols - out_w - left), base)] if cols - out_w - left else []
    middle = [Strip([*pad_l, *row, *pad_r], cols) for row in segment_rows]
    top = (rows - len(middle)) // 2
    return [blank] * top + middle + [blank] * (rows - top - len(middle))


class PhotoView(Widget):
    """Shows one photo state; call :meth:`show_photo`, :meth:`show_placeholder`, :meth:`show_unavailable`.

    The widget fills whatever space CSS gives it and redraws on resize. Every text that may come from Graph
    (names, reasons) is drawn as plain ``Text`` with control characters stripped, never as markup.
    """

    DEFAULT_CSS = """
    PhotoView { width: 1fr; height: 1fr; min-width: 6; min-height: 3; }
    PhotoView.-unavailable, PhotoView.-message { color: $text-muted; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.state: State = "empty"
        self.image: Image | None = None
        self.text = ""
        self._cache: dict[tuple[int, int, bool], list[Strip]] = {}

    # --- public API --------------------------------------------------------------------------------------

    def show_photo(self, data: bytes | Image) -> bool:
        """Show photo bytes (a format the upload pipeline accepts) or a PIL image; False (a reason drawn) if not."""
        try:
            image = decode(data)
        except Exception:  # Pillow raises many types for bad bytes; the user only needs to know it failed
            self.show_unavailable("The photo could not be decoded.")
            return False
        self._set("photo", image=image)
        return True

    def show_placeholder(self, display_name: str | None) -> None:
        """No photo is not an error: draw the person's initials."""
        self._set("none", text=initials(display_name))

    def show_unavailable(self, reason: str) -> None:
        """The photo service cannot serve this account (guest, no cloud mailbox): say why in a few words."""
        self._set("unavailable", text=clean(reason))

    def show_message(self, text: str) -> None:
        """A neutral line such as "Loading photo…"."""
        self._set("message", text=clean(text))

    # --- rendering ---------------------------------------------------------------------------------------

    def _set(self, state: State, *, image: Image | None = None, text: str = "") -> None:
        self.state, self.image, self.text = state, image, text
        self._cache.clear()
        for cls in ("-photo", "-none", "-unavailable", "-message", "-empty"):
            self.remove_class(cls)
        self.add_class(f"-{state}")
        self.refresh()

    def notify_style_update(self) -> None:
        self._cache.clear()
        super().notify_style_update()

    def _lines(self) -> list[Strip]:
        cols, rows = self.size
        grey = bool(self.app.no_color)
        key = (cols, rows, grey)
        lines = self._cache.get(key)
        if lines is None:
            if len(self._cache) > 4:
                self._cache.clear()
            lines = self._cache[key] = self._build(cols, rows, grey)
        return lines

    def _build(self, cols: int, rows: int, grey: bool) -> list[Strip]:
        base = self.rich_style
        if self.state == "photo" and self.image is not None:
            return photo_strips(self.image, cols, rows, grey=grey, base=base)
        if self.state == "none":
            return self._placeholder(cols, rows, grey, base)
        renderable = Align.center(Text(self.text, justify="center"), vertical="middle")
        return self._render_rich(renderable, cols, rows, base)

    def _placeholder(self, cols: int, rows: int, grey: bool, base: Style) -> list[Strip]:
        """A square tile in a colour derived from the initials (stable across runs), initials in the middle."""
        w, h = fit_cells(1, 1, cols, rows, grey=True)
        if grey:
            tile = Style(bold=True, reverse=True)
        else:
            colour = PLACEHOLDER_COLOURS[zlib.crc32(self.text.encode()) % len(PLACEHOLDER_COLOURS)]
            tile = Style(color="white", bgcolor=colour, bold=True)
        mid = h // 2
        lines: list[Strip] = []
        for y in range(h):
            label = self.text if y == mid else ""
            lines.append(Strip([Segment(label.center(w), tile)], w))
        left, top = (cols - w) // 2, (rows - h) // 2
        blank = Strip([Segment(" " * cols, base)], cols)
        pad_l, pad_r = Segment(" " * left, base), Segment(" " * (cols - w - left), base)
        return [blank] * top + [Strip([pad_l, *s, pad_r], cols) for s in lines] + [blank] * (rows - top - h)

    def _render_rich(self, renderable: Align, cols: int, rows: int, base: Style) -> list[Strip]:
        console = self.app.console
        options = console.options.update_dimensions(max(cols, 1), max(rows, 1))
        return [Strip(line, cols) for line in console.render_lines(renderable, options, style=base, pad=True)]

    def render_line(self, y: int) -> Strip:
        lines = self._lines()
        if 0 <= y < len(lines):
            return lines[y]
        return Strip.blank(self.size.width, self.rich_style)
