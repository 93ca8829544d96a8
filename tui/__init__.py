"""graphphoto-tui: Microsoft 365 profile photos from a terminal.

The package is split in two layers. ``tui.core`` and ``tui.emulator`` never import Textual (a test enforces it),
so the command-line subcommands start fast and everything below the UI can be tested alone. The Textual app
(``tui.app``, ``tui.screens``, ``tui.widgets``) sits on top.
"""

__version__ = "0.1.0"
APP_NAME = "graphphoto-tui"
