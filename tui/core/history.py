"""Nothing lost: a local backup of every photo before it is replaced or removed, and an audit log of changes.

Backups live under ``state_dir()/backups`` (0700), one image file plus one JSON file per backup. The JSON is written
last, so a backup without its JSON never shows up half-made; nothing here ever deletes a backup. The audit log is
``state_dir()/audit.jsonl`` (0600), one JSON object per change, appended. Neither ever holds a token: no function
here takes one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from tui.core.config import private_subdir, state_dir
from tui.core.errors import GraphPhotoError, ImageError, NotFoundError
from tui.core.files import write_atomically

Reason = Literal["before replace", "before remove", "before restore"]
Action = Literal["replace", "remove", "restore"]
Result = Literal["ok", "failed", "cancelled"]

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")  # what save() writes: sortable by time, safe in any output


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Backup:
    """One saved photo: exactly the bytes Graph served, and who/what/when they belonged to."""

    id: str  # sortable by time, e.g. 20261203T101500Z-3f2a
    user_id: str | None  # the target's object id (None only if it could not be known)
    upn: str | None
    display_name: str | None
    tenant: str | None
    operator: str | None  # who was signed in when the backup was made
    etag: str | None
    width: int | None
    height: int | None
    content_type: str | None
    size: int
    sha256: str
    created_at: str  # ISO 8601, UTC, microseconds: orders backups made within one second
    reason: str
    file: str  # name of the image file beside the JSON

    @property
    def label(self) -> str:
        """Whose photo this is, for one-line messages."""
        who = self.display_name or self.upn or self.user_id or "unknown user"
        return f"{who} ({self.upn})" if self.display_name and self.upn else who

    def matches(self, who: str) -> bool:
        """True if ``who`` (object id or UPN, any case) names this backup's user."""
        who = who.casefold()
        return who in {(self.user_id or "").casefold(), (self.upn or "").casefold()}

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _well_formed(backup: Backup, record: Path) -> bool:
    """Every field of the type it is declared with, the id the record's own file name, and the image file the id
    plus an extension save() uses.

    The records are files a user (or a bad disk) can change: ``"created_at": 5`` or ``"reason": null`` would
    otherwise crash listing and sorting, a copied record would list one backup twice, an id with a line break
    would forge output lines, and ``"file": "../../.ssh/id_rsa"`` would make restore read outside the folder.
    """
    for f in dataclasses.fields(Backup):
        value = getattr(backup, f.name)
        if value is None and str(f.type).endswith("| None"):
            continue
        if type(value) is not (int if str(f.type).startswith("int") else str):
            return False
    own_files = {backup.id + ext for ext in {".jpg", *_EXTENSIONS.values()}}
    return backup.id == record.stem and _ID.fullmatch(backup.id) is not None and backup.file in own_files


class History:
    """The backup folder. Safe to share between threads: every operation is a handful of file system calls."""

    def __init__(self, root: Path | None = None, *, demo: bool = False) -> None:
        """``demo``: the demo tenant's backups, kept apart so a real tenant's `history` never lists them."""
        self.root = private_subdir(root) if root else private_subdir(state_dir(), "demo-backups" if demo else "backups")

    def save(
        self,
        data: bytes,
        *,
        reason: Reason,
        user_id: str | None,
        upn: str | None = None,
        display_name: str | None = None,
        tenant: str | None = None,
        operator: str | None = None,
        etag: str | None = None,
        width: int | None = None,
        height: int | None = None,
        content_type: str | None = None,
    ) -> Backup:
        """Keep ``data`` (the photo as served) and return its record. Raises OSError if the disk refuses."""
        created = _now()
        backup_id = f"{created:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
        name = backup_id + _EXTENSIONS.get((content_type or "").split(";")[0].strip().lower(), ".jpg")
        backup = Backup(
            id=backup_id,
            user_id=user_id,
            upn=upn,
            display_name=display_name,
            tenant=tenant,
            operator=operator,
            etag=etag,
            width=width,
            height=height,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=created.isoformat(timespec="microseconds"),
            reason=reason,
            file=name,
        )
        write_atomically(self.root / name, data)
        write_atomically(self.root / f"{backup_id}.json", json.dumps(backup.to_json(), indent=2).encode())
        return backup

    def _all(self) -> Iterator[Backup]:
        fields = {f.name for f in dataclasses.fields(Backup)}
        for path in self.root.glob("*.json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                backup = Backup(**{k: v for k, v in data.items() if k in fields})
            except (OSError, ValueError, TypeError, AttributeError):  # AttributeError: JSON that is not an object
                continue  # a damaged record is skipped, never deleted
            if _well_formed(backup, path):
                yield backup

    def list(self, user: str | None = None) -> list[Backup]:
        """Backups newest first; ``user`` (object id or UPN) keeps only that user's."""
        found = [b for b in self._all() if user is None or b.matches(user)]
        return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)

    def get(self, backup_id: str, *, listing: str = "graphphoto-tui history --all") -> Backup:
        """The backup with this id, or a unique prefix of one (ids are long to type). ``listing``: the command
        that lists the ids, as the user must type it (``--demo`` included)."""
        backup_id = backup_id.strip()
        every = list(self._all()) if backup_id else []
        candidates = [b for b in every if b.id == backup_id] or [b for b in every if b.id.startswith(backup_id)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise NotFoundError(f"no backup with id {backup_id!r}; see `{listing}`")
        raise NotFoundError(f"backup id {backup_id!r} is ambiguous ({len(candidates)} match); give more of it")

    def newest(self, user: str | None) -> Backup:
        found = self.list(user)
        if not found:
            raise NotFoundError(f"no backups for {user}" if user else "no backups yet")
        return found[0]

    def read(self, backup: Backup) -> bytes:
        """The saved bytes, checked against the recorded SHA-256 so a damaged file is never uploaded."""
        try:
            data = (self.root / backup.file).read_bytes()
        except OSError:
            raise NotFoundError(f"the image file of backup {backup.id} is missing from {self.root}") from None
        if hashlib.sha256(data).hexdigest() != backup.sha256:
            raise ImageError(f"backup {backup.id} is damaged (its checksum does not match); nothing was uploaded")
        return data


@dataclass(frozen=True)
class AuditEntry:
    """One change attempted on a photo. ``error`` is the one-line sentence; there is no field a token could fit."""

    time: str
    operator: str | None
    tenant: str | None
    target_id: str | None
    target_upn: str | None
    action: Action
    result: Result
    error_code: str | None = None
    error: str | None = None
    request_id: str | None = None
    backup_id: str | None = None  # what this change saved first (the photo it replaced or removed)
    bytes_sent: int = 0
    sha256: str | None = None  # of what was sent
    restored_from: str | None = None  # restore: the backup put back


class AuditLog:
    """Append-only JSON lines. One ``write`` per entry with O_APPEND, so lines from two processes never mix."""

    def __init__(self, path: Path | None = None, *, demo: bool = False) -> None:
        self.path = path or state_dir() / ("demo-audit.jsonl" if demo else "audit.jsonl")

    def record(self, **fields: Any) -> AuditEntry:
        """Raises GraphPhotoError (one line) when the log cannot be written."""
        entry = AuditEntry(time=_now().isoformat(timespec="milliseconds"), **fields)
        line = (json.dumps(dataclasses.asdict(entry), separators=(",", ":")) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise GraphPhotoError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None
        return entry

    def entries(self) -> list[AuditEntry]:
        """Oldest first; a damaged line is skipped."""
        if not self.path.is_file():
            return []
        out: list[AuditEntry] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(AuditEntry(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        return out
