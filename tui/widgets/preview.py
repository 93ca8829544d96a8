"""What will be uploaded: the processed photo, its size in pixels and bytes, the crop keys and output settings.

The preview always shows the pipeline's real output (the JPEG bytes that Submit would send), never an
approximation, so what the user sees is what Graph gets. The widget only holds the user's choices and posts
:class:`PreviewPanel.Changed`; the screen runs the pipeline in a worker and hands the result back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.validation import Integer
from textual.widgets import Input, Label, Static

from tui.core.text import clean, human_size
from tui.widgets.photo import PhotoView

if TYPE_CHECKING:
    from tui.core.imaging import Crop, Prepared, Source

QUALITY_RANGE = (1, 95)  # the same limits as the `quality` setting
SIZE_RANGE = (48, 4096)  # the same limits as the `size` setting
ZOOM_STEP = 1.15  # each zoom-in shows 1/1.15 of the side
MOVE_STEP = 0.1  # each move shifts the box by a tenth of its side


class CropView(PhotoView):
    """The processed result; with focus, keys move and zoom the square crop box it was cut with."""

    can_focus = True
    _move = Binding.Group("Move", compact=True)
    _zoom = Binding.Group("Zoom", compact=True)
    HELP_PLACE = "preview"  # the help lists these keys from anywhere on the screen
    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "Left", tooltip="Move the crop box left", group=_move, key_display="←"),
        Binding("right,l", "move(1, 0)", "Right", tooltip="Move the crop box right", group=_move, key_display="→"),
        Binding("up,k", "move(0, -1)", "Up", tooltip="Move the crop box up", group=_move, key_display="↑"),
        Binding("down,j", "move(0, 1)", "Down", tooltip="Move the crop box down", group=_move, key_display="↓"),
        Binding(
            "plus,equals_sign",
            "zoom(1)",
            "Zoom in",
            tooltip="Zoom in (a smaller crop box)",
            group=_zoom,
            key_display="+",
        ),
        Binding("minus", "zoom(-1)", "Zoom out", tooltip="Zoom out (a larger crop box)", group=_zoom, key_display="-"),
        Binding("0", "reset_crop", "Reset", tooltip="Back to the largest centred square"),
    ]

    @dataclass
    class CropChanged(Message):
        view: CropView
        crop: Crop

        @property
        def control(self) -> CropView:
            return self.view

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source: Source | None = None
        self.crop: Crop | None = None

    def set_source(self, source: Source | None) -> None:
        self.source = source
        self.crop = source.default_crop() if source else None
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"move", "zoom", "reset_crop"} and self.crop is None:
            return None  # shown greyed out until an image is chosen
        return True

    def _apply(self, crop: Crop) -> None:
        if crop != self.crop:
            self.crop = crop
            self.post_message(self.CropChanged(self, crop))

    def action_move(self, dx: int, dy: int) -> None:
        if self.crop and self.source:
            self._apply(self.crop.moved(dx * MOVE_STEP, dy * MOVE_STEP, self.source))

    def action_zoom(self, direction: int) -> None:
        if self.crop and self.source:
            self._apply(self.crop.zoomed(ZOOM_STEP if direction > 0 else 1 / ZOOM_STEP, self.source))

    def action_reset_crop(self) -> None:
        if self.source:
            self._apply(self.source.default_crop())


class PreviewPanel(Vertical):
    """Preview + facts about the output + quality and size inputs. Posts :class:`PreviewPanel.Changed`."""

    @dataclass
    class Changed(Message):
        """The user changed the crop, the quality or the size: the preview must be re-made."""

        panel: PreviewPanel
        crop: Crop | None
        quality: int
        size: int

        @property
        def control(self) -> PreviewPanel:
            return self.panel

    quality: reactive[int] = reactive(80, init=False)
    side: reactive[int] = reactive(648, init=False)  # output side in pixels ("size" is taken by Widget)

    def __init__(self, *, quality: int = 80, size: int = 648, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(PreviewPanel.quality, quality)
        self.set_reactive(PreviewPanel.side, size)
        self.invalid: dict[str, str] = {}  # input id -> why its text is not a usable value

    @property
    def valid(self) -> bool:
        """False while a setting's text is not a usable value: nothing may be submitted until it is fixed."""
        return not self.invalid

    def compose(self) -> ComposeResult:
        yield CropView(id="crop-view")
        yield Static("Choose an image on the left.", id="preview-info", markup=False)
        with Horizontal(id="output-settings"):
            yield Label("Quality")
            yield Input(
                str(self.quality), id="quality", type="integer", compact=True, validators=[Integer(*QUALITY_RANGE)]
            )
            yield Label("Size")
            yield Input(str(self.side), id="size", type="integer", compact=True, validators=[Integer(*SIZE_RANGE)])
            yield Label("px")
        yield Static(id="settings-error", markup=False)

    @property
    def view(self) -> CropView:
        return self.query_one(CropView)

    def on_mount(self) -> None:
        self.query_one("#settings-error").display = False
        self.view.border_title = "Preview"
        self.clear()

    def clear(self) -> None:
        """Nothing chosen (again): what the form says before the first pick."""
        self.view.set_source(None)
        self.view.show_message("No image chosen")
        info = self.query_one("#preview-info", Static)
        info.remove_class("-error")
        info.update("Choose an image on the left.")

    # --- what the screen calls ----------------------------------------------------------------------------

    def reset(self, source: Source) -> None:
        """A new source: its crop box starts at the pipeline's default framing."""
        self.view.set_source(source)

    def busy(self, text: str = "Preparing preview…") -> None:
        info = self.query_one("#preview-info", Static)
        info.remove_class("-error")
        info.update(text)

    def show_result(self, prepared: Prepared) -> None:
        self.view.show_photo(prepared.data)  # the encoded bytes, so low-quality artefacts show as they will
        crop, src = prepared.crop, prepared.source
        size = human_size(len(prepared.data))
        lines = [
            f"{prepared.width}×{prepared.height} JPEG, {size}, quality {prepared.quality}",
            f"{clean(src.name)}: {src.format} {src.width}×{src.height}, crop {crop.size}px at {crop.x},{crop.y}",
        ]
        if src.orientation != 1:  # the CLI's summary says it too: the preview is upright because of this
            lines.append(src.describe_orientation())  # "rotated (EXIF 6)", as `prepare` words it
        lines.extend(clean(note) for note in prepared.notes)
        info = self.query_one("#preview-info", Static)
        info.remove_class("-error")
        info.update(Text("\n".join(lines)))

    def show_error(self, sentence: str) -> None:
        self.view.set_source(None)
        self.view.show_message("Nothing to preview")
        info = self.query_one("#preview-info", Static)
        info.add_class("-error")
        info.update(Text(clean(sentence)))

    # --- the user's settings -----------------------------------------------------------------------------

    @on(Input.Changed, "#quality, #size")
    def _setting_changed(self, event: Input.Changed) -> None:
        """A bad value is said next to the inputs and blocks Submit; it never leaves an older value in force
        unseen, so what the preview shows is always what Submit would send."""
        event.stop()
        name = event.input.id or ""
        if event.validation_result is not None and event.validation_result.is_valid:
            self.invalid.pop(name, None)
            if name == "quality":
                self.quality = int(event.value)
            else:
                self.side = int(event.value)
        else:
            (lo, hi), label, unit = (QUALITY_RANGE, "Quality", "") if name == "quality" else (SIZE_RANGE, "Size", " px")
            self.invalid[name] = f"{label} must be from {lo} to {hi}{unit}."
        error = self.query_one("#settings-error", Static)
        error.update(" ".join(self.invalid[key] for key in ("quality", "size") if key in self.invalid))
        error.display = not self.valid
        if not self.valid and self.view.source is not None:
            self.busy(f"Not up to date: fix the setting{'s' if len(self.invalid) > 1 else ''} below.")
        self._changed()

    @on(Input.Submitted, "#quality, #size")
    def _setting_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # a bad value is already said next to the inputs

    @on(CropView.CropChanged)
    def _crop_changed(self, event: CropView.CropChanged) -> None:
        event.stop()
        self._changed()

    def _changed(self) -> None:
        self.post_message(self.Changed(self, self.view.crop, self.quality, self.side))
