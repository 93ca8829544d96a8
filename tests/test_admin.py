"""PhotoService against the emulator: admin changes with backup + audit, refusals that change nothing, cancellation."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tui.core.auth import Account, Authenticator
from tui.core.config import load_settings
from tui.core.errors import GraphError, GraphPhotoError, NotFoundError, UsageError
from tui.core.graph import GraphClient
from tui.core.history import AuditLog, History
from tui.core.imaging import prepare
from tui.core.photos import PhotoService, Target, resolve_target
from tui.emulator import Emulator

ADMIN_SCOPES = ("User.ReadWrite", "User.Read.All", "ProfilePhoto.ReadWrite.All")


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    return emulator


def client_for(emu: Emulator, upn: str, scopes: tuple[str, ...] = ADMIN_SCOPES) -> tuple[GraphClient, Account]:
    settings = load_settings(
        {
            "graph_url": emu.base_url,
            "ca_bundle": str(emu.ca_path),
            "tenant": emu.tenant_id,
            "access_token": emu.issue_token(upn=upn, scopes=scopes),
        }
    )
    operator = Account(upn, emu.tenant_id, emu.user(upn)["id"], "delegated", scopes)
    return GraphClient(settings, Authenticator(settings)), operator


def puts(emu: Emulator) -> list[dict]:
    return [r for r in emu.request_log() if r["method"] in {"PUT", "PATCH"} and r["path"].endswith("/photo/$value")]


@pytest.fixture
def jpeg(samples: Path) -> bytes:
    return prepare(samples / "photos" / "hopper.png", size=240).data


async def test_admin_replaces_removes_and_restores_another_users_photo(emu: Emulator, jpeg: bytes) -> None:
    graph, operator = client_for(emu, emu.admin_upn)
    history, audit = History(), AuditLog()
    service = PhotoService(graph, history, audit, operator, emu.tenant_id)
    original = emu.photo(emu.member_upn)
    assert original is not None
    async with graph:
        target = await resolve_target(graph, emu.member_upn, operator)
        assert target.id == emu.user(emu.member_upn)["id"] and not target.is_me

        replaced = await service.replace(target, jpeg)
        assert replaced.backup is not None and history.read(replaced.backup) == original
        assert replaced.backup.reason == "before replace" and replaced.backup.operator == emu.admin_upn
        assert replaced.etag == emu.photo_etag(emu.member_upn) and emu.photo(emu.member_upn) != original
        assert puts(emu)[-1]["body_sha256"] == hashlib.sha256(jpeg).hexdigest()

        removed = await service.remove(target)
        assert emu.photo(emu.member_upn) is None
        second = removed.backup
        assert second is not None and history.read(second) != original  # the replacement, as Graph served it

        restored = await service.restore(replaced.backup.id)
        assert restored.backup is None  # nothing to back up: the photo had been removed
        assert restored.target.id == target.id and restored.restored_from == replaced.backup.id
        assert puts(emu)[-1]["body_sha256"] == replaced.backup.sha256  # exactly the saved bytes went back
        assert emu.photo(emu.member_upn) is not None

    assert [(b.reason, b.upn) for b in history.list(emu.member_upn)] == [
        ("before remove", emu.member_upn),
        ("before replace", emu.member_upn),
    ]
    entries = audit.entries()
    assert [(e.action, e.result, e.target_upn) for e in entries] == [
        ("replace", "ok", emu.member_upn),
        ("remove", "ok", emu.member_upn),
        ("restore", "ok", emu.member_upn),
    ]
    assert entries[0].backup_id == replaced.backup.id and entries[0].sha256 == hashlib.sha256(jpeg).hexdigest()
    assert entries[0].bytes_sent == len(jpeg) and entries[1].backup_id == second.id
    assert entries[2].restored_from == replaced.backup.id and entries[2].backup_id is None  # what came back, from where
    assert entries[0].restored_from is None and entries[1].restored_from is None
    assert all(e.operator == emu.admin_upn and e.tenant == emu.tenant_id for e in entries)
    changes = [r for r in emu.request_log() if r["method"] in {"PUT", "DELETE"}]
    assert [e.request_id for e in entries] == [r["request_id"] for r in changes]
    assert [e.request_id for e in entries] == [replaced.request_id, removed.request_id, restored.request_id]


async def test_member_is_refused_on_someone_else_and_nothing_changes(emu: Emulator, jpeg: bytes) -> None:
    graph, operator = client_for(emu, emu.member_upn)
    history, audit = History(), AuditLog()
    service = PhotoService(graph, history, audit, operator, emu.tenant_id)
    before = emu.photo(emu.admin_upn)
    target = Target(emu.user(emu.admin_upn)["id"], emu.admin_upn, "Admin")
    async with graph:
        for attempt in (service.replace(target, jpeg), service.remove(target)):
            with pytest.raises(GraphError) as info:
                await attempt
            assert info.value.status == 403 and "\n" not in str(info.value)
    assert emu.photo(emu.admin_upn) == before
    failed = audit.entries()
    assert [(e.action, e.result) for e in failed] == [("replace", "failed"), ("remove", "failed")]
    assert all(e.error_code and e.request_id for e in failed)
    assert [e.bytes_sent for e in failed] == [len(jpeg), 0]  # the refused upload did go out; nothing was applied
    for backup in history.list():  # whatever was backed up before the refusal stays, intact
        assert history.read(backup) == before


async def test_cancelled_upload_is_audited_and_keeps_the_backup(emu: Emulator, samples: Path) -> None:
    graph, operator = client_for(emu, emu.admin_upn)
    history, audit = History(), AuditLog()
    service = PhotoService(graph, history, audit, operator, emu.tenant_id)
    big = prepare(samples / "photos" / "phone_jolla_8mp.jpg", size=1500, quality=95).data
    before = emu.photo(emu.admin_upn)
    async with graph:
        task: asyncio.Task[object]

        def cancel_midway(sent: int, total: int) -> None:
            if 0 < sent < total:
                task.cancel()

        task = asyncio.ensure_future(service.replace(Target.me(), big, progress=cancel_midway))
        with pytest.raises(asyncio.CancelledError):
            await task
    assert emu.photo(emu.admin_upn) == before
    (entry,) = audit.entries()
    assert (entry.action, entry.result, entry.error) == ("replace", "cancelled", None)
    assert 0 < entry.bytes_sent < len(big)  # what had gone out when it stopped
    (backup,) = history.list()
    assert entry.backup_id == backup.id and history.read(backup) == before


async def test_refusals_before_any_change(emu: Emulator, jpeg: bytes) -> None:
    graph, operator = client_for(emu, emu.admin_upn)
    history, audit = History(), AuditLog()
    service = PhotoService(graph, history, audit, operator, emu.tenant_id)
    async with graph:
        nophoto = await resolve_target(graph, emu.nophoto_upn, operator)
        with pytest.raises(NotFoundError, match="has no photo to remove"):
            await service.remove(nophoto)
        member = await resolve_target(graph, emu.member_upn, operator)
        saved = (await service.replace(member, jpeg)).backup
        assert saved is not None
        with pytest.raises(UsageError, match="not of"):  # a backup never lands on the wrong person
            await service.restore(saved.id, nophoto)
        changed = await service.replace(nophoto, jpeg)  # no photo before: nothing to back up, still audited
        assert changed.backup is None and emu.photo(emu.nophoto_upn) is not None
    assert [(e.action, e.result) for e in audit.entries()] == [
        ("remove", "failed"),
        ("replace", "ok"),
        ("replace", "ok"),
    ]
    assert len(puts(emu)) == 2


async def test_unavailable_photo_service_is_not_backed_up_and_the_error_surfaces(emu: Emulator, jpeg: bytes) -> None:
    graph, operator = client_for(emu, emu.admin_upn)
    history, audit = History(), AuditLog()
    service = PhotoService(graph, history, audit, operator, emu.tenant_id)
    async with graph:
        onprem = await resolve_target(graph, emu.onprem_upn, operator)
        with pytest.raises(GraphError) as info:
            await service.replace(onprem, jpeg)
    assert info.value.exit_code == 4 and "mailbox" in str(info.value)
    assert history.list() == []
    (entry,) = audit.entries()
    assert entry.result == "failed" and entry.error_code == info.value.code and entry.request_id


async def test_a_backup_that_cannot_be_written_stops_the_change(emu: Emulator, jpeg: bytes) -> None:
    graph, operator = client_for(emu, emu.admin_upn)
    history, audit = History(), AuditLog()
    history.root.rmdir()
    history.root.write_text("not a directory")  # the disk refuses the backup (root ignores permission bits)
    before = emu.photo(emu.admin_upn)
    async with graph:
        with pytest.raises(GraphPhotoError, match=r"could not save a backup.*nothing was changed"):
            await PhotoService(graph, history, audit, operator, emu.tenant_id).replace(Target.me(), jpeg)
    assert emu.photo(emu.admin_upn) == before and puts(emu) == []
    (entry,) = audit.entries()
    assert (entry.result, entry.error_code) == ("failed", "BackupFailed")


async def test_retries_after_failed_uploads_keep_one_backup_of_the_same_photo(emu: Emulator, jpeg: bytes) -> None:
    """Three failed tries then a good one: the photo they all replace is kept once, and every audit line names it.
    A backup whose file was damaged meanwhile is not reused: the photo is saved afresh."""
    graph, operator = client_for(emu, emu.admin_upn)
    history, audit = History(), AuditLog()
    service = PhotoService(graph, history, audit, operator, emu.tenant_id)
    before = emu.photo(emu.member_upn)
    target = Target(emu.user(emu.member_upn)["id"], emu.member_upn, "Member")
    emu.add_fault("500", path="/photo/$value", method="PUT", count=3)
    async with graph:
        for _ in range(3):
            with pytest.raises(GraphError):
                await service.replace(target, jpeg)
        (kept,) = history.list()
        (history.root / kept.file).write_bytes(b"damaged")
        await service.replace(target, jpeg)
    backups = history.list()
    assert len(backups) == 2 and history.read(backups[0]) == before  # a fresh, intact copy
    assert [e.backup_id for e in audit.entries()] == [kept.id] * 3 + [backups[0].id]


async def test_the_newest_backup_is_always_the_photo_just_replaced(emu: Emulator, samples: Path) -> None:
    """A, B, back to A, then C: `restore` with no id must bring back A (an older backup of A is not reused)."""
    graph, operator = client_for(emu, emu.admin_upn)
    history = History()
    service = PhotoService(graph, history, AuditLog(), operator, emu.tenant_id)
    target = Target(emu.user(emu.member_upn)["id"], emu.member_upn, "Member")
    a, b, c = (
        prepare(samples / "photos" / name, size=240).data
        for name in ("hopper.png", "Landscape_1.jpg", "Portrait_5.jpg")
    )
    async with graph:
        for photo in (a, b, a):
            await service.replace(target, photo)
        served_a = emu.photo(emu.member_upn)
        result = await service.replace(target, c)
    assert result.backup == history.newest(target.id) and history.read(result.backup) == served_a
