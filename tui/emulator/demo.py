"""``--demo``: run the emulator in-process on the persisted demo state and point the settings at it.

When a demo emulator already serves that state (the app in one terminal, ``--demo set`` in another), the second
process attaches to it instead of starting a rival one, so both see the same photos.
"""

from __future__ import annotations

from tui.core.config import Settings, private_subdir, state_dir
from tui.core.errors import GraphPhotoError
from tui.emulator.api import Emulator

#: Seconds before the emulator approves a demo device code: long enough to see the sign-in screen.
DEMO_APPROVE_AFTER = 3.0


def settings_for(settings: Settings, emu: Emulator) -> Settings:
    """``settings`` pointed at ``emu``; a separate token-cache profile keeps demo tokens away from a real tenant's."""
    flags = {**emu.client_flags(), "ca_bundle": emu.ca_path}
    return settings.replace(**flags, profile="demo" if settings.profile == "default" else settings.profile)


def start_demo(settings: Settings) -> tuple[Settings, Emulator]:
    """Start (or attach to) the demo emulator. ``emu.stop()`` stops it; an attached one has nothing to stop."""
    emu = Emulator(private_subdir(state_dir(), "demo"), approve_after=DEMO_APPROVE_AFTER, device_interval=1)
    running = emu.running_elsewhere()
    if running:
        emu.port = running  # URLs point at the running emulator; this object serves nothing
        return settings_for(settings, emu), emu
    try:
        emu.start()
    except OSError as exc:
        raise GraphPhotoError(f"cannot start the demo emulator on 127.0.0.1: {exc.strerror or exc}") from None
    return settings_for(settings, emu), emu
