"""Text that came from Graph (names, titles, messages) is untrusted: it must never drive the terminal.

A display name can carry escape sequences that set the window title, clear the screen or move the cursor, and
a carriage return or backspace can overwrite what was printed before it. Both the CLI's output and the app's
widgets pass such text through here.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final) and OSC (ESC ] ... BEL or ESC \) sequences, then any C0/C1 control but tab and newline,
# and the bidirectional overrides and isolates that make text display in an order other than the one it has.
_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` with escape sequences and control characters removed; tabs and line breaks kept."""
    return _CONTROLS.sub("", _SEQUENCES.sub("", str(text)))


def clean(text: object) -> str:
    """One line of plain text: :func:`printable`, with tabs and line breaks turned into spaces.

    Every value from Graph printed on a line of its own must pass here: a name with a line break could otherwise
    forge an output line (``permissions: ...``) that scripts parse.
    """
    return " ".join(printable(text).split())


def human_size(n: int) -> str:
    """Bytes as the CLI and the app both print them (decimal units): ``105.6 kB``, ``3.2 MB``."""
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


class PrintableStream:
    """A text stream that writes only :func:`printable` text; binary output (``.buffer``) passes untouched."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))  # type: ignore[attr-defined]
        return len(text)

    @property
    def trusted(self) -> object:
        """The stream itself, for the program's own control characters (a progress line's carriage return)."""
        return self._stream

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)
