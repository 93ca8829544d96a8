"""F1 / ``?``: the keys of the screen it was opened from, read from that screen's live bindings (and those of its
focused widget) at the moment of opening, so the help can never drift from the code or show another screen's keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.screens import AppModal
from tui.widgets.photo import GREY_RAMP

GENERAL = (
    ("F1 / ?", "This help (in a text box only F1: there ? types a ?)"),
    ("Ctrl+P", "Command palette: every action by name"),
    ("Tab / Shift+Tab", "Move between fields and buttons"),
    ("Escape", "Back / close"),
    ("Ctrl+Q", "Quit"),
)
TIPS = (
    "Photos are drawn with half blocks; over SSH set COLORTERM=truecolor for smooth colours.",
    f"With NO_COLOR set the photo is drawn with characters instead of colours, denser for brighter pixels "
    f"({GREY_RAMP.strip()}).",
    "Other Microsoft 365 apps can take hours (Teams up to a day) to show a changed photo.",
)
_NAMES = {"escape": "Esc", "delete": "Del", "enter": "Enter", "backspace": "Backspace", "tab": "Tab", "space": "Space"}


def key_label(app: App[Any], key: str) -> str:
    """``ctrl+s`` -> ``Ctrl+S``, ``f5`` -> ``F5``, ``question_mark`` -> ``?``: as a person would write the key."""
    *modifiers, name = key.split("+")
    if name in _NAMES:
        name = _NAMES[name]
    elif len(name) > 1 and name[0] == "f" and name[1:].isdigit():
        name = name.upper()
    else:
        name = app.get_key_display(Binding(name, ""))
        name = name.upper() if modifiers and len(name) == 1 else name
    return "+".join([*(m.capitalize() for m in modifiers), name])


def _own_bindings(node: object) -> Iterator[Binding]:
    """Bindings declared by this app's own classes: their hidden keys are worth listing, a built-in widget's are not."""
    for cls in type(node).__mro__:
        if cls.__module__.startswith("tui."):
            yield from (binding for binding in cls.__dict__.get("BINDINGS", ()) if isinstance(binding, Binding))


@dataclass(frozen=True)
class KeyRow:
    keys: str
    what: str
    enabled: bool


def screen_keys(screen: Screen[Any]) -> list[KeyRow]:
    """The screen's own keys and its focused widget's, as they are active right now; the app's go under
    "Everywhere". Hidden keys of the built-in widgets (cursor movement in a text box...) are left out; hidden keys
    of this app's own widgets are listed, since nothing else tells of them."""
    app = screen.app
    everywhere = {binding.action for binding in app.BINDINGS if isinstance(binding, Binding)}
    found: dict[tuple[int, str], tuple[list[str], str, bool]] = {}
    for active in screen.active_bindings.values():
        node, binding = active.node, active.binding
        if node is app or binding.action.removeprefix("app.") in everywhere or not binding.description:
            continue
        if not binding.show and binding.action not in {own.action for own in _own_bindings(node)}:
            continue
        what = binding.tooltip or binding.description
        keys = found.setdefault((id(node), binding.action), ([], what, active.enabled))[0]
        if (label := key_label(app, binding.key)) not in keys:
            keys.append(label)
    for binding in _own_bindings(screen):  # keys this screen offers only at times (Retry after a failure)
        if binding.description and binding.action.removeprefix("app.") not in everywhere:
            labels = [key_label(app, key.strip()) for key in binding.key.split(",")]
            found.setdefault((id(screen), binding.action), (labels, binding.tooltip or binding.description, False))
    rows = [KeyRow(" / ".join(keys), what, enabled) for keys, what, enabled in found.values()]
    return rows + _elsewhere_keys(screen, {node_id for node_id, _ in found})


def _elsewhere_keys(screen: Screen[Any], listed: set[int]) -> list[KeyRow]:
    """Keys of this screen's other widgets (those with a ``HELP_PLACE``), which work once that widget has the
    focus: the crop keys while typing a path, say. Without them the help would hide half of a form's keys."""
    rows: list[KeyRow] = []
    for widget in screen.query("*"):
        place = getattr(widget, "HELP_PLACE", "")
        if not place or id(widget) in listed:
            continue
        merged: dict[str, tuple[list[str], str]] = {}
        for binding in _own_bindings(widget):
            if binding.description:
                keys, _ = merged.setdefault(binding.action, ([], binding.tooltip or binding.description))
                keys += [key_label(screen.app, key.strip()) for key in binding.key.split(",")]
        rows += [KeyRow(" / ".join(keys), f"{what} (in the {place})", True) for keys, what in merged.values()]
    return rows


class HelpScreen(AppModal):
    """Built with the rows of the screen below it: :meth:`for_screen` reads them before this modal covers it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 98%; height: auto; max-height: 90%; border: thick $accent; background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, title: str, rows: list[KeyRow]) -> None:
        super().__init__()
        self.title_text, self.rows = title, rows

    @classmethod
    def for_screen(cls, screen: Screen[Any]) -> HelpScreen:
        return cls(getattr(screen, "HELP_TITLE", "") or type(screen).__name__, screen_keys(screen))

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_row(Text(self.title_text, style="underline"), "")
        for row in self.rows:
            note = "" if row.enabled else " (not available right now)"
            table.add_row(row.keys, Text(row.what + note, style="" if row.enabled else "dim"))
        if not self.rows:
            table.add_row("", Text("No keys of its own.", style="dim"))
        table.add_row("", "")
        table.add_row(Text("Everywhere", style="underline"), "")
        for key, what in GENERAL:
            table.add_row(key, what)
        tips = Text("\n".join(f"• {tip}" for tip in TIPS), style="italic")
        with VerticalScroll():
            yield Static(Text("graphphoto-tui — keys", style="bold"))
            yield Static(table)
            yield Static(tips)
        yield Footer(compact=True)  # "esc Close", over the screen below's footer, whose keys do nothing meanwhile
