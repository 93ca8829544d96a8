"""``--demo``: run the emulator in-process on the persisted demo state and point the settings at it.

When a demo emulator is already running on that state (the app in one terminal, ``--demo set`` in another), the
second process attaches to it instead of starting a rival one, so both see the same photos.
"""

from __future__ import annotations

import http.client
import json
import ssl

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


def _already_serving(emu: Emulator, port: int) -> bool:
    """Whether ``port`` is held by an emulator of this very state (same CA, same tenant)."""
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=1, context=ssl.create_default_context(cafile=str(emu.ca_path))
    )
    try:
        conn.request("GET", f"/{emu.tenant_id}/v2.0/.well-known/openid-configuration")
        resp = conn.getresponse()
        return resp.status == 200 and emu.tenant_id in json.loads(resp.read()).get("issuer", "")
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def start_demo(settings: Settings) -> tuple[Settings, Emulator]:
    """Start (or attach to) the demo emulator; the same port as last time when free, so cached sign-ins stay valid.

    The returned emulator is stopped by ``emu.stop()``; an attached one has nothing to stop.
    """
    emu = Emulator(private_subdir(state_dir(), "demo"), approve_after=DEMO_APPROVE_AFTER, device_interval=1)
    remembered = emu.tenant.port
    if remembered and _already_serving(emu, remembered):
        emu.port = remembered  # attached: URLs point at the running one; stop() has no server to stop
        return settings_for(settings, emu), emu
    for port in dict.fromkeys([remembered or 0, 0]):
        try:
            emu.requested_port = port
            emu.start()
            break
        except OSError as exc:
            if port == 0:
                raise GraphPhotoError(f"cannot start the demo emulator on 127.0.0.1: {exc.strerror or exc}") from None
    return settings_for(settings, emu), emu
