"""The upload's progress as the user should read it: bytes really sent, then "saving…", retries, the outcome.

The bar follows the request body as httpx pulls it from the socket, so a slow link shows as a slow bar. Progress
callbacks can arrive for every few KB; the bar moves only when the whole percent changes, which bounds repaints
to about a hundred per upload whatever the chunk size.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from tui.core.text import clean, human_size


class UploadPanel(Vertical):
    """Hidden until an upload starts; afterwards it keeps the outcome (failure, cancel) on screen."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.total = 0
        self.sent = 0
        self._percent = -1

    def compose(self) -> ComposeResult:
        yield Static("", id="upload-status", markup=False)
        yield ProgressBar(total=100, show_eta=False, id="upload-bar")

    @property
    def status(self) -> str:
        return str(self.query_one("#upload-status", Static).content)

    def _say(self, text: str, state: str) -> None:
        self.display = True
        for cls in ("-backup", "-uploading", "-saving", "-retrying", "-failed", "-cancelled"):
            self.set_class(cls == f"-{state}", cls)
        self.query_one("#upload-status", Static).update(Text(clean(text)))

    def start(self, total: int) -> None:
        self.total, self.sent, self._percent = total, 0, -1
        self.query_one(ProgressBar).update(total=max(total, 1), progress=0)
        self._say("Backing up the current photo first…", "backup")

    def advance(self, sent: int, total: int) -> None:
        """The GraphClient's progress callback (same event loop): coalesced to whole percents."""
        self.sent, self.total = sent, total or self.total
        percent = sent * 100 // max(self.total, 1)
        if percent == self._percent:
            return
        self._percent = percent
        self.query_one(ProgressBar).update(total=max(self.total, 1), progress=sent)
        if sent >= self.total:
            self._say(f"Sent {human_size(self.total)}; saving…", "saving")
        elif not self.has_class("-uploading"):  # a retry starts again from zero
            self._say(f"Uploading {human_size(self.total)}…", "uploading")

    def retrying(self, seconds: float, reason: str = "throttled") -> None:
        """Graph asked us to wait (429/503): say so, the bar restarts when the retry begins."""
        self._percent = -1
        what = "The network failed" if reason == "network" else "Graph is busy"
        self._say(f"{what}, retrying in {max(1, round(seconds))}s", "retrying")

    def failed(self, sentence: str) -> None:
        self._say(f"Upload failed: {sentence.rstrip('.')}. Nothing was changed; press Ctrl+R to retry.", "failed")

    def cancelled(self, *, after_sending: bool) -> None:
        if after_sending:
            text = "Cancelled after the photo was sent: Graph may still apply it (the old one is backed up)."
        else:
            text = "Upload cancelled; your photo was not changed."
        self._say(text, "cancelled")

    @property
    def sending_done(self) -> bool:
        return self.total > 0 and self.sent >= self.total
