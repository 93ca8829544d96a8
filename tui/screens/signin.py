"""Sign-in: the device-code message large and easy to copy, a live countdown, the poll state, and a paste-back
fallback for tenants that block device code. MSAL is synchronous, so the flow runs in a thread worker that polls
once per server-given interval and can be woken early ("check now") or cancelled at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, get_current_worker

from tui.core.errors import GraphPhotoError
from tui.core.text import clean
from tui.screens import AppScreen, sentence

if TYPE_CHECKING:
    from tui.core.auth import Account, DeviceCode


def countdown(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class SignInScreen(AppScreen):
    """Dismisses with the signed-in :class:`~tui.core.auth.Account`, or None if the user backs out."""

    HELP_TITLE = "Sign-in"
    BINDINGS = [
        Binding("enter", "check_now", "Check", tooltip="Poll the sign-in service now"),
        Binding("n", "new_code", "New code"),
        Binding("p", "paste_back", "Paste-back", tooltip="Sign in on any device and paste the address back"),
        Binding("c", "copy_code", "Copy"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, scopes: Sequence[str], reason: str = "", *, allow_back: bool = False) -> None:
        super().__init__()
        self.scopes = tuple(scopes)
        self.reason = clean(reason)
        self.allow_back = allow_back
        self.code: DeviceCode | None = None
        self.mode = "device"
        self._wake = threading.Event()
        self._flow: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="◐")
        with VerticalScroll(id="signin"):
            yield Static("Sign in to Microsoft 365", id="signin-title")
            yield Static(Text(self.reason), id="signin-reason", classes="-hidden" if not self.reason else "")
            with Vertical(id="device"):
                yield Static("1. On any device, open", classes="step")
                yield Static(id="signin-url")
                yield Static("2. and enter the code", classes="step")
                yield Static(id="signin-code")
                yield Static(id="signin-countdown")
            with Vertical(id="pasteback", classes="-hidden"):
                yield Static("1. Open this address on any device and sign in:", classes="step")
                yield Static(id="pasteback-url")
                yield Static("2. Paste the address the browser ends on (http://localhost/?code=…):", classes="step")
                yield Input(placeholder="http://localhost/?code=…", id="pasteback-input", password=False)
            yield Static(id="signin-state")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(1, self._tick)
        self.action_new_code()

    # --- device code ------------------------------------------------------------------------------------

    def action_new_code(self) -> None:
        self._stop()
        self._show_mode("device")
        self.code = None
        self.query_one("#signin-url", Static).update("")
        self.query_one("#signin-code", Static).update("")
        self._state("Asking the sign-in service for a code…")
        self._flow = self._device_flow()

    @work(thread=True, group="signin", exclusive=True, exit_on_error=False, name="device code")
    def _device_flow(self) -> None:
        worker, wake = get_current_worker(), self._wake
        auth = self.gp.auth
        try:
            code = auth.start_device_code(self.scopes)
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._show_code, code)
            while not worker.is_cancelled:
                account = auth.poll_device_code(code)
                if account is not None:
                    if not worker.is_cancelled:
                        self.app.call_from_thread(self.dismiss, account)
                    return
                wake.wait(max(1, code.interval))
                wake.clear()
        except GraphPhotoError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, str(exc))

    def _show_code(self, code: DeviceCode) -> None:
        self.code = code
        self.query_one("#signin-url", Static).update(Text(clean(code.verification_uri)))
        self.query_one("#signin-code", Static).update(Text(clean(code.user_code)))
        self._tick()
        if self.gp.settings.demo:  # nobody need open the emulator's page: say so, or a newcomer will try
            self._state("Demo: the built-in emulator approves this code by itself in a few seconds.")
        else:
            self._state(f"Waiting for you to sign in… (checking every {code.interval} s; Enter checks now)")
        self.refresh_bindings()

    def _tick(self) -> None:
        if self.code is None or self.mode != "device":
            self.query_one("#signin-countdown", Static).update("")
            return
        left = self.code.expires_at - self.gp.clock()
        text = f"The code expires in {countdown(left)}" if left > 0 else "The code has expired: press n for a new one"
        self.query_one("#signin-countdown", Static).update(text)

    def _failed(self, why: str) -> None:
        self.code = None if self.mode == "device" else self.code
        self._tick()
        self._state(f"{sentence(why)} Press n for a new code, or p to sign in by pasting an address back.", error=True)
        self._leave_input()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Check and Copy need a live code, Cancel something to cancel (or a screen to go back to): off the
        footer otherwise, where they would do nothing."""
        if action in {"check_now", "copy_code"}:
            return self.code is not None and self.mode == "device"
        if action == "cancel":
            return self.allow_back or self.code is not None or self.mode == "pasteback"
        return True

    def action_check_now(self) -> None:
        if self.mode == "device":
            self._wake.set()

    def action_copy_code(self) -> None:
        if self.code is not None:
            self.app.copy_to_clipboard(self.code.user_code)
            self.notify("Code copied (needs a terminal that supports OSC 52).", timeout=3)

    # --- paste-back -------------------------------------------------------------------------------------

    def action_paste_back(self) -> None:
        self._stop()
        self._show_mode("pasteback")
        self._state("Preparing the sign-in address…")
        self._start_paste_back()

    @work(thread=True, group="signin", exclusive=True, exit_on_error=False, name="paste-back start")
    def _start_paste_back(self) -> None:
        try:
            url = self.gp.auth.start_paste_back(self.scopes)
        except GraphPhotoError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show_paste_back, url)

    def _show_paste_back(self, url: str) -> None:
        self.query_one("#pasteback-url", Static).update(Text(clean(url), overflow="fold"))
        self.query_one("#pasteback-input", Input).focus()
        self.app.copy_to_clipboard(url)  # long and wrapped on screen: offer it whole (OSC 52 terminals)
        self._state(
            "Waiting for the pasted address (Enter to send, Escape to cancel). The sign-in address was also "
            "copied to the clipboard if your terminal allows it."
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "pasteback-input" and event.value.strip():
            self._state("Checking the pasted address…")
            self._finish_paste_back(event.value.strip())

    @work(thread=True, group="signin", exclusive=True, exit_on_error=False, name="paste-back finish")
    def _finish_paste_back(self, pasted: str) -> None:
        try:
            account = self.gp.auth.finish_paste_back(pasted)
        except GraphPhotoError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self.dismiss, account)

    # --- common -----------------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        self._stop()
        if self.allow_back:
            self.dismiss(None)
            return
        self.code = None
        self.query_one("#signin-url", Static).update("")
        self.query_one("#signin-code", Static).update("")  # a cancelled code must not be typed in anywhere
        self._tick()
        self._state("Sign-in cancelled. Press n for a new code, p for paste-back, or Ctrl+Q to quit.")
        self._leave_input()
        self.refresh_bindings()

    def _leave_input(self) -> None:
        """The message names keys (n, p): out of the paste box, so they act (and show in the footer) not type."""
        if isinstance(self.focused, Input):
            self.set_focus(None)

    def _stop(self) -> None:
        """Stop polling at once: cancel the worker, tell MSAL to give up the code, wake the sleeping thread."""
        if self._flow is not None and self._flow.is_running:
            self._flow.cancel()
        if self.code is not None:
            with contextlib.suppress(GraphPhotoError):
                self.gp.auth.cancel_device_code(self.code)
        self._wake.set()
        self._wake = threading.Event()

    def on_unmount(self) -> None:
        self._stop()

    def _show_mode(self, mode: str) -> None:
        self.mode = mode
        self.refresh_bindings()
        self.query_one("#device").set_class(mode != "device", "-hidden")
        self.query_one("#pasteback").set_class(mode != "pasteback", "-hidden")

    def _state(self, text: str, *, error: bool = False) -> None:
        state = self.query_one("#signin-state", Static)
        state.update(Text(clean(text)))
        state.set_class(error, "-error")

    def dismiss(self, result: Account | None = None):  # type: ignore[override]
        self._stop()
        return super().dismiss(result)
