"""Find another user: results as you type (debounced; a newer query cancels the older one), paged on demand.

Searching other users needs admin permissions; the Graph client raises ``ConsentRequired`` for them and the app's
one error handler shows the sign-in screen for the extra scopes, so this screen has no special case for it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.core.text import clean
from tui.screens import AppScreen

if TYPE_CHECKING:
    from tui.core.graph import Profile

DEBOUNCE = 0.3
HINT = "Type a few letters of a name or address… then Enter opens the first match."


class UsersScreen(AppScreen):
    """Dismisses with the chosen :class:`~tui.core.graph.Profile`, or None."""

    HELP_TITLE = "Find a user"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Back"),
        Binding("down", "focus_results", "Results", show=False),
        Binding("ctrl+n,pagedown", "more", "More results"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.profiles: list[Profile] = []
        self.next_url: str | None = None
        self.query_text = ""
        self._open_first = False  # Enter came before the results: open the first one when they arrive

    def compose(self) -> ComposeResult:
        yield Header(icon="◐")
        with Vertical(id="users"):
            yield Input(placeholder="Type a few letters of a name or address…", id="users-query")
            yield Static(HINT, id="users-hint")
            yield OptionList(id="users-results")
            yield Static(id="users-state")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._state("")

    def on_screen_resume(self) -> None:
        """Back from the consent sign-in that a search needed: run that search again."""
        if self.query_text and not self.profiles:
            self._state("Searching…")
            self.search(self.query_text)

    @on(Input.Changed, "#users-query")
    def _changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self._open_first = False
        self.query_one("#users-hint").display = not self.query_text
        if self.query_text:
            self._state("Searching…")
            self.search(self.query_text)
        else:
            self.workers.cancel_group(self, "search")
            self._reset()
            self._state("")

    @on(Input.Submitted, "#users-query")
    def _submitted(self) -> None:
        """Enter in the box opens the highlighted result, else the first (once the search answers)."""
        results = self.query_one(OptionList)
        if results.option_count:
            self.dismiss(self.profiles[results.highlighted or 0])
        elif self.query_text:
            self._open_first = True

    def _reset(self) -> None:
        self.profiles, self.next_url = [], None
        self.query_one(OptionList).clear_options()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return bool(self.next_url) if action == "more" else True  # "More results" only when there are more

    @work(group="search", exclusive=True, exit_on_error=False, name="user search")
    async def search(self, text: str, next_url: str | None = None) -> None:
        if next_url is None:
            await asyncio.sleep(DEBOUNCE)  # typing on: this worker is cancelled by the next keystroke
        page = await self.gp.require_graph().search_users(text, next_url=next_url)
        if text != self.query_text:
            return
        if next_url is None:
            self._reset()
        results = self.query_one(OptionList)
        for profile in page.users:
            self.profiles.append(profile)
            label = Text(clean(profile.display_name or profile.user_principal_name or profile.id or "?"))
            if profile.user_principal_name:
                label.append(f"  {clean(profile.user_principal_name)}", style="dim")
            if profile.job_title:
                label.append(f"  · {clean(profile.job_title)}", style="italic dim")
            results.add_option(Option(label))
        self.next_url = page.next_url
        self.refresh_bindings()
        if self._open_first and self.profiles:
            self.dismiss(self.profiles[0])
            return
        more = " — more with Ctrl+N or by scrolling to the end" if self.next_url else ""
        self._state(f"{len(self.profiles)} found{more}." if self.profiles else "Nobody found.")

    def action_more(self) -> None:
        if self.next_url and self.query_text:
            self._state("Loading more…")
            self.search(self.query_text, self.next_url)

    def action_focus_results(self) -> None:
        results = self.query_one(OptionList)
        if results.option_count and not results.has_focus:
            results.focus()
            results.highlighted = results.highlighted or 0

    @on(OptionList.OptionHighlighted, "#users-results")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index == len(self.profiles) - 1 and self.next_url:
            self.action_more()

    @on(OptionList.OptionSelected, "#users-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.profiles[event.option_index])

    def _state(self, text: str) -> None:
        self.query_one("#users-state", Static).update(Text(text))
