"""One line saying how fresh the shown data is: "synced 2 min ago", "syncing…", "offline — showing last synced data".

The age is recomputed every 15 s from the app's clock (``app.clock``, frozen in snapshot tests), so the line never
goes stale while the terminal sits open.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from tui.core.text import clean

SyncState = Literal["idle", "syncing", "synced", "offline", "failed"]


def ago(seconds: float) -> str:
    """Human age of a sync: "just now", "2 min ago", "3 h ago", or the day for anything older than a day."""
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h ago"
    return "on " + datetime.fromtimestamp(time.time() - seconds).strftime("%Y-%m-%d")


class SyncStatus(Static):
    """Call :meth:`syncing`, :meth:`synced`, :meth:`offline` or :meth:`failed`; the line follows."""

    DEFAULT_CSS = """
    SyncStatus { height: 1; width: 1fr; color: $text-muted; }
    SyncStatus.-offline, SyncStatus.-failed { color: $warning; }
    SyncStatus.-syncing { color: $accent; }
    """

    state: reactive[SyncState] = reactive("idle")
    synced_at: reactive[float | None] = reactive(None)
    detail: reactive[str] = reactive("")

    def on_mount(self) -> None:
        self.set_interval(15, self.refresh)

    def _now(self) -> float:
        clock = getattr(self.app, "clock", None)
        return clock() if callable(clock) else time.time()

    def syncing(self, detail: str = "") -> None:
        """``detail``: why it takes long ("Graph is busy; retrying in 4 s"), on this line rather than in toasts."""
        self.detail, self.state = clean(detail), "syncing"

    def synced(self, at: float) -> None:
        self.synced_at, self.detail, self.state = at, "", "synced"

    def offline(self, last: float | None) -> None:
        self.synced_at, self.detail, self.state = last, "", "offline"

    def failed(self, last: float | None, sentence: str = "") -> None:
        self.synced_at, self.detail, self.state = last, clean(sentence), "failed"

    def watch_state(self, old: SyncState, new: SyncState) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

    @property
    def line(self) -> str:
        age = f"synced {ago(self._now() - self.synced_at)}" if self.synced_at is not None else "never synced"
        if self.state == "syncing":
            return f"syncing… {self.detail}" if self.detail else "syncing…"
        if self.state == "synced":
            return age
        if self.state == "offline":
            return f"offline — showing last synced data ({age})" if self.synced_at else "offline — nothing synced yet"
        if self.state == "failed":
            return f"sync failed — showing last synced data ({age})" if self.synced_at else "sync failed"
        return age if self.synced_at is not None else ""

    def render(self) -> Text:
        return Text(self.line, no_wrap=True, overflow="ellipsis")
