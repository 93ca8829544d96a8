"""Screens, one per module. Worker state changes do not bubble in Textual, so every screen forwards them to the
app's single handler (:meth:`tui.app.GraphPhotoApp.report_worker`): errors reach the user from one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.screen import ModalScreen, Screen
from textual.worker import Worker

if TYPE_CHECKING:
    from tui.app import GraphPhotoApp


def sentence(text: str) -> str:
    """Core messages are lower-case clauses (they follow "graphphoto-tui: " on stderr); on screen, a sentence."""
    text = " ".join(str(text).split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…)" else f"{text}."


class _Reports:
    HELP_TITLE: ClassVar[str] = ""  # how the help (F1) names the screen

    @property
    def gp(self) -> GraphPhotoApp:
        """The app, typed: screens reach the shared services (graph, store, photos) through it."""
        return cast("GraphPhotoApp", cast(Any, self).app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.gp.report_worker(event)


class AppScreen(_Reports, Screen[Any]):
    """A full screen whose worker failures go to the app's one error handler."""


class AppModal(_Reports, ModalScreen[Any]):
    """A modal whose worker failures go to the app's one error handler."""
