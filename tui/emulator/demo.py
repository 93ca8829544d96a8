"""``--demo``: run the emulator in-process on the persisted demo state and point the settings at it."""

from __future__ import annotations

from tui.core.config import Settings, private_subdir, state_dir
from tui.core.errors import GraphPhotoError
from tui.emulator.api import Emulator

#: Seconds before the emulator approves a demo device code: long enough to see the sign-in screen.
DEMO_APPROVE_AFTER = 3.0


def settings_for(settings: Settings, emu: Emulator) -> Settings:
    """``settings`` pointed at ``emu``; a separate token-cache profile keeps demo tokens away from a real tenant's."""
    return settings.replace(
        graph_url=emu.graph_url,
        authority=emu.authority,
        ca_bundle=emu.ca_path,
        client_id=emu.public_client_id,
        tenant=emu.tenant_id,
        profile="demo" if settings.profile == "default" else settings.profile,
    )


def start_demo(settings: Settings) -> tuple[Settings, Emulator]:
    """Start the demo emulator (same port as last time when it is free, so cached demo sign-ins stay valid)."""
    directory = private_subdir(state_dir(), "demo")
    emu = Emulator(directory, approve_after=DEMO_APPROVE_AFTER, device_interval=1)
    for port in dict.fromkeys([emu.tenant.port or 0, 0]):
        try:
            emu.requested_port = port
            emu.start()
            break
        except OSError as exc:
            if port == 0:
                raise GraphPhotoError(f"cannot start the demo emulator on 127.0.0.1: {exc.strerror or exc}") from None
    return settings_for(settings, emu), emu
