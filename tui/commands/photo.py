"""The scripting commands: get, set, remove, restore, history.

They share one pipeline with the app (imaging.prepare -> PhotoService, with its backup, retries and audit). Data goes
to stdout (text, or JSON with ``--json``); errors are one line on stderr (raised as GraphPhotoError, printed by
tui.cli); progress goes to stderr only when stderr is a terminal; nothing ever prompts when stdin is not one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui import APP_NAME
from tui.commands import prepare as prepare_command
from tui.core.config import command_hint
from tui.core.errors import EXIT_OK, AuthError, CancelledError, GraphPhotoError, NotFoundError, UsageError
from tui.core.history import AuditLog, History
from tui.core.photos import ChangeResult, PhotoService, Target, resolve_target
from tui.core.text import clean

if TYPE_CHECKING:
    from tui.core.auth import Account, Authenticator
    from tui.core.config import Settings
    from tui.core.graph import GraphClient
    from tui.core.imaging import Prepared


@dataclasses.dataclass
class Session:
    graph: GraphClient
    operator: Account | None
    target: Target
    service: PhotoService
    listing: str  # the command that lists backup ids, as this user must type it


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "history":
        return _history(args, settings)
    prepared = _prepare(args, settings) if args.command == "set" else None  # refuse bad input before any sign-in
    if prepared is not None and args.dry_run:
        out = sys.stderr if args.output == "-" else sys.stdout
        report = json.dumps(prepared.as_dict(args.output)) if args.json else prepared.summary(args.output)
        print(report, file=out)
        # stdout stays what `prepare` prints (scripts compare the two); the person at the terminal is told here
        print(f"{APP_NAME}: dry run: nothing was uploaded (and no sign-in or user was checked)", file=sys.stderr)
        return EXIT_OK
    if args.command == "restore" and args.backup_id and not settings.user:
        listing = command_hint(settings, "history", "--all")
        backup = History(demo=settings.demo).get(args.backup_id, listing=listing)  # the backup says whose photo
        if not backup.user_id:
            raise NotFoundError(f"backup {backup.id} does not say whose photo it is; pass --user")
        settings = settings.replace(user=backup.user_id)
    return _run_cancellable(_online(args, settings, prepared))


def _run_cancellable(work: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run`` where kill and a dropped SSH link cancel the task as Ctrl+C does, from the event loop.

    tui.cli's SIGTERM/SIGHUP handler goes through SIGINT, which does nothing when a shell started us with SIGINT
    ignored (`cmd &` in a script); raising an interrupt from it instead could land inside the task and skip its
    cleanup (the audit line). A loop signal handler cancels the task between steps, always.
    """

    async def main() -> int:
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None
        for name in ("SIGTERM", "SIGHUP"):
            with contextlib.suppress(AttributeError, NotImplementedError):  # platforms without them
                loop.add_signal_handler(getattr(signal, name), task.cancel)
        return await work

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None  # tui.cli reports it, with what the cancel left behind


# --- local only ----------------------------------------------------------------------------------------


def _history(args: argparse.Namespace, settings: Settings) -> int:
    """Offline by design: backups are matched by UPN or object id, so no network (or sign-in) is needed."""
    names = None if args.all or not settings.user else (settings.user,)
    if names is None and not args.all:
        names = _my_names(settings)  # with --demo, settings already point at the demo sign-in
        if names is None and not args.json:
            print("nobody is signed in: showing every user's backups (pick one with --user)", file=sys.stderr)
    backups = [b for b in History(demo=settings.demo).list() if names is None or any(b.matches(n) for n in names)]
    if args.json:
        _print_json([b.to_json() for b in backups])
        return EXIT_OK
    if not backups:
        print("no backups yet" if names is None else f"no backups for {names[-1]}", file=sys.stderr)
        return EXIT_OK
    for b in backups:
        size = f"{b.width}x{b.height}" if b.width and b.height else "?x?"
        when = clean(b.created_at[:19].replace("T", " "))
        print(f"{b.id}  {when}  {clean(b.label)}  {clean(b.reason)}  {size}  {b.size} bytes")
    return EXIT_OK


