"""The backup history and audit log on disk: private, ordered, checked, and never losing a backup."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from tui.core.errors import ImageError, NotFoundError
from tui.core.history import AuditLog, History


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_keeps_exact_bytes_privately_with_metadata(samples: Path, isolated_home: Path) -> None:
    data = (samples / "photos" / "hopper.webp").read_bytes()
    history = History()
    backup = history.save(
        data,
        reason="before replace",
        user_id="u-1",
        upn="adele@contoso.com",
        display_name="Adele Vance",
        tenant="contoso",
        operator="admin@contoso.com",
        etag='"abc"',
        width=128,
        height=128,
        content_type="image/jpeg",
    )
    assert history.root == isolated_home / "state" / "backups"
    assert _mode(history.root) == 0o700
    files = sorted(history.root.iterdir())
    assert [p.suffix for p in files] == [".jpg", ".json"]
    assert all(_mode(p) == 0o600 for p in files)
    assert history.read(backup) == data
    assert backup.sha256 == hashlib.sha256(data).hexdigest()
    again = History().get(backup.id)
    assert again == backup
    assert again.label == "Adele Vance (adele@contoso.com)"
    record = json.loads((history.root / f"{backup.id}.json").read_text())
    assert record["reason"] == "before replace" and record["operator"] == "admin@contoso.com"


def test_list_is_newest_first_and_filters_by_id_or_upn() -> None:
    history = History()
    first = history.save(b"one", reason="before replace", user_id="u-1", upn="Adele@Contoso.com")
    second = history.save(b"two", reason="before remove", user_id="u-2", upn="lee@contoso.com")
    third = history.save(b"three", reason="before restore", user_id="u-1", upn="adele@contoso.com")
    assert [b.id for b in history.list()] == [third.id, second.id, first.id]
    assert [b.id for b in history.list("adele@contoso.com")] == [third.id, first.id]
    assert [b.id for b in history.list("u-2")] == [second.id]
    assert history.newest("ADELE@contoso.com") == third
    with pytest.raises(NotFoundError, match=r"no backups for nobody@contoso\.com"):
        history.newest("nobody@contoso.com")


def test_get_accepts_a_unique_prefix_and_explains_a_miss() -> None:
    history = History()
    backup = history.save(b"x", reason="before replace", user_id="u")
    assert history.get(backup.id[:-2]) == backup
    with pytest.raises(NotFoundError) as info:
        history.get("19990101T000000Z-beef")
    assert "\n" not in str(info.value) and "history" in str(info.value)


def test_damaged_backup_is_refused_not_uploaded_and_not_deleted() -> None:
    history = History()
    backup = history.save(b"original bytes", reason="before remove", user_id="u")
    (history.root / backup.file).write_bytes(b"tampered")
    with pytest.raises(ImageError, match="damaged"):
        history.read(backup)
    (history.root / "junk.json").write_text("{not json")
    assert history.list() == [backup]  # a broken record is skipped, the good one and the junk both stay
    assert (history.root / "junk.json").exists() and (history.root / backup.file).exists()


def test_audit_log_appends_private_json_lines() -> None:
    audit = AuditLog()
    audit.record(
        operator="admin@contoso.com",
        tenant="t",
        target_id="u-1",
        target_upn="adele@contoso.com",
        action="remove",
        result="ok",
        backup_id="b1",
    )
    audit.record(
        operator="admin@contoso.com",
        tenant="t",
        target_id="u-1",
        target_upn="adele@contoso.com",
        action="replace",
        result="failed",
        error_code="ErrorAccessDenied",
        request_id="r-2",
    )
    assert _mode(audit.path) == 0o600
    lines = audit.path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["error_code"] == "ErrorAccessDenied"
    assert [(e.action, e.result) for e in audit.entries()] == [("remove", "ok"), ("replace", "failed")]


@pytest.mark.parametrize(
    "damage",
    [
        {"created_at": 5},  # sorting would compare int and str
        {"upn": 42, "user_id": None},  # matching would call .casefold() on an int
        {"reason": None},  # the History screen would call .removeprefix() on None
        {"size": "big"},
        {"file": "../../outside.jpg"},  # restore must never read outside the backup folder
        {"file": "a\u0000b.jpg"},
        {"id": "20991231T000000Z-abcd\nFORGED line"},  # would print as two lines
        "[]",  # JSON, but not a record
        "copy",  # the same record twice under another name would list one backup twice
    ],
)
def test_a_damaged_record_is_skipped_and_the_others_still_listed(damage: dict | str) -> None:
    history = History()
    good = history.save(b"\xff\xd8good", reason="before replace", user_id="u-1", upn="adele@contoso.com")
    bad = history.save(b"\xff\xd8bad", reason="before remove", user_id="u-1", upn="adele@contoso.com")
    record = history.root / f"{bad.id}.json"
    if damage == "copy":
        (history.root / f"{good.id} copy.json").write_text((history.root / f"{good.id}.json").read_text())
        record.write_text("null")
    elif isinstance(damage, str):
        record.write_text(damage)
    else:
        record.write_text(json.dumps({**json.loads(record.read_text()), **damage}))
    assert [b.id for b in history.list()] == [good.id] == [b.id for b in history.list("adele@contoso.com")]
    assert record.exists()  # skipped, never deleted
    with pytest.raises(NotFoundError):
        history.get(bad.id)
