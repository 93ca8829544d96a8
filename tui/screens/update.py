"""Update Photo: pick an image, see exactly what will be uploaded, submit, watch it go.

Flow: the picker posts a path -> ``open_image`` decodes it once (thread) -> ``make_preview`` runs the pipeline
(thread, debounced, exclusive: the newest settings win) -> Submit sends the prepared bytes through
:class:`tui.core.photos.PhotoService`, which backs up the current photo first. The screen dismisses with True only
after Graph accepted the photo; a failure or a cancel keeps every choice on the form so a retry is one key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Input, Static

from tui.core.errors import AuthError, GraphPhotoError
from tui.core.text import clean
from tui.screens import AppScreen
from tui.screens.confirm import ConfirmScreen
from tui.widgets.file_picker import FilePicker
from tui.widgets.photo import PhotoView
from tui.widgets.preview import PreviewPanel
from tui.widgets.upload import UploadPanel

if TYPE_CHECKING:
    from tui.core.imaging import Prepared, Source
    from tui.core.photos import PhotoService, Target

DEBOUNCE = 0.12  # seconds of quiet before a crop/quality/size change re-runs the pipeline


class ScreenKeys(Provider):
    """This screen's active keys (crop keys too, when the preview has focus) as command-palette entries."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Awaitable[bool]]]]:
        found: dict[str, tuple[str, str, Callable[[], Awaitable[bool]]]] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if active.enabled and binding.description and active.node is not self.app and binding.action not in found:
                key = self.app.get_key_display(binding)
                detail = f"{binding.tooltip} ({key})" if binding.tooltip else f"key: {key}"
                run = partial(self.app.run_action, binding.action, active.node)
                found[binding.action] = (binding.description, detail, run)
        return list(found.values())

    async def discover(self) -> Hits:
        for name, detail, run in self._commands():
            yield DiscoveryHit(name, run, help=detail)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, detail, run in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), run, help=detail)


