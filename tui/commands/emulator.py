"""``graphphoto-tui emulator``: run the Microsoft 365 emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from tui.core.config import Settings, private_subdir, state_dir
from tui.core.errors import GraphPhotoError, UsageError


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tui.emulator.api import Emulator

    if not 0 <= args.port <= 65535:
        raise UsageError(f"invalid port {args.port}: must be between 0 and 65535")
    if args.approve_after is not None and args.approve_after < 0:
        raise UsageError("invalid --approve-after: must not be negative")
    directory = Path(args.state_dir).expanduser() if args.state_dir else private_subdir(state_dir(), "demo")
    emu = Emulator(directory, port=args.port, approve_after=args.approve_after, faults=args.faults)
    running = emu.running_elsewhere()
    if running:
        raise GraphPhotoError(
            f"an emulator already serves {directory} on https://127.0.0.1:{running}; use it, or stop it first"
        )
    try:
        emu.start()
    except OSError as exc:
        raise GraphPhotoError(f"cannot start the emulator on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    try:
        info = emu.info()
        if args.json:
            print(json.dumps(info, indent=2), flush=True)
        else:
            print(_describe(emu, info), flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("emulator stopped")
    finally:
        emu.stop()
    return 0


def _describe(emu: object, info: dict) -> str:
    from tui.emulator.api import Emulator

    assert isinstance(emu, Emulator)
    approval = (
        f"device codes approved automatically after {emu.approve_after:g} s (as {info['users']['admin']})"
        if emu.approve_after is not None
        else f"approve device codes at {info['device_login']}"
    )
    lines = [
        f"Microsoft 365 emulator on {info['graph_url']}  (Ctrl-C to stop)",
        f"  Graph URL      {info['graph_url']}/v1.0",
        f"  authority      {info['authority']}",
        f"  CA certificate {info['ca_path']}",
        f"  device login   {info['device_login']}",
        f"  public client  {info['public_client_id']}",
        f"  app client     {info['app_client_id']}  (secret {info['app_client_secret']}, "
        f"certificate {info['app_cert_path']})",
        f"  state          {info['state_dir']}",
        f"  sign-in        {approval}",
        f"  faults         {info['faults'] or 'none'}",
        "",
        "Use it:",
        f"  graphphoto-tui --graph-url {info['graph_url']} --authority {info['authority']} \\",
        f"      --ca-bundle {info['ca_path']} --client-id {info['public_client_id']} login",
        f"  curl --cacert {info['ca_path']} {info['graph_url']}/v1.0/me -H 'Authorization: Bearer <token>'",
        "",
        "Demo users:",
    ]
    roles = {"admin": "People Administrator", "member": "member with a photo", "nophoto": "member without a photo",
             "guest": "guest (#EXT#)", "onprem": "mailbox on-premises"}  # fmt: skip
    for kind, upn in info["users"].items():
        lines.append(f"  {emu.user(upn)['displayName']:<26} {upn}  [{roles[kind]}]")
    others = len(emu.users()) - len(info["users"])
    lines.append(f"  ... and {others} more members (search them with the app)")
    return "\n".join(lines)
