"""The sync line: what it says in each state, and ages measured on the app's clock."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.widgets.status import SyncStatus, ago


class _Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.now = 10_000.0
        self.clock = lambda: self.now

    def compose(self) -> ComposeResult:
        yield SyncStatus()


def test_ago() -> None:
    assert ago(5) == "just now"
    assert ago(130) == "2 min ago"
    assert ago(3 * 3600 + 60) == "3 h ago"
    assert ago(3 * 86400).startswith("on ")


async def test_lines_follow_the_state_and_the_clock() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        status = app.query_one(SyncStatus)
        status.syncing()
        assert status.line == "syncing…"
        status.synced(app.now)
        assert status.line == "synced just now"
        app.now += 120
        assert status.line == "synced 2 min ago"
        status.offline(app.now - 600)
        assert status.line == "offline — showing last synced data (synced 10 min ago)"
        status.failed(None, "boom")
        assert status.line == "sync failed"
        await pilot.pause()
        assert status.has_class("-failed") and not status.has_class("-offline")
