"""A yes/no question that names what will happen. Reusable: remove, restore, "cancel upload?"."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Static

from tui.core.text import clean
from tui.screens import AppModal


class ConfirmScreen(AppModal):
    """Dismisses with True (yes) or False (no, escape). ``question`` and ``detail`` are shown as plain text."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center top; }  /* toasts stack up from the bottom: never over the buttons */
    ConfirmScreen > Vertical {
        width: 64; max-width: 95%; height: auto; border: thick $warning; background: $surface; padding: 1 2;
        margin-top: 2;
    }
    ConfirmScreen #question { text-style: bold; }
    ConfirmScreen #detail { color: $text-muted; margin-top: 1; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    HELP_TITLE = "Question"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.detail, self.yes, self.no = clean(question), clean(detail), yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question), id="question")
            if self.detail:
                yield Static(Text(self.detail), id="detail")
            with Horizontal():
                yield Button(Text(f"{self.no} (n)"), id="no")
                yield Button(Text(f"{self.yes} (y)"), id="yes", variant="warning")
        yield Footer(compact=True)  # covers the screen below's footer, whose keys do nothing while this is open

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default for Enter

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
