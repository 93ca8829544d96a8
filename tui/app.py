"""The Textual app: one Authenticator, one GraphClient, the local store and the photo service, shared by the screens.

The app owns the data and every slow operation (named workers: ``start``, ``sync``, ``change``); screens draw and
ask. Errors from any worker, in any screen, reach the user through :meth:`GraphPhotoApp.report_worker`: a
``GraphPhotoError`` as its one sentence, anything else as one line (and the log), never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import NoActiveWorker, Worker, WorkerState, get_current_worker

from tui import APP_NAME
from tui.core.config import Settings
from tui.core.errors import AuthError, GraphPhotoError, NetworkError
from tui.core.text import clean
from tui.screens import sentence
from tui.screens.home import HomeScreen

if TYPE_CHECKING:
    from tui.core.auth import Account, Authenticator
    from tui.core.graph import GraphClient, Profile
    from tui.core.history import AuditLog, Backup, History
    from tui.core.photos import PhotoService, Target
    from tui.core.store import Snapshot, Store
    from tui.core.sync import Syncer

log = logging.getLogger(__name__)

ADMIN_WHY = (
    "Viewing or changing someone else's photo needs the admin permissions User.Read.All and "
    "ProfilePhoto.ReadWrite.All (and a User, People or Global Administrator role): sign in again to grant them."
)
PROPAGATION = "Other Microsoft 365 apps may take hours (Teams up to a day) to show the change."


class GraphPhotoApp(App[int]):
    """See and change Microsoft 365 profile photos. Build it with :func:`build_app`."""

    TITLE = APP_NAME
    CSS_PATH = "styles/app.tcss"
    BINDINGS = [
        # "?" first: the footer shows it where it works; a text box takes "?" as text, and there F1 shows instead
        Binding("question_mark", "help", "Help", tooltip="Every key of this screen, and tips"),
        Binding("f1", "help", "Help", key_display="F1", priority=True, tooltip="Every key of this screen, and tips"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        settings: Settings,
        *,
        auth: Authenticator | None = None,
        store: Store | None = None,
        history: History | None = None,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
        resync_throttle: float = 10.0,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.resync_throttle = resync_throttle
        for name, service in (("auth", auth), ("store", store), ("history", history), ("audit", audit)):
            if service is not None:
                self.__dict__[name] = service  # pre-fills the cached_property
        self.account: Account | None = None
        self.graph: GraphClient | None = None
        self.syncer: Syncer | None = None
        self.photos: PhotoService | None = None
        self.target: Target | None = None
        self.snapshot: Snapshot | None = None
        self.account_key = ""
        self._last_sync = float("-inf")
        self._retry_toast_until = 0.0  # time.monotonic() until which a "retrying" toast is on screen
        self._sync_worker: Worker[None] | None = None
        self._sync_target: Target | None = None
        self._signing_in = False
        self._start_requested = False

    # --- services: built on first use (tests and the screenshot script may pass their own) ---------------

    @cached_property
    def auth(self) -> Authenticator:
        from tui.core.auth import Authenticator

        return Authenticator(self.settings)

    @cached_property
    def store(self) -> Store:
        from tui.core.store import Store

        return Store()

    @cached_property
    def history(self) -> History:
        from tui.core.history import History

        return History(demo=self.settings.demo)

    @cached_property
    def audit(self) -> AuditLog:
        from tui.core.history import AuditLog

        return AuditLog(demo=self.settings.demo)

    def require_graph(self) -> GraphClient:
        if self.graph is None:
            raise AuthError("not signed in yet: sign in first")
        return self.graph

    @property
    def home(self) -> HomeScreen:
        """The profile screen: always at the bottom of the stack."""
        screen = self.screen_stack[0]
        assert isinstance(screen, HomeScreen)
        return screen

    def get_default_screen(self) -> Screen[Any]:
        return HomeScreen()

    # --- start and sign-in ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._update_header()

    def home_ready(self) -> None:
        """Called by the home screen once its widgets exist: only then can cached data be drawn."""
        if not self._start_requested:
            self._start_requested = True
            self._start()

    @work(thread=True, group="start", exit_on_error=False, name="start")
    def _start(self) -> None:
        """Off the event loop: read the token cache and the last synced snapshot (SQLite) and have them drawn;
        only then import the HTTP stack and go online, so the cached profile appears as early as possible."""
        from tui.core.photos import Target

        account = self.auth.account()
        target = Target(upn=self.settings.user) if self.settings.user else Target.me()
        snapshot = None
        if account is not None:
            from tui.core.store import account_key

            self.account_key = account_key(self.settings, account)
            if target.is_me:
                snapshot = self.store.load(self.account_key, None)
        image = None
        if snapshot is not None and snapshot.photo is not None:  # Pillow's import and the decode, off the UI thread
            from tui.widgets.photo import decode

            with contextlib.suppress(Exception):  # undecodable: the home screen says so when it tries again
                image = decode(snapshot.photo)
        self.call_from_thread(self._started, account, target, snapshot, image)
        for module in ("tui.core.graph", "tui.core.sync"):
            importlib.import_module(module)
        if account is not None:
            self.call_from_thread(self._online, account)

    def _started(self, account: Account | None, target: Target, snapshot: Snapshot | None, image: Any) -> None:
        self.target, self.account = target, account
        self._update_header()
        if account is None:
            self.home.show(None, None, hint="Not signed in")
            self.sign_in()
            return
        if snapshot is not None:
            self._show(snapshot, image)
            self.home.status.synced(snapshot.synced_at)
        else:
            self.home.show(None, target)

    def _online(self, account: Account) -> None:
        self._connect(account)
        self.sync()

    def sign_in(self, scopes: Iterable[str] | None = None, reason: str = "") -> None:
        """Show the sign-in screen (once); on success connect and sync, on back-out keep what is shown."""
        from tui.core.auth import OWN_SCOPES
        from tui.screens.signin import SignInScreen

        if self._signing_in:
            return
        self._signing_in = True

        def done(account: Account | None) -> None:
            self._signing_in = False
            if account is None:
                return
            self.notify(f"Signed in as {clean(account.username)}.", markup=False, timeout=4)
            self._connect(account)
            if self.snapshot is None:  # not "Not signed in" any more while the first sync runs
                self.home.show(None, self.target)
            self.sync()

        wanted = tuple(dict.fromkeys([*OWN_SCOPES, *(scopes or ())]))
        self.push_screen(SignInScreen(wanted, reason, allow_back=self.account is not None), done)

    def _connect(self, account: Account) -> None:
        from tui.core.graph import GraphClient
        from tui.core.photos import PhotoService
        from tui.core.store import account_key
        from tui.core.sync import Syncer

        if self.graph is None:
            self.graph = GraphClient(self.settings, self.auth, on_retry=self._on_retry)
        self.account = account
        self.account_key = account_key(self.settings, account)
        self.syncer = Syncer(self.graph, self.store, self.account_key)
        self.photos = PhotoService(self.graph, self.history, self.audit, account, self.settings.tenant)
        self._update_header()

    def _on_retry(self, seconds: float, why: str) -> None:
        """A sync's retries go on the sync line (replaced at each retry: toasts would pile up); others' get one
        toast at a time."""
        what = {"throttled": "Graph is throttling requests", "network": "The network failed"}.get(why, "Graph is busy")
        try:
            syncing = get_current_worker().group == "sync"
        except NoActiveWorker:
            syncing = False
        if syncing and self.screen is self.home:  # short: the side panel is ~38 columns at 80x24
            short = {"throttled": "throttled", "network": "network down"}.get(why, "Graph busy")
            self.home.status.syncing(f"({short}, retry in {seconds:.0f} s)")
        elif time.monotonic() >= self._retry_toast_until:  # one toast at a time, not one per attempt
            timeout = max(2.0, seconds)
            self._retry_toast_until = time.monotonic() + timeout
            self.notify(f"{what}; retrying in {seconds:.0f} s…", severity="warning", timeout=timeout)

    async def on_unmount(self) -> None:
        if self.graph is not None:
            await self.graph.aclose()

    # --- sync -------------------------------------------------------------------------------------------

    def sync(self, *, force_photo: bool = False) -> Worker[None] | None:
        """Sync the viewed user now; a sync of the same user that is running is joined, not started twice."""
        if self.syncer is None or self.target is None:
            return None
        running = self._sync_worker is not None and self._sync_worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )
        if running and self._sync_target == self.target and not force_photo:
            return self._sync_worker
        self._last_sync = self.clock()
        self._sync_target = self.target
        self._sync_worker = self._sync(self.target, force_photo)
        return self._sync_worker

    def sync_hint(self) -> None:
        """Resume and focus events are hints: throttled, since tmux and modals send them in bursts."""
        if self.clock() - self._last_sync >= self.resync_throttle:
            self.sync()

    @work(group="sync", exit_on_error=False, name="sync")
    async def _sync(self, target: Target, force_photo: bool) -> None:
        from tui.core.photos import Target, resolve_target

        assert self.syncer is not None
        self.home.status.syncing()
        if not target.is_me and not target.id:
            resolved = await resolve_target(self.require_graph(), target.upn, self.account)
            if self.target == target:
                self.target = target = resolved
        snapshot = await self.syncer.sync(target.graph_id, force_photo=force_photo)
        if self.target != target and (self.target is None or self.target.id != target.id):
            return  # the user switched to someone else meanwhile: that sync draws its own result
        self.target = Target.from_profile(snapshot.profile, is_me=target.is_me)
        self._show(snapshot)
        self.home.status.synced(snapshot.synced_at)

    def _show(self, snapshot: Snapshot, image: Any = None) -> None:
        from tui.core.photos import Target

        if self.target is not None and not self.target.known:
            self.target = Target.from_profile(snapshot.profile, is_me=self.target.is_me)
        self.snapshot = snapshot
        self.home.show(snapshot, self.target, image=image)
        self._update_header()

    def on_app_focus(self, event: events.AppFocus) -> None:
        self.sync_hint()

    # --- the one error handler --------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker(event)

    def report_worker(self, event: Worker.StateChanged) -> None:
        """Every worker's failure, from any screen, ends here."""
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        self.report_error(event.worker.error, group=event.worker.group)

    def report_error(self, exc: BaseException, *, group: str = "") -> None:
        from tui.core.auth import ConsentRequired

        if group == "sync":
            last = self.snapshot.synced_at if self.snapshot else None
            if isinstance(exc, NetworkError):
                self.home.status.offline(last)
            else:
                self.home.status.failed(last, str(exc))
        if isinstance(exc, ConsentRequired):  # the sign-in screen says why; no toast on top of it
            self.sign_in(exc.scopes, ADMIN_WHY)
            return
        if isinstance(exc, NetworkError):
            self.notify(f"Offline: {sentence(str(exc))}", severity="warning", markup=False, timeout=6)
            return
        if isinstance(exc, AuthError):
            self.notify(sentence(str(exc)), severity="error", markup=False, timeout=8)
            self.sign_in(reason=sentence(str(exc)))
            return
        if isinstance(exc, GraphPhotoError):
            self.notify(sentence(str(exc)), severity="error", markup=False, timeout=8)
            return
        log.exception("unexpected error in a worker", exc_info=exc)
        line = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        self.notify(f"Unexpected error: {line}", severity="error", markup=False, timeout=10)

    # --- viewed user ------------------------------------------------------------------------------------

    def view(self, target: Target) -> None:
        """Switch whose photo is on screen: show their cached snapshot at once (if any), then sync."""
        self.target = target
        cached = self.store.load(self.account_key, target.graph_id) if self.account_key else None
        self.snapshot = cached
        if cached is not None:
            self.home.show(cached, target)
            self.home.status.synced(cached.synced_at)
        else:
            self.home.show(None, target)
        self._update_header()
        self.sync()

    def view_profile(self, profile: Profile | None) -> None:
        from tui.core.photos import Target

        if profile is None:
            return
        me = self.account is not None and self.account.object_id == profile.id
        self.view(Target.from_profile(profile, is_me=me))

    def _update_header(self) -> None:
        """Most important first: the header is cut at narrow widths, and the tenant id is the least needed."""
        parts = []
        if self.account is not None:
            parts.append(clean(self.account.username))
        if self.target is not None and not self.target.is_me:
            parts.append(f"viewing {clean(self.target.display_name or self.target.upn or self.target.id or '?')}")
        if self.account is not None and (self.account.tenant_id or self.settings.tenant):
            parts.append(f"tenant {clean(self.account.tenant_id or self.settings.tenant)}")
        self.sub_title = " · ".join(parts) if parts else ("not signed in" if self.target else "loading…")

    # --- actions (bound on the home screen, all in the command palette) ---------------------------------

    def action_refresh(self) -> None:
        """Sync now. A cached photo that could not be drawn (damaged on disk) is downloaded again, whatever its
        ETag says: otherwise `r` would keep showing "could not be decoded" until the photo changed."""
        shown = self.snapshot is not None and self.snapshot.status.state == "photo"
        if self.sync(force_photo=shown and self.home.photo.state != "photo") is None:
            self.notify("Sign in first.", severity="warning")

    def action_view_me(self) -> None:
        from tui.core.photos import Target

        if self.target is not None and self.target.is_me:
            self.sync()
            return
        self.view(Target.me())

    def action_search_users(self) -> None:
        from tui.screens.users import UsersScreen

        if self.graph is None:
            self.notify("Sign in first.", severity="warning")
            return
        self.push_screen(UsersScreen(), self.view_profile)

    def action_history(self) -> None:
        from tui.screens.history import HistoryScreen

        if self.target is None or not self.target.known:
            self.notify("Wait for the profile to load first.", severity="warning")
            return
        self.push_screen(HistoryScreen(self.target))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()  # F1 again closes it
        else:  # the keys of the screen (and focused widget) it is opened from, read before the help covers them
            self.push_screen(HelpScreen.for_screen(self.screen))

    def action_update_photo(self) -> None:
        if self.photos is None or self.target is None:
            self.notify("Sign in first.", severity="warning")
            return
        try:
            from tui.screens.update import UpdateScreen
        except ImportError:
            self.notify("Updating photos is not available in this build.", severity="error")
            return
        target = self.target
        current = self.snapshot.photo if self.snapshot and self.snapshot.status.state == "photo" else None

        def done(uploaded: bool | None) -> None:
            if uploaded:
                self.notify(f"Photo of {target.label} updated. {PROPAGATION}", markup=False, timeout=8)
                self.sync(force_photo=True)

        self.push_screen(UpdateScreen(target, current), done)

    def action_remove_photo(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        if self.photos is None or self.target is None:
            self.notify("Sign in first.", severity="warning")
            return
        target = self.target
        if self.snapshot is not None and self.snapshot.status.state != "photo":
            self.notify(f"{target.label} has no photo to remove.", markup=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._change("remove", target)

        self.push_screen(
            ConfirmScreen(
                f"Remove the photo of {target.label}?",
                "It is backed up first; put it back any time from the history (h).",
                yes="Remove",
            ),
            answered,
        )

    def restore_photo(self, backup: Backup, target: Target, *, on_done: Callable[[], None] | None = None) -> None:
        self._change("restore", target, backup=backup, on_done=on_done)

    @work(group="change", exclusive=True, exit_on_error=False, name="change")
    async def _change(
        self, action: str, target: Target, *, backup: Backup | None = None, on_done: Callable[[], None] | None = None
    ) -> None:
        assert self.photos is not None
        if action == "remove":
            result = await self.photos.remove(target)
            saved = f" (backup {result.backup.id})" if result.backup else ""
            self.notify(f"Removed the photo of {target.label}{saved}. {PROPAGATION}", markup=False, timeout=8)
        else:
            assert backup is not None
            await self.photos.restore(backup, target)
            self.notify(f"Restored the photo of {target.label}. {PROPAGATION}", markup=False, timeout=8)
        if on_done is not None:
            on_done()
        if self.target is not None and self.target.id == target.id:
            self.sync(force_photo=True)

    def action_logout(self) -> None:
        self.run_worker(self._logout, thread=True, group="start", exit_on_error=False, name="logout")

    def _logout(self) -> None:
        """Forget the account here: its tokens and its cached profiles and photos (backups are kept)."""
        self.auth.logout()
        if self.account_key:
            self.store.forget(self.account_key)
        self.call_from_thread(self._logged_out)

    def _logged_out(self) -> None:
        from tui.core.photos import Target

        self.account, self.syncer, self.photos, self.snapshot, self.account_key = None, None, None, None, ""
        self.target = Target.me()
        self.home.show(None, None, hint="Signed out")
        self.home.status.state = "idle"
        self._update_header()
        self.sign_in()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's "Keys" panel would duplicate our Help, which also lists the hidden keys of this app's widgets
        yield from (command for command in super().get_system_commands(screen) if command.title != "Keys")
        yield SystemCommand("Help", "Every key of this screen, and tips (F1)", self.action_help)
        if not isinstance(screen, HomeScreen):
            return  # home's actions act on the viewed user: never from over another screen (e.g. mid-upload)
        yield SystemCommand("Refresh", "Sync the profile and photo now (r)", self.action_refresh)
        yield SystemCommand("Update photo", "Choose a new photo for the viewed user (u)", self.action_update_photo)
        yield SystemCommand("Remove photo", "Remove the photo, backed up first (x)", self.action_remove_photo)
        yield SystemCommand("History", "Backed-up photos of the viewed user; restore one (h)", self.action_history)
        yield SystemCommand("Find user", "View another user's photo (s or /)", self.action_search_users)
        yield SystemCommand("Back to me", "View your own profile (m)", self.action_view_me)
        yield SystemCommand("Sign out", "Forget the signed-in account on this machine", self.action_logout)


def build_app(settings: Settings, **overrides: Any) -> GraphPhotoApp:
    """The one way to make the app (CLI, tests, screenshots); ``overrides`` are GraphPhotoApp keyword arguments."""
    return GraphPhotoApp(settings, **overrides)


def run_app(settings: Settings) -> int:
    """Run the app until it quits (``--demo`` settings already point at the emulator the CLI started)."""
    from tui.core.auth import install_sighup_save

    install_sighup_save()  # an SSH link dropping sends SIGHUP, which skips atexit: save the token cache first
    app = build_app(settings)
    app.run()
    return app.return_code or 0


__all__ = ["GraphPhotoApp", "build_app", "run_app"]