def _my_names(settings: Settings) -> tuple[str, ...] | None:
    """The signed-in user's object id and UPN from the token cache (no network); None when nobody is signed in."""
    try:
        from tui.core.auth import Authenticator

        account = _operator(Authenticator(settings), settings)
    except GraphPhotoError:
        return None
    if account is None or account.kind == "app":
        return None
    return tuple(n for n in (account.object_id, account.username) if n)


def begin(args: argparse.Namespace, early: prepare_command.Early | None = None) -> None:
    """`set` starts decoding its image while the settings load, as `prepare` does."""
    if args.command == "set":
        prepare_command.begin(args, early)


def _prepare(args: argparse.Namespace, settings: Settings) -> Prepared:
    """Exactly what `prepare` does (same decode, frame and encode), so `set --dry-run` shows what `set` sends."""
    prepared = prepare_command.prepare_image(args, settings)
    if args.output:
        _write(args.output, prepared.data, source=Path(args.image).expanduser())
    return prepared


def _write(output: str, data: bytes, *, source: Path | None = None) -> Path | None:
    """Write atomically to a file (as `prepare` does, never over ``source``), or raw to stdout for '-'."""
    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return None
    path = prepare_command.output_path(output)
    prepare_command.write_output(path, data, source=source)
    return path


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


# --- online --------------------------------------------------------------------------------------------


def _is_me(who: str, account: Account | None) -> bool:
    """``--user`` naming oneself needs no admin permission, and goes to /me."""
    if account is None or account.kind == "app":
        return False
    return who.casefold() in {"me", (account.username or "").casefold(), (account.object_id or "").casefold()}


def _stderr_tty() -> bool:
    return sys.stderr.isatty()


def _on_retry(seconds: float, why: str) -> None:
    if _stderr_tty():
        print(f"\r{why}: retrying in {seconds:.0f} s", file=_tty(), flush=True)


def _tty() -> Any:
    """stderr for our own progress line: its carriage returns must pass the filter meant for text from Graph."""
    return getattr(sys.stderr, "trusted", sys.stderr)


def _progress() -> Any:
    if not _stderr_tty():
        return None

    def show(sent: int, total: int) -> None:
        pct = sent * 100 // total if total else 100
        print(f"\ruploading {pct:3d}%", end="\n" if sent >= total else "", file=_tty(), flush=True)

    return show


def _operator(auth: Authenticator, settings: Settings) -> Account | None:
    """Who acts, for the audit log: a pasted token is named by its own UPN claim rather than by where it came from."""
    from tui.core.auth import claims

    operator = auth.account()
    if operator is not None and operator.kind == "env" and settings.access_token:
        data = claims(settings.access_token)
        name = data.get("upn") or data.get("preferred_username") or data.get("unique_name")
        if isinstance(name, str) and name:
            operator = dataclasses.replace(operator, username=name)
    return operator


async def _ask_admin(auth: Authenticator) -> None:
    """Incremental consent: the admin scopes are asked for only once someone else is the target."""
    from tui.core.auth import ADMIN_SCOPES, OWN_SCOPES, ConsentRequired, login_command

    try:
        await asyncio.to_thread(auth.token, OWN_SCOPES + ADMIN_SCOPES)
    except ConsentRequired:
        raise AuthError(
            "acting on another user needs the ProfilePhoto.ReadWrite.All permission, not granted to this sign-in; "
            f"`{login_command(auth.settings, '--admin')}` grants it"
        ) from None


@contextlib.asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[Session]:
    from tui.core.auth import Authenticator
    from tui.core.graph import GraphClient
    from tui.core.net import verify_for

    auth = Authenticator(settings)
    operator = _operator(auth, settings)
    who = settings.user if settings.user and not _is_me(settings.user, operator) else None
    if who is None and (settings.app_only or (operator is not None and operator.kind == "app")):
        raise UsageError("an app-only sign-in has no photo of its own; pass --user UPN")
    if who is not None:
        await _ask_admin(auth)
        operator = _operator(auth, settings)  # an app-only sign-in is in the cache only once it has a token
    async with GraphClient(settings, auth, on_retry=_on_retry, verify=verify_for(settings)) as graph:
        target = await resolve_target(graph, who, operator)
        if target.is_me and operator is not None and not operator.object_id:
            operator = dataclasses.replace(operator, object_id=target.id)  # env tokens: learn who we are
        service = PhotoService(
            graph, History(demo=settings.demo), AuditLog(demo=settings.demo), operator, settings.tenant
        )
        yield Session(graph, operator, target, service, command_hint(settings, "history", "--all"))


