"""The local store: instant, private, per account and viewed user, surviving restarts and damage."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

from tui.core.graph import PhotoMeta, PhotoStatus, Profile
from tui.core.store import Snapshot, Store, account_key


def _profile(user_id: str = "u-1", name: str = "Adele Vance") -> Profile:
    return Profile.from_json(
        {
            "id": user_id,
            "displayName": name,
            "userPrincipalName": "adele@contoso.com",
            "jobTitle": "Retail Manager",
            "businessPhones": ["+1 425 555 0109"],
        }
    )


def _snapshot(account: str = "acct", user: str = "me", photo: bytes | None = b"jpeg", etag: str = '"e1"') -> Snapshot:
    meta = PhotoMeta(etag=etag, width=648, height=648, content_type="image/jpeg")
    status = PhotoStatus("photo", meta) if photo is not None else PhotoStatus("none")
    return Snapshot(account, user, _profile(), status, photo, time.time())


def test_snapshot_survives_a_restart_exactly(isolated_home: Path) -> None:
    saved = _snapshot(photo=bytes(range(256)) * 100)
    with Store() as store:
        store.save(saved)
    with Store() as store:
        loaded = store.load("acct", None)
    assert loaded == saved
    assert loaded.profile.business_phones == ("+1 425 555 0109",)
    assert loaded.etag == '"e1"'
    db = isolated_home / "cache" / "store.sqlite3"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_rows_are_kept_apart_by_account_and_viewed_user() -> None:
    with Store() as store:
        store.save(_snapshot("alice", "me", b"alice-photo"))
        store.save(_snapshot("alice", "u-2", None))
        store.save(_snapshot("bob", "me", b"bob-photo"))
        assert store.load("alice").photo == b"alice-photo"
        assert store.load("bob", "me").photo == b"bob-photo"
        other = store.load("alice", "u-2")
        assert other.photo is None and other.status.state == "none" and other.etag is None
        assert store.load("carol") is None
        assert sorted(store.users("alice")) == ["me", "u-2"]
        store.forget("alice")
        assert store.load("alice") is None and store.load("bob") is not None


def test_load_is_instant_and_safe_from_threads() -> None:
    with Store() as store:
        store.save(_snapshot(photo=b"x" * 600_000))
        errors: list[BaseException] = []

        def hammer(n: int) -> None:
            try:
                for i in range(50):
                    store.save(_snapshot(user=f"u{n}-{i}"))
                    assert store.load("acct", "me") is not None
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
    with Store() as store:  # what app start-up does: open + one load (timed in benchmarks/, not here)
        assert store.load("acct") is not None


def test_a_damaged_store_is_set_aside_not_fatal(isolated_home: Path) -> None:
    db = isolated_home / "cache" / "store.sqlite3"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    with Store() as store:
        assert store.load("acct") is None
        store.save(_snapshot())
        assert store.load("acct") is not None
    assert list(db.parent.glob("store.sqlite3.damaged-*"))


def test_account_key_separates_sign_ins() -> None:
    from tui.core.auth import Account
    from tui.core.config import load_settings

    settings = load_settings({"tenant": "contoso.onmicrosoft.com"})
    env = "token from GRAPHPHOTO_ACCESS_TOKEN"
    alice = Account(env, "t1", "oid-alice", "env", ())
    bob = Account(env, "t1", "oid-bob", "env", ())
    other_cloud = load_settings({"tenant": "contoso.onmicrosoft.com", "cloud": "usgov"})
    keys = {account_key(settings, alice), account_key(settings, bob), account_key(other_cloud, alice)}
    assert len(keys) == 3
    assert account_key(settings, alice) == account_key(settings, Account(env, "t1", "oid-alice", "env", ("x",)))
