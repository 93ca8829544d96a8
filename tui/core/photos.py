"""PhotoService: every change to a photo, from the app or the command line, goes through here.

Each change backs up the current photo first (exactly the bytes Graph serves), then changes it, then writes one
audit entry whatever happened: ok, failed (with the error code and request id) or cancelled. Nothing here deletes a
backup, so a failed or cancelled change loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.core.config import private_subdir, state_dir
from tui.core.errors import GraphError, GraphPhotoError, NotFoundError, UsageError
from tui.core.history import Action, AuditLog, Backup, History, Reason
from tui.core.text import clean

if TYPE_CHECKING:
    from tui.core.auth import Account
    from tui.core.graph import GraphClient, Profile, ProgressCallback


LATE_CANCEL = "cancelled after the whole photo was sent; Graph may still apply it"
LOCK_WAIT = 180.0  # seconds a change waits for another change to the same user's photo to finish


@dataclass(frozen=True)
class Target:
    """Whose photo: ``id`` is the object id (for records); ``is_me`` makes Graph calls go to ``/me``."""

    id: str | None = None
    upn: str | None = None
    display_name: str | None = None
    is_me: bool = False

    @classmethod
    def me(cls) -> Target:
        return cls(is_me=True)

    @classmethod
    def from_profile(cls, profile: Profile, *, is_me: bool = False) -> Target:
        return cls(profile.id, profile.user_principal_name, profile.display_name, is_me)

    @property
    def graph_id(self) -> str | None:
        """What to pass to GraphClient methods (None means /me)."""
        return None if self.is_me else self.id

    @property
    def known(self) -> bool:
        return bool(self.id and self.upn)

    @property
    def label(self) -> str:
        """Names the user in confirmations and messages: "Adele Vance (adele@contoso.com)". Graph's text, made
        one inert line (:func:`~tui.core.text.clean`): it ends up in prompts, errors and the audit trail."""
        if self.display_name and self.upn:
            return clean(f"{self.display_name} ({self.upn})")
        return clean(self.display_name or self.upn or self.id or ("you" if self.is_me else "unknown user"))


async def resolve_target(graph: GraphClient, who: str | None, operator: Account | None = None) -> Target:
    """``who`` (UPN or object id; None = the signed-in user) -> a Target with id, UPN and display name."""
    if who is None:
        return Target.from_profile(await graph.get_profile(None), is_me=True)
    user_id = await graph.resolve_user(who)
    profile = await graph.get_profile(user_id)
    is_me = operator is not None and operator.object_id is not None and operator.object_id == profile.id
    return Target.from_profile(profile, is_me=is_me)


@dataclass(frozen=True)
class ChangeResult:
    action: Action
    target: Target
    backup: Backup | None  # what was saved before the change (None: there was no photo)
    request_id: str | None
    etag: str | None  # the new photo's ETag when Graph reported one
    bytes_sent: int = 0
    sha256: str | None = None  # of what was sent
    restored_from: str | None = None  # backup id, for restore

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action,
            "user_id": self.target.id,
            "upn": self.target.upn,
            "display_name": self.target.display_name,
            "backup_id": self.backup.id if self.backup else None,
            "restored_from": self.restored_from,
            "request_id": self.request_id,
            "etag": self.etag,
            "bytes_sent": self.bytes_sent,
            "sha256": self.sha256,
        }


class PhotoService:
    def __init__(
        self,
        graph: GraphClient,
        history: History,
        audit: AuditLog,
        operator: Account | None,
        tenant: str | None,
    ) -> None:
        self.graph = graph
        self.history = history
        self.audit = audit
        self.operator = operator
        self.tenant = (operator.tenant_id if operator else None) or tenant
        self.cancel_note: str | None = None  # what the last cancelled change left behind, for the CLI to say

    async def replace(self, target: Target, jpeg: bytes, *, progress: ProgressCallback | None = None) -> ChangeResult:
        """Upload ``jpeg`` (already prepared by imaging.prepare) as the photo, after backing up the current one."""
        return await self._change("replace", target, "before replace", jpeg, progress)

    async def remove(self, target: Target) -> ChangeResult:
        """Delete the photo after backing it up; "no photo" is refused (NotFoundError) rather than a no-op."""
        return await self._change("remove", target, "before remove", None, None)

    async def restore(
        self, backup: str | Backup, target: Target | None = None, *, progress: ProgressCallback | None = None
    ) -> ChangeResult:
        """Upload the exact bytes of a backup (checked against its SHA-256), backing up what it replaces.

        Without ``target`` the photo goes back to the user it was saved from; a target that is someone else is
        refused, so a backup can never land on the wrong person by accident.
        """
        saved = backup if isinstance(backup, Backup) else self.history.get(backup)
        data = await asyncio.to_thread(self.history.read, saved)
        if target is None:
            mine = self.operator is not None and self.operator.object_id == saved.user_id
            target = Target(saved.user_id, saved.upn, saved.display_name, is_me=mine)
        elif target.id and saved.user_id and target.id != saved.user_id:
            raise UsageError(
                f"backup {saved.id} is the photo of {saved.label}, not of {target.label}; nothing was changed"
            )
        return await self._change("restore", target, "before restore", data, progress, restored_from=saved.id)

    # --- the one pipeline --------------------------------------------------------------------------------

    async def _change(
        self,
        action: Action,
        target: Target,
        reason: Reason,
        data: bytes | None,
        progress: ProgressCallback | None,
        restored_from: str | None = None,
    ) -> ChangeResult:
        sha = hashlib.sha256(data).hexdigest() if data is not None else None
        backup: Backup | None = None
        sent = 0
        deleting = False
        self.cancel_note = None

        def track(done: int, total: int) -> None:
            nonlocal sent
            sent = done
            if progress is not None:
                progress(done, total)

        def record(result: str, **extra: object) -> None:
            try:
                self.audit.record(
                    operator=self.operator.username if self.operator else None,
                    tenant=self.tenant,
                    target_id=target.id,
                    target_upn=target.upn,
                    action=action,
                    result=result,
                    backup_id=backup.id if backup else None,
                    bytes_sent=len(data) if data is not None and result == "ok" else sent,
                    sha256=sha,
                    restored_from=restored_from,
                    **extra,
                )
            except GraphPhotoError:
                if result == "ok":
                    raise
                # else: an audit log that cannot be written must not hide why the change failed

        try:
            if not target.known:
                is_me = target.is_me
                target = Target.from_profile(await self.graph.get_profile(target.graph_id), is_me=is_me)
            async with self._exclusive(target):
                backup = await self._backup(target, reason, required=action == "remove")
                if data is None:
                    deleting = True
                    await self.graph.delete_photo(target.graph_id)
                else:
                    await self.graph.upload_photo(data, target.graph_id, progress=track)
        except asyncio.CancelledError:
            late = data is not None and sent == len(data)  # the request was complete: the server may still act on it
            record("cancelled", error=LATE_CANCEL if late else None)
            if data is None:
                done = "Graph may still remove it" if deleting else "nothing was changed"
                note = f"cancelled while removing the photo; {done}"
            else:
                note = LATE_CANCEL if late else "cancelled before the whole photo was sent; nothing was changed"
            self.cancel_note = note + (f"; the previous photo is backed up as {backup.id}" if backup else "")
            raise
        except GraphPhotoError as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            record("failed", error_code=code, error=str(exc), request_id=getattr(exc, "request_id", None))
            raise
        except OSError as exc:  # the backup could not be written: stop before changing anything
            record("failed", error_code="BackupFailed", error=exc.strerror or str(exc))
            raise GraphPhotoError(
                f"could not save a backup of the current photo ({exc.strerror or exc}); nothing was changed"
            ) from None
        request_id = self.graph.last_request_id  # read before any other await can overwrite it
        record("ok", request_id=request_id)  # before the ETag read: a cancel there must not lose the audit line
        etag = await self._new_etag(target) if data is not None else None
        return ChangeResult(action, target, backup, request_id, etag, len(data or b""), sha, restored_from)

    @contextlib.asynccontextmanager
    async def _exclusive(self, target: Target) -> AsyncIterator[None]:
        """One change per user at a time on this machine (app windows and scripts alike).

        Two overlapping changes would both back up the same old photo, and whichever upload landed first would
        be overwritten with no copy kept. Serialised, the second one backs up what the first one uploaded.
        Polled rather than blocking, so a cancelled wait never leaves a lock behind.
        """
        from filelock import FileLock, Timeout

        key = hashlib.sha256(f"{self.tenant}:{target.id or target.upn}".encode()).hexdigest()[:24]
        lock = FileLock(private_subdir(state_dir(), "locks") / f"{key}.lock", thread_local=False)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                lock.acquire(timeout=0)
                break
            except Timeout:
                if time.monotonic() >= deadline:
                    raise GraphPhotoError(
                        f"another change to the photo of {target.label} is still running on this machine "
                        "(another window or script): try again when it has finished"
                    ) from None
                await asyncio.sleep(0.1)
        try:
            yield
        finally:
            lock.release()

    async def _backup(self, target: Target, reason: Reason, *, required: bool) -> Backup | None:
        """Save the current photo. "Unavailable" (no cloud mailbox) is not backed up: the change's own error shows."""
        status = await self.graph.photo_status(target.graph_id)
        if status.state != "photo":
            if required and status.state == "none":
                raise NotFoundError(f"{target.label} has no photo to remove")
            return None
        data, etag = await self.graph.get_photo(target.graph_id)
        kept = await asyncio.to_thread(self.history.list, target.id) if target.id else []
        if kept and kept[0].sha256 == hashlib.sha256(data).hexdigest():  # e.g. a retry after a failed upload
            with contextlib.suppress(GraphPhotoError):  # the newest backup is this photo: once is enough, if its
                await asyncio.to_thread(self.history.read, kept[0])  # file still holds the bytes ("restore" with
                return kept[0]  # no id must bring back the photo just replaced: only the newest may be reused)
        meta = status.meta
        return await asyncio.to_thread(
            self.history.save,
            data,
            reason=reason,
            user_id=target.id,
            upn=target.upn,
            display_name=target.display_name,
            tenant=self.tenant,
            operator=self.operator.username if self.operator else None,
            etag=etag or (meta.etag if meta else None),
            width=meta.width if meta else None,
            height=meta.height if meta else None,
            content_type=meta.content_type if meta else None,
        )

    async def _new_etag(self, target: Target) -> str | None:
        """Graph confirms an update by a changed ETag; failing to read it back does not undo a done change."""
        with contextlib.suppress(GraphError):
            status = await self.graph.photo_status(target.graph_id)
            return status.meta.etag if status.meta else None
        return None
