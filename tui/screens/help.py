"""``?``: every key that works, taken from the bindings themselves so the help can never drift from the code."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.screens import AppModal
from tui.screens.home import HOME_BINDINGS

GENERAL = (
    ("?", "This help"),
    ("Ctrl+P", "Command palette: every action by name"),
    ("Tab / Shift+Tab", "Move between fields and buttons"),
    ("Escape", "Back / close"),
    ("Ctrl+Q", "Quit"),
)
TIPS = (
    "Photos are drawn with half blocks; over SSH set COLORTERM=truecolor for smooth colours.",
    "With NO_COLOR set the photo is drawn in grey levels.",
    "Other Microsoft 365 apps can take hours (Teams up to a day) to show a changed photo.",
)


def _key_label(binding: Binding) -> str:
    names = {"slash": "/", "delete": "Del", "f5": "F5", "question_mark": "?", "escape": "Esc"}
    return " / ".join(names.get(k, k) for k in binding.key.split(","))


class HelpScreen(AppModal):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 98%; height: auto; max-height: 90%; border: thick $accent; background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_row(Text("Profile screen", style="underline"), "")
        for binding in HOME_BINDINGS:
            table.add_row(_key_label(binding), binding.tooltip or binding.description)
        table.add_row("", "")
        table.add_row(Text("Everywhere", style="underline"), "")
        for key, what in GENERAL:
            table.add_row(key, what)
        tips = Text("\n".join(f"• {tip}" for tip in TIPS), style="italic")
        with VerticalScroll():
            yield Static(Text("graphphoto-tui — keys", style="bold"))
            yield Static(table)
            yield Static(tips)
