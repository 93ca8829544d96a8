"""The backups of the viewed user, newest first, with a preview; Enter restores one after a confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from tui.core.errors import GraphPhotoError
from tui.core.text import clean, human_size
from tui.screens import AppScreen
from tui.screens.confirm import ConfirmScreen
from tui.widgets.photo import PhotoView, decode

if TYPE_CHECKING:
    from PIL.Image import Image

    from tui.core.history import Backup
    from tui.core.photos import Target


def when(backup: Backup) -> str:
    """Local time of a backup, to the second: three changes in one minute are three rows to tell apart."""
    try:
        return datetime.fromisoformat(backup.created_at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return backup.created_at[:19]


class HistoryScreen(AppScreen):
    HELP_TITLE = "History"
    BINDINGS = [
        Binding("enter,r", "restore", "Restore"),
        Binding("escape", "dismiss(None)", "Back"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.backups: list[Backup] = []

    def compose(self) -> ComposeResult:
        yield Header(icon="◐")
        yield Static(Text(f"Backed-up photos of {clean(self.target.label)}", style="bold"), id="history-title")
        with Horizontal(id="history-main"):
            yield DataTable(id="backups", cursor_type="row", zebra_stripes=True)
            yield PhotoView(id="preview")
        yield Static(id="history-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Saved", "Why", "Id")  # the size is in the line below: the Id must fit whole at 80x24
        self.reload()
        table.focus()

    def reload(self) -> None:
        who = self.target.id or self.target.upn
        self.backups = self.gp.history.list(who) if who else []
        table = self.query_one(DataTable)
        table.clear()
        for b in self.backups:
            # Text, not str: DataTable reads a str cell as markup, and a record's reason is only a file's word
            table.add_row(Text(when(b)), Text(clean(b.reason.removeprefix("before "))), Text(b.id), key=b.id)
        self.refresh_bindings()
        if not self.backups:
            self.query_one(PhotoView).show_message("No backups yet")
            self._detail("A backup is made before every replace, remove or restore.")

    @on(DataTable.RowHighlighted, "#backups")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        backup = self.backups[event.cursor_row] if 0 <= event.cursor_row < len(self.backups) else None
        if backup is None:
            return
        self._load_preview(backup)
        pixels = f"{backup.width}x{backup.height}, " if backup.width and backup.height else ""
        self._detail(f"{pixels}{human_size(backup.size)} · saved by {backup.operator or 'unknown'} {backup.reason}")

    @work(thread=True, exclusive=True, group="history-preview", name="history-preview", exit_on_error=False)
    def _load_preview(self, backup: Backup) -> None:
        """Reading and decoding a backup takes ~20 ms: off the UI thread, so holding an arrow key stays smooth.

        Exclusive: a newer highlight supersedes this one, which then draws nothing.
        """
        try:
            shown: Image | str = decode(self.gp.history.read(backup))
        except GraphPhotoError as exc:
            shown = str(exc)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_preview, shown)

    def _show_preview(self, shown: Image | str) -> None:
        if not self.is_attached:  # dismissed while the backup was being decoded
            return
        view = self.query_one(PhotoView)
        if isinstance(shown, str):
            view.show_unavailable(shown)
        else:
            view.show_photo(shown)

    @on(DataTable.RowSelected, "#backups")
    def _selected(self) -> None:
        self.action_restore()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Restore is shown dimmed while there is nothing to restore."""
        return bool(self.backups) or None if action == "restore" else True

    def action_restore(self) -> None:
        table = self.query_one(DataTable)
        if not self.backups:
            return
        backup = self.backups[table.cursor_row]

        def answered(yes: bool | None) -> None:
            if yes:
                self.gp.restore_photo(backup, self.target, on_done=self.reload)

        self.app.push_screen(
            ConfirmScreen(
                f"Put back the photo of {self.target.label} saved {when(backup)}?",
                "The current photo is backed up first, so this can be undone from here too.",
                yes="Restore",
            ),
            answered,
        )

    def _detail(self, text: str) -> None:
        self.query_one("#history-detail", Static).update(Text(clean(text)))
