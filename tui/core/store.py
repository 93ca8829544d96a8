"""The local store: the last synced profile and photo of each viewed user, so the app opens instantly and offline.

One SQLite file, ``cache_dir()/store.sqlite3`` (0600 in a 0700 directory), WAL mode so readers never wait on the
writer. Rows are keyed by (account key, viewed user key: ``"me"`` or an object id), so two sign-ins on one machine
never see each other's cache. It is a cache: a damaged file is moved aside and started afresh rather than failing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.config import cache_dir
from tui.core.models import PhotoMeta, PhotoStatus, Profile

if TYPE_CHECKING:
    from tui.core.auth import Account
    from tui.core.config import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    account   TEXT NOT NULL,
    user      TEXT NOT NULL,
    profile   TEXT NOT NULL,
    status    TEXT NOT NULL,
    photo     BLOB,
    etag      TEXT,
    synced_at REAL NOT NULL,
    PRIMARY KEY (account, user)
)
"""


@dataclass(frozen=True)
class Snapshot:
    """What was true for one viewed user at ``synced_at`` (epoch seconds)."""

    account: str
    user: str  # "me" or an object id
    profile: Profile
    status: PhotoStatus
    photo: bytes | None
    synced_at: float

    @property
    def etag(self) -> str | None:
        return self.status.meta.etag if self.status.meta else None

    @property
    def age(self) -> float:
        """Seconds since this was synced, for "last synced 5 min ago"."""
        return max(0.0, time.time() - self.synced_at)

    def __repr__(self) -> str:  # keep megabytes of photo out of logs and test failures
        size = len(self.photo) if self.photo is not None else None
        return f"Snapshot(account={self.account!r}, user={self.user!r}, state={self.status.state!r}, photo={size})"


def user_key(user_id: str | None) -> str:
    return user_id or "me"


def account_key(settings: Settings, account: Account | None) -> str:
    """One key per (cloud or Graph root, tenant, signed-in identity): caches of different sign-ins never mix.

    The object id, where known, tells apart two pasted tokens (whose username is only where they came from)."""
    who = (account.object_id or account.username) if account else "anonymous"
    tenant = (account.tenant_id if account else None) or settings.tenant
    return f"{settings.graph_base}|{tenant}|{who}"


def _build(cls: type, data: dict[str, Any]) -> Any:
    """A frozen dataclass from its asdict() form, ignoring unknown keys (older/newer store rows)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


def _status_from(data: dict[str, Any]) -> PhotoStatus:
    meta = data.get("meta")
    return PhotoStatus(state=data["state"], meta=_build(PhotoMeta, meta) if meta else None, reason=data.get("reason"))


class Store:
    """Thread-safe (one connection, one lock): the UI calls it from workers, and each call is a single statement."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "store.sqlite3"
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            self.path.replace(self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}"))
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        # Create the file 0600 before SQLite does (it would use the umask); SQLite gives -wal/-shm the same mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def load(self, account: str, user: str | None = None) -> Snapshot | None:
        """The last synced snapshot, or None (never synced, or a row this version cannot read)."""
        with self._lock:
            row = self._db.execute(
                "SELECT profile, status, photo, synced_at FROM snapshots WHERE account = ? AND user = ?",
                (account, user_key(user)),
            ).fetchone()
        if row is None:
            return None
        try:
            profile = _build(Profile, json.loads(row[0]))
            status = _status_from(json.loads(row[1]))
        except (ValueError, TypeError, KeyError):
            return None
        return Snapshot(account, user_key(user), profile, status, row[2], row[3])

    def save(self, snapshot: Snapshot) -> None:
        status = {
            "state": snapshot.status.state,
            "meta": dataclasses.asdict(snapshot.status.meta) if snapshot.status.meta else None,
            "reason": snapshot.status.reason,
        }
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    snapshot.account,
                    snapshot.user,
                    json.dumps(dataclasses.asdict(snapshot.profile)),
                    json.dumps(status),
                    snapshot.photo,
                    snapshot.etag,
                    snapshot.synced_at,
                ),
            )

    def users(self, account: str) -> list[str]:
        """Viewed-user keys cached for this account, most recently synced first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT user FROM snapshots WHERE account = ? ORDER BY synced_at DESC", (account,)
            ).fetchall()
        return [r[0] for r in rows]

    def forget(self, account: str, user: str | None = None) -> None:
        """Drop one viewed user's row, or every row of the account (after logout)."""
        with self._lock:
            if user is None:
                self._db.execute("DELETE FROM snapshots WHERE account = ?", (account,))
            else:
                self._db.execute("DELETE FROM snapshots WHERE account = ? AND user = ?", (account, user_key(user)))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
