"""Renderers for rich-pixels' ``Renderer`` API, fast enough to redraw a full-screen photo on every resize.

Its own module because rich-pixels imports Pillow at import time: :mod:`tui.widgets.photo` imports this on the
first draw, never at the app's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich_pixels import HalfcellRenderer, Renderer

from tui.widgets.photo import GREY_RAMP

if TYPE_CHECKING:
    from PIL.Image import Image


class PaletteHalfcellRenderer(HalfcellRenderer):
    """rich-pixels' half-cell layout (``▄``: fg = lower pixel, bg = upper), drawn from one ``Style`` per colour pair.

    The stock renderer formats and parses a ``Style`` for every cell: ~150 ms for 200x60 cells (see
    benchmarks/). Quantising to an adaptive 256-colour palette first leaves a few thousand distinct pairs, each
    built once. Expects an image already at cell size (``resize`` is ignored): :func:`photo_strips` shrinks
    with LANCZOS, where rich-pixels would use nearest neighbour.
    """

    def render(self, image: Image, resize: tuple[int, int] | None) -> list[Segment]:
        from PIL import Image as PILImage

        width, height = image.size
        indexed = image.convert("RGB").quantize(256, method=PILImage.Quantize.FASTOCTREE, dither=PILImage.Dither.NONE)
        palette = indexed.getpalette() or []
        colours = [Color.from_rgb(*palette[i : i + 3]) for i in range(0, len(palette), 3)]
        idx = indexed.tobytes()
        rows = [
            list(
                zip(
                    idx[y * width : (y + 1) * width],
                    idx[(y + 1) * width : (y + 2) * width] or idx[y * width : (y + 1) * width],
                    strict=True,
                )
            )
            for y in range(0, height, 2)
        ]
        cells = {
            pair: Segment("▄", Style.from_color(colours[pair[1]], colours[pair[0]])) for pair in set().union(*rows)
        }
        newline = Segment("\n", self.null_style)
        segments: list[Segment] = []
        for keys in rows:
            segments += map(cells.__getitem__, keys)
            segments.append(newline)
        return segments


class GreyRampRenderer(Renderer):
    """``NO_COLOR``: one character per cell from :data:`GREY_RAMP`, brighter pixel -> denser character.

    Expects an image already at cell size, one pixel per cell.
    """

    def __init__(self, style: Style | None = None) -> None:
        super().__init__()
        self.style = style

    def render(self, image: Image, resize: tuple[int, int] | None) -> list[Segment]:
        width = image.width
        data = image.convert("L").tobytes()
        step = 256 / len(GREY_RAMP)
        newline = Segment("\n", self.null_style)
        segments: list[Segment] = []
        for y in range(image.height):
            row = data[y * width : (y + 1) * width]
            segments += [Segment("".join(GREY_RAMP[int(v / step)] for v in row), self.style), newline]
        return segments