_cancel_note: str | None = None


def cancel_message() -> str | None:
    """What a Ctrl+C or kill left behind (photo sent or not, backup id), for tui.cli to print instead of
    a bare "cancelled". A cancel cannot carry it as an exception: asyncio.run would log that as a crash."""
    return _cancel_note


async def _online(args: argparse.Namespace, settings: Settings, prepared: Prepared | None) -> int:
    global _cancel_note
    async with _session(settings) as s:
        try:
            return await _act(args, settings, s, prepared)
        except asyncio.CancelledError:
            _cancel_note = s.service.cancel_note
            raise


async def _act(args: argparse.Namespace, settings: Settings, s: Session, prepared: Prepared | None) -> int:
    if args.command == "get":
        return await _get(args, s)
    if args.command == "set":
        assert prepared is not None
        result = await s.service.replace(s.target, prepared.data, progress=_progress())
        before = f"previous photo backed up as {result.backup.id}" if result.backup else "there was no photo before"
        return _report(args, result, f"updated the photo of {s.target.label} ({before})", prepared.summary())
    if args.command == "remove":
        _confirm(args, s.target)
        result = await s.service.remove(s.target)
        assert result.backup is not None
        line = (
            f"removed the photo of {s.target.label}; backed up as {result.backup.id} "
            f"(`{command_hint(settings, 'restore', result.backup.id)}` puts it back)"
        )
        return _report(args, result, line)
    if args.command == "restore":
        return await _restore(args, s)
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover - argparse guards this


def _report(args: argparse.Namespace, result: ChangeResult, line: str, summary: str | None = None) -> int:
    if getattr(args, "json", False):
        _print_json({**result.to_json(), **({"summary": summary} if summary else {})})
    else:
        print(line)
    return EXIT_OK


async def _get(args: argparse.Namespace, s: Session) -> int:
    status = await s.graph.photo_status(s.target.graph_id)
    if status.state == "none":
        raise NotFoundError(f"{s.target.label} has no photo")
    if status.state == "unavailable":
        raise NotFoundError(f"{s.target.label}: {status.reason or 'the photo service is unavailable for this account'}")
    data, etag = await s.graph.get_photo(s.target.graph_id)
    meta = status.meta
    info = {
        "user_id": s.target.id,
        "upn": s.target.upn,
        "display_name": s.target.display_name,
        "width": meta.width if meta else None,
        "height": meta.height if meta else None,
        "content_type": meta.content_type if meta else None,
        "etag": etag or (meta.etag if meta else None),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "output": None,
    }
    if args.output:
        path = _write(args.output, data)
        info["output"] = str(path) if path else "-"
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False), file=out)
    else:
        where = f"saved to {info['output']}" if args.output else "use -o FILE to save it"
        print(
            f"{s.target.label}: {info['width']}x{info['height']} {info['content_type']}, {len(data)} bytes ({where})",
            file=out,
        )
    return EXIT_OK


def _confirm(args: argparse.Namespace, target: Target) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"not removing the photo of {target.label} without confirmation; pass --yes")
    print(f"Remove the photo of {target.label}? It is backed up first. [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in {"y", "yes"}:
        raise CancelledError("nothing removed")  # the user said no: exit 130, like Ctrl+C


async def _restore(args: argparse.Namespace, s: Session) -> int:
    history = s.service.history
    if args.backup_id:
        backup = history.get(args.backup_id, listing=s.listing)  # PhotoService refuses someone else's
    else:
        backups = history.list(s.target.id) if s.target.id else []
        if not backups:
            raise NotFoundError(f"no backups of {s.target.label}; see `{s.listing}`")
        backup = backups[0]
    result = await s.service.restore(backup, s.target, progress=_progress())
    replaced = f"the photo it replaced is backup {result.backup.id}" if result.backup else "there was no photo before"
    return _report(args, result, f"restored backup {backup.id} to {s.target.label} ({replaced})")