class UpdateScreen(AppScreen):
    """Dismisses with True after a successful upload (the home screen then re-syncs); otherwise None."""

    COMMANDS = {ScreenKeys}
    HELP_TITLE = "Update photo"
    CSS_PATH = str(Path(__file__).resolve().parent.parent / "styles" / "update.tcss")
    AUTO_FOCUS = "#path-input"
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", tooltip="Upload the previewed photo (the current one is backed up)"),
        Binding(
            "ctrl+r", "retry", "Retry", tooltip="Try the failed upload again with the same choices"
        ),  # only after a failure
        # priority: handled before the keys after it are passed on, so a path pasted right after it lands in the box
        Binding("ctrl+l", "focus_path", "Path", tooltip="Type a path (Tab completes)", priority=True),
        Binding("escape", "leave", "Back", tooltip="Back to the profile without changing anything"),
        Binding("escape", "cancel_upload", "Cancel upload", tooltip="Asks first; the current photo is backed up"),
        # Ctrl+Q quits here as everywhere (and the help says so); off this footer, which is full at 80 columns
        Binding("ctrl+q", "app.quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, target: Target, current_photo: bytes | None, *, start: Path | None = None) -> None:
        super().__init__()
        self.target = target
        self.current_photo = current_photo
        self.start = start
        self.source: Source | None = None
        self.prepared: Prepared | None = None
        self.uploading = False
        self.failed = False

    # --- layout ------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        settings = getattr(self.app, "settings", None)
        with Horizontal(id="update-top"):
            yield PhotoView(id="current-photo")
            yield Static(self._title(), id="update-title")
        with Horizontal(id="update-body"):
            yield FilePicker(self.start, id="picker")
            with Vertical(id="update-side"):
                yield PreviewPanel(
                    quality=getattr(settings, "quality", 80), size=getattr(settings, "size", 648), id="preview"
                )
                yield Button("Submit Photo", id="submit", variant="primary", disabled=True, compact=True)
        yield UploadPanel(id="upload")
        yield Footer(compact=True)

    def _title(self) -> Text:
        text = Text("Update photo: ", style="bold")
        text.append(clean(self.target.label))
        text.append("\nThe current photo is on the left; the preview shows exactly what will be sent.", style="dim")
        return text

    def on_mount(self) -> None:
        current = self.query_one("#current-photo", PhotoView)
        if self.current_photo:
            current.show_photo(self.current_photo)
        else:
            current.show_placeholder(self.target.display_name or self.target.upn)
        self.query_one(UploadPanel).display = False

    @property
    def preview(self) -> PreviewPanel:
        return self.query_one(PreviewPanel)

    @property
    def upload_panel(self) -> UploadPanel:
        return self.query_one(UploadPanel)

    def _ready(self, prepared: Prepared | None) -> None:
        self.prepared = prepared
        self.query_one("#submit", Button).disabled = prepared is None or self.uploading
        self.refresh_bindings()

    @property
    def sendable(self) -> bool:
        """A preview made for the settings on screen, and no upload running: what Submit and Retry need."""
        return self.prepared is not None and not self.uploading and self.preview.valid

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit":
            return self.sendable or None
        if action == "retry":
            return self.failed and not self.uploading and self.prepared is not None
        if action in {"leave", "cancel_upload"}:  # one Escape key, named for what it does right now
            return self.uploading == (action == "cancel_upload")
        return True

    # --- choosing and previewing -------------------------------------------------------------------------

    @on(FilePicker.Chosen)
    def _chosen(self, event: FilePicker.Chosen) -> None:
        self.open_image(event.path)

    @on(FilePicker.Browsed)
    def _browsed(self, event: FilePicker.Browsed) -> None:
        """A typed folder: a refusal of the last file typed is no longer about anything on screen."""
        if self.source is None and not self.uploading:
            self.workers.cancel_group(self, "open")
            self.preview.clear()

    @work(group="open", exclusive=True, exit_on_error=False)
    async def open_image(self, path: Path) -> None:
        """Decode once (thread); a refused file shows the pipeline's sentence in the form and nothing else."""
        from tui.core.imaging import open_source

        self._ready(None)
        self.source = None
        self.failed = False
        self.preview.busy(f"Opening {clean(path.name)}…")
        try:
            source = await asyncio.to_thread(open_source, path, target=self.preview.side)
        except GraphPhotoError as exc:
            self.preview.show_error(str(exc))
            return
        except Exception:  # a pipeline bug: the form says so, the app's one handler logs and reports it
            self.preview.show_error(f"{clean(path.name)} could not be opened")
            raise
        self.source = source
        self.preview.reset(source)
        self.make_preview(debounce=0)

    @on(PreviewPanel.Changed)
    def _settings_changed(self, event: PreviewPanel.Changed) -> None:
        if self.source is not None:
            self.make_preview()

    @work(group="preview", exclusive=True, exit_on_error=False)
    async def make_preview(self, debounce: float = DEBOUNCE) -> None:
        """Run the pipeline with the newest settings; a newer change cancels this one while it waits."""
        from tui.core.imaging import prepare

        self._ready(None)
        if not self.preview.valid:
            return  # the panel says which setting to fix; Submit stays off until then
        if debounce:
            await asyncio.sleep(debounce)
        source, panel = self.source, self.preview
        if source is None:
            return
        settings = getattr(self.app, "settings", None)
        background = getattr(settings, "background", "white")
        panel.busy()
        wanted = side, quality, crop = panel.side, panel.quality, panel.view.crop
        try:
            prepared = await asyncio.to_thread(
                prepare, source, size=side, quality=quality, crop=crop, background=background
            )
        except GraphPhotoError as exc:
            panel.show_error(str(exc))
            return
        except Exception:
            panel.show_error("the preview could not be made from this image")
            raise
        # A setting typed while the thread ran (even an invalid one, which starts no newer preview) wins: the
        # form never shows, nor Submit sends, a result for settings no longer on screen.
        if source is self.source and panel.valid and wanted == (panel.side, panel.quality, panel.view.crop):
            panel.show_result(prepared)
            self._ready(prepared)

    # --- uploading ---------------------------------------------------------------------------------------

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        """Upload; someone else's photo only after a question naming them and the file (yours: at once)."""
        prepared = self.prepared
        if prepared is None or not self.sendable:
            return
        if self.target.is_me:
            self.upload()
            return

        def answered(yes: bool | None) -> None:
            if yes and self.prepared is prepared and not self.uploading:
                self.upload()

        detail = (
            f"With {prepared.source.name} ({prepared.width}×{prepared.height} JPEG). "
            "Their current photo is backed up first; History can put it back."
        )
        self.app.push_screen(
            ConfirmScreen(f"Replace the photo of {self.target.label}?", detail, yes="Replace", no="Keep it"), answered
        )

    def action_retry(self) -> None:
        """The same photo again, to the same person: answered once already."""
        if self.sendable:
            self.upload()

    def action_focus_path(self) -> None:
        """Focus the path box with its text selected, so typing replaces it (also when it already had focus).

        ``set_focus``, not ``focus()``, which takes effect later: keys pasted right after Ctrl+L would still go to
        the file list (``.`` toggles hidden files, Enter picks the highlighted file)."""
        box = self.query_one("#path-input", Input)
        self.set_focus(box)
        box.select_all()

    def _service(self) -> PhotoService:
        return self.gp.photos

    def _lock_form(self, locked: bool) -> None:
        self.uploading = locked
        for selector in ("#picker", "#preview", "#submit"):
            self.query_one(selector).disabled = locked
        if not locked:
            self._ready(self.prepared)
        self.refresh_bindings()

    @work(group="upload", exclusive=True, exit_on_error=False)
    async def upload(self) -> None:
        prepared = self.prepared
        assert prepared is not None
        panel = self.upload_panel
        panel.start(len(prepared.data))
        self.failed = False
        self._lock_form(True)
        from tui.core.graph import retry_listener

        listening = retry_listener.set(panel.retrying)  # this upload's waits show next to its bar
        try:
            await self._service().replace(self.target, prepared.data, progress=panel.advance)
        except GraphPhotoError as exc:
            self.failed = True
            panel.failed(str(exc))
            if isinstance(exc, AuthError):
                raise  # the app asks for a new sign-in; the form waits underneath for Ctrl+R
            return
        except asyncio.CancelledError:
            panel.cancelled(after_sending=panel.sending_done)
            raise
        except Exception:
            self.failed = True
            panel.failed("an unexpected error stopped the upload")
            raise
        finally:
            retry_listener.reset(listening)
            self._lock_form(False)
        self.dismiss(True)

    # --- leaving -----------------------------------------------------------------------------------------

    def action_leave(self) -> None:
        self.dismiss(None)

    def action_cancel_upload(self) -> None:
        def answered(cancel: bool | None) -> None:
            if cancel and self.uploading:
                self.workers.cancel_group(self, "upload")

        if self.upload_panel.sending_done:
            detail = "The photo has already been sent: Graph may still apply it. The current one is backed up."
        else:
            detail = "Graph gets either the whole photo or nothing, so your current photo stays as it is."
        self.app.push_screen(
            ConfirmScreen("Cancel the upload?", detail, yes="Cancel upload", no="Keep uploading"), answered
        )
