"""The profile view: whose photo is on screen, the photo in terminal pixels, the profile fields, how fresh it is.

The screen only draws; the app owns the data and the sync. Coming back to this screen (``ScreenResume``) is a
throttled hint to re-sync, since the user may have changed the photo elsewhere meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from tui.core.text import clean
from tui.screens import AppScreen
from tui.widgets.photo import PhotoView
from tui.widgets.profile import ProfileCard
from tui.widgets.status import SyncStatus

if TYPE_CHECKING:
    from PIL.Image import Image

    from tui.core.photos import Target
    from tui.core.store import Snapshot

HOME_BINDINGS = [
    Binding("r,f5", "app.refresh", "Refresh", tooltip="Sync the profile and photo now"),
    Binding("u", "app.update_photo", "Update", tooltip="Choose a new photo for the viewed user"),
    Binding("x,delete", "app.remove_photo", "Remove", tooltip="Remove the photo (a backup is kept)"),
    Binding("h", "app.history", "History", tooltip="Backed-up photos of the viewed user; restore one"),
    Binding("s,slash", "app.search_users", "Users", tooltip="Find another user and view their photo"),
    Binding("m", "app.view_me", "Me", tooltip="Back to your own profile"),
]


class HomeScreen(AppScreen):
    """Call :meth:`show` with a snapshot (or None) and the viewed target; ``status`` is the sync line."""

    BINDINGS = HOME_BINDINGS
    HELP_TITLE = "Profile screen"

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: Snapshot | None = None
        self._shown_photo: bytes | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="◐")
        with Vertical(id="home"):
            yield Static(id="viewing")
            with Horizontal(id="main"):
                yield PhotoView(id="photo")
                with Vertical(id="side"):
                    yield ProfileCard(id="profile")
                    yield SyncStatus(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(PhotoView).show_message("Loading…")
        self.query_one(ProfileCard).show(None, "Loading…")
        self.gp.home_ready()

    @property
    def status(self) -> SyncStatus:
        return self.query_one(SyncStatus)

    @property
    def photo(self) -> PhotoView:
        return self.query_one(PhotoView)

    def show_viewing(self, target: Target | None, *, note: str = "") -> None:
        """The line naming whose photo this is, so acting on someone else is never a surprise."""
        if target is None:
            text = Text("Not signed in", style="bold")
        else:
            text = Text("Your profile" if target.is_me else "Viewing ", style="bold")
            if not target.is_me:
                text.append(clean(target.label), style="bold reverse")
            elif target.display_name or target.upn:
                text.append(f": {clean(target.label)}")
        if note:
            text.append(f"  {clean(note)}", style="italic")
        self.query_one("#viewing", Static).update(text)

    def show(
        self, snapshot: Snapshot | None, target: Target | None, *, hint: str = "Loading…", image: Image | None = None
    ) -> None:
        """Draw a snapshot; photo bytes are decoded again only when they changed (``image``: already decoded)."""
        self.snapshot = snapshot
        self.show_viewing(target)
        card, photo = self.query_one(ProfileCard), self.photo
        if snapshot is None:
            card.show(None, hint)
            photo.show_message(hint)
            self._shown_photo = None
            return
        card.show(snapshot.profile)
        status = snapshot.status
        if status.state == "photo" and snapshot.photo is not None:
            if snapshot.photo != self._shown_photo or photo.state != "photo":
                photo.show_photo(image if image is not None else snapshot.photo)
                self._shown_photo = snapshot.photo
            return
        self._shown_photo = None
        if status.state == "unavailable":
            photo.show_unavailable(status.reason or "The photo is not available for this account.")
        else:
            photo.show_placeholder(snapshot.profile.display_name or snapshot.profile.user_principal_name)

    def on_screen_resume(self) -> None:
        self.gp.sync_hint()
