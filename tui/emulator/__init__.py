"""A local Microsoft 365 emulator: identity and Graph v1.0 on loopback HTTPS (see issue 3).

``Emulator`` (in :mod:`tui.emulator.api`) is the Python API; ``graphphoto-tui emulator`` runs one standalone and
``graphphoto-tui --demo`` runs one in-process (:mod:`tui.emulator.demo`).
"""

from tui.emulator.api import Emulator

__all__ = ["Emulator"]
