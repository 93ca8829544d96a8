"""Sync through the emulator over real HTTPS: bytes only when the ETag changed, the store untouched on failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tui.core.auth import Authenticator
from tui.core.config import Settings, load_settings
from tui.core.errors import GraphError
from tui.core.graph import GraphClient
from tui.core.store import Store
from tui.core.sync import Syncer, sync
from tui.emulator import Emulator

ACCOUNT = "test-account"


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    return emulator


def settings_for(emu: Emulator, upn: str, *scopes: str) -> Settings:
    token = emu.issue_token(upn=upn, scopes=scopes or ("User.ReadWrite",))
    return load_settings({**emu.client_flags(), "access_token": token})


@pytest.fixture
async def graph(emu: Emulator) -> AsyncIterator[GraphClient]:
    settings = settings_for(emu, emu.admin_upn, "User.ReadWrite", "User.Read.All", "ProfilePhoto.ReadWrite.All")
    async with GraphClient(settings, Authenticator(settings)) as client:
        yield client


def photo_downloads(emu: Emulator) -> int:
    return sum(1 for r in emu.request_log() if r["method"] == "GET" and r["path"].endswith("/photo/$value"))


async def test_photo_bytes_are_downloaded_only_when_the_etag_changes(emu: Emulator, graph: GraphClient) -> None:
    store = Store()
    first = await sync(graph, store, ACCOUNT)
    assert first.profile.user_principal_name == emu.admin_upn
    assert first.status.state == "photo" and first.photo == emu.photo(emu.admin_upn)
    assert photo_downloads(emu) == 1

    again = await sync(graph, store, ACCOUNT)
    assert photo_downloads(emu) == 1  # same ETag: served from the store
    assert again.photo == first.photo and again.synced_at >= first.synced_at

    forced = await sync(graph, store, ACCOUNT, force_photo=True)
    assert photo_downloads(emu) == 2 and forced.photo == first.photo

    new_photo = emu.photo(emu.member_upn)
    assert new_photo is not None and new_photo != first.photo
    emu.set_photo(emu.admin_upn, new_photo)  # changed behind the app's back
    changed = await sync(graph, store, ACCOUNT)
    assert photo_downloads(emu) == 3
    assert changed.photo == emu.photo(emu.admin_upn) and changed.etag != first.etag


async def test_store_survives_restart_and_failure_leaves_it_untouched(emu: Emulator, graph: GraphClient) -> None:
    member = emu.user(emu.member_upn)["id"]
    synced = await sync(graph, Store(), ACCOUNT, member)
    assert synced.profile.id == member and synced.user == member

    restarted = Store()  # a new process would open the same file
    kept = restarted.load(ACCOUNT, member)
    assert kept is not None and kept.photo == synced.photo and kept.profile == synced.profile

    emu.set_photo(emu.member_upn, None)
    emu.set_faults("500=1.0")
    with pytest.raises(GraphError):
        await sync(graph, restarted, ACCOUNT, member)
    after = restarted.load(ACCOUNT, member)
    assert after is not None and after.photo == synced.photo and after.synced_at == synced.synced_at

    emu.clear_faults()
    gone = await sync(graph, restarted, ACCOUNT, member)
    assert gone.status.state == "none" and gone.photo is None
    assert restarted.load(ACCOUNT, member).status.state == "none"


async def test_no_photo_user_syncs_as_a_state_not_an_error(emu: Emulator, graph: GraphClient) -> None:
    nophoto = emu.user(emu.nophoto_upn)["id"]
    snapshot = await sync(graph, Store(), ACCOUNT, nophoto)
    assert snapshot.status.state == "none" and snapshot.photo is None
    assert snapshot.profile.user_principal_name == emu.nophoto_upn


async def test_syncer_runs_one_sync_per_user_at_a_time(emu: Emulator, graph: GraphClient) -> None:
    syncer = Syncer(graph, Store(), ACCOUNT)
    first = syncer.start()
    assert syncer.start() is first and syncer.running()
    forced = syncer.start(force_photo=True)  # after an upload: must not reuse a sync that may predate it
    assert forced is not first
    results = await asyncio.gather(first, forced, syncer.sync())
    assert results[1] is results[2]
    assert not syncer.running()
    profile_reads = [r for r in emu.request_log() if r["method"] == "GET" and r["path"].split("?")[0].endswith("/me")]
    assert len(profile_reads) == 2  # three requests for a sync, two syncs actually run


async def test_a_failed_sync_does_not_wedge_the_syncer(emu: Emulator, graph: GraphClient) -> None:
    syncer = Syncer(graph, Store(), ACCOUNT)
    emu.set_faults("500=1.0")
    with pytest.raises(GraphError):
        await syncer.sync()
    assert not syncer.running()
    emu.clear_faults()
    snapshot = await syncer.sync()
    assert snapshot.profile.user_principal_name == emu.admin_upn
