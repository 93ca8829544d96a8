"""The Graph client against the emulator over real sockets: typed results, retries that recover, and no waste."""

from __future__ import annotations

import hashlib
import io
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import device_sign_in, running_emulator

from tui.core.auth import ADMIN_SCOPES, OWN_SCOPES, Authenticator
from tui.core.config import Settings, load_settings
from tui.core.errors import GraphError
from tui.core.graph import GraphClient, ImageRefused, UserNotFound, same_etag
from tui.emulator import Emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emu")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: Emulator) -> Iterator[None]:
    yield
    emu.clear_faults()


def settings_for(emu: Emulator, token: str | None = None, **flags: Any) -> Settings:
    env = {"GRAPHPHOTO_ACCESS_TOKEN": token} if token else {}
    return load_settings({**emu.client_flags(), **flags}, env=env)


def graph_as(emu: Emulator, upn: str | None = None, admin: bool = True, **kw: Any) -> GraphClient:
    """A client holding a real token for ``upn`` (default: the admin), given the way scripts give one."""
    scopes = OWN_SCOPES + ADMIN_SCOPES if admin else OWN_SCOPES
    settings = settings_for(emu, emu.issue_token(upn or emu.admin_upn, scopes=scopes))
    graph = GraphClient(settings, Authenticator(settings), **kw)
    graph.backoff = 0.01
    return graph


def jpeg(size: int, noise: bool = False) -> bytes:
    from PIL import Image

    rng = random.Random(size)
    if noise:  # incompressible: a big file from a small image
        image = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
    else:
        image = Image.new("RGB", (size, size), (rng.randrange(256), 90, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def log_since(emu: Emulator, mark: int, method: str, suffix: str, *, status: int = 200, at_least: int = 1) -> int:
    """How many ``method`` requests on ``suffix`` got ``status`` since ``mark``. The emulator logs a request just
    after answering it, so allow it a moment to write the line before counting."""
    deadline = time.monotonic() + 2
    while True:
        rows = [r for r in emu.request_log()[mark:] if (r["method"], r["status"]) == (method, status)]
        found = [r for r in rows if r["path"].endswith(suffix)]
        if len(found) >= at_least or time.monotonic() > deadline:
            return len(found)
        time.sleep(0.01)


def last_body(emu: Emulator, method: str, suffix: str) -> dict[str, Any]:
    return next(r for r in reversed(emu.request_log()) if r["method"] == method and r["path"].endswith(suffix))


async def test_profile_and_user_resolution(emu: Emulator) -> None:
    emu.add_user("$svc-desk@" + emu.tenant_domain, "Service Desk")
    async with graph_as(emu) as graph:
        me = await graph.get_profile()
        admin = emu.user(emu.admin_upn)
        assert (me.id, me.display_name, me.user_type) == (admin["id"], admin["displayName"], "Member")
        guest_id = await graph.resolve_user(emu.guest_upn)  # '#EXT#' in the UPN
        assert guest_id == emu.user(emu.guest_upn)["id"]
        assert (await graph.get_profile(guest_id)).user_type == "Guest"
        dollar = await graph.resolve_user("$svc-desk@" + emu.tenant_domain)
        assert dollar == emu.user("$svc-desk@" + emu.tenant_domain)["id"]
        assert await graph.resolve_user(None) is None and await graph.resolve_user("me") is None
        with pytest.raises(UserNotFound, match="no user 'nobody@"):
            await graph.resolve_user("nobody@" + emu.tenant_domain)


async def test_photo_states_none_and_unavailable_are_not_errors(emu: Emulator) -> None:
    async with graph_as(emu) as graph:
        states = {}
        for upn in (emu.member_upn, emu.nophoto_upn, emu.guest_upn, emu.onprem_upn):
            states[upn] = await graph.photo_status(await graph.resolve_user(upn))
    assert states[emu.member_upn].state == "photo"
    assert same_etag(states[emu.member_upn].meta.etag, emu.photo_etag(emu.member_upn))  # type: ignore[union-attr]
    assert states[emu.nophoto_upn].state == "none"
    for upn in (emu.guest_upn, emu.onprem_upn):
        assert states[upn].state == "unavailable" and states[upn].reason and "\n" not in states[upn].reason


async def test_upload_reports_progress_as_bytes_are_sent(emu: Emulator) -> None:
    data = jpeg(1750, noise=True)
    assert 3_000_000 < len(data) <= 4 * 1024 * 1024
    updates: list[tuple[int, int]] = []
    async with graph_as(emu) as graph:
        before = emu.photo_etag(emu.admin_upn)
        mark = len(emu.request_log())
        await graph.upload_photo(data, progress=lambda sent, total: updates.append((sent, total)))
    assert log_since(emu, mark, "PUT", "/photo/$value") == 1
    put = last_body(emu, "PUT", "/photo/$value")
    assert put["body_size"] == len(data) and put["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert len(updates) >= 10 and updates[-1] == (len(data), len(data))
    assert [s for s, _ in updates] == sorted(s for s, _ in updates)
    assert emu.photo_etag(emu.admin_upn) != before


async def test_connection_reset_during_upload_recovers(emu: Emulator) -> None:
    data = jpeg(400)
    retries: list[tuple[float, str]] = []
    emu.add_fault("reset_upload", path="/photo/$value", method="PUT")
    async with graph_as(emu, on_retry=lambda s, why: retries.append((s, why))) as graph:
        member = await graph.resolve_user(emu.member_upn)
        mark = len(emu.request_log())
        await graph.upload_photo(data, member)
    assert [why for _, why in retries] == ["network"]
    assert log_since(emu, mark, "PUT", "/photo/$value") == 1
    assert last_body(emu, "PUT", "/photo/$value")["body_sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("kind", "why"), [("429", "throttled"), ("503", "unavailable")])
async def test_throttling_honours_retry_after_and_recovers(emu: Emulator, kind: str, why: str) -> None:
    emu.add_fault(kind, path="/photo", method="GET", retry_after=1)
    retries: list[tuple[float, str]] = []
    async with graph_as(emu, on_retry=lambda s, w: retries.append((s, w))) as graph:
        status = await graph.photo_status()
    assert status.state in {"photo", "none"} and retries == [(1.0, why)]


async def test_reset_mid_download_and_html_gateway_errors_recover(emu: Emulator) -> None:
    emu.add_fault("reset_mid", path="/photo/$value", method="GET")
    emu.add_fault("html", path="/v1.0/me", method="GET")
    async with graph_as(emu) as graph:
        member = await graph.resolve_user(emu.member_upn)
        data, etag = await graph.get_photo(member)
        assert data == emu.photo(emu.member_upn) and same_etag(etag, emu.photo_etag(emu.member_upn))
        assert (await graph.get_profile()).display_name


async def test_refused_image_is_not_retried_and_changes_nothing(emu: Emulator) -> None:
    emu.add_fault("500", path="/photo/$value", method="PUT")
    before = emu.photo(emu.nophoto_upn)
    async with graph_as(emu) as graph:
        target = await graph.resolve_user(emu.nophoto_upn)
        mark = len(emu.request_log())
        with pytest.raises(ImageRefused, match="refused this image") as info:
            await graph.upload_photo(jpeg(200), target)
    assert info.value.request_id and info.value.status == 500
    assert log_since(emu, mark, "PUT", "/photo/$value", status=500) == 1 and emu.photo(emu.nophoto_upn) == before


async def test_a_failed_delete_is_a_graph_failure_not_a_refused_image(emu: Emulator) -> None:
    emu.add_fault("500", path="/photo/$value", method="DELETE")
    async with graph_as(emu) as graph:
        target = await graph.resolve_user(emu.member_upn)
        with pytest.raises(GraphError, match="failed to remove the photo") as info:
            await graph.delete_photo(target)
    assert not isinstance(info.value, ImageRefused) and info.value.exit_code == 6
    assert emu.photo(emu.member_upn) is not None


async def test_member_cannot_change_someone_elses_photo(emu: Emulator) -> None:
    before = emu.photo(emu.admin_upn)
    async with graph_as(emu, emu.member_upn) as graph:
        admin = await graph.resolve_user(emu.admin_upn)
        with pytest.raises(GraphError, match="People Administrator") as info:
            await graph.upload_photo(jpeg(200), admin)
    assert info.value.status == 403 and info.value.request_id and emu.photo(emu.admin_upn) == before


async def test_too_small_image_is_refused_with_its_reason(emu: Emulator) -> None:
    async with graph_as(emu) as graph:
        with pytest.raises(ImageRefused, match="too small"):
            await graph.upload_photo(jpeg(23))


async def test_delete_then_delete_again_both_succeed(emu: Emulator) -> None:
    upn = f"delete-me@{emu.tenant_domain}"
    emu.add_user(upn, "Delete Me")
    emu.set_photo(upn, jpeg(120))
    async with graph_as(emu) as graph:
        target = await graph.resolve_user(upn)
        assert (await graph.photo_status(target)).state == "photo"
        await graph.delete_photo(target)
        assert (await graph.photo_status(target)).state == "none" and emu.photo(upn) is None
        await graph.delete_photo(target)


async def test_search_pages_through_users(emu: Emulator) -> None:
    async with graph_as(emu) as graph:
        first = await graph.search_users("", top=10)
        assert len(first.users) == 10 and first.next_url
        second = await graph.search_users("", next_url=first.next_url)
        assert second.users and not {u.id for u in first.users} & {u.id for u in second.users}
        name = emu.user(emu.member_upn)["displayName"]
        found = await graph.search_users(name.split()[0][:3])
        assert emu.member_upn in {u.user_principal_name for u in found.users}


async def test_app_only_has_no_me(emu: Emulator) -> None:
    token = emu.issue_token(roles=("ProfilePhoto.ReadWrite.All", "User.Read.All"))
    settings = settings_for(emu, token)
    async with GraphClient(settings, Authenticator(settings)) as graph:
        with pytest.raises(GraphError, match="pass --user"):
            await graph.get_profile()
        member = await graph.resolve_user(emu.member_upn)
        assert (await graph.photo_status(member)).state == "photo"


class FirstTokenExpired:
    """A TokenSource whose first token Graph will refuse (as after a laptop sleep), then the real sign-in."""

    def __init__(self, emu: Emulator, auth: Authenticator) -> None:
        self.stale = emu.issue_token(emu.member_upn, expires_in=-300)
        self.auth = auth
        self.calls: list[bool] = []

    def token(self, scopes: Sequence[str], *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        return self.stale if len(self.calls) == 1 else self.auth.token(scopes, force_refresh=force_refresh)


async def test_401_refreshes_the_token_once_and_retries(emu: Emulator, isolated_home: Path) -> None:
    settings = settings_for(emu)
    auth = Authenticator(settings)
    device_sign_in(emu, auth, emu.member_upn)
    source = FirstTokenExpired(emu, auth)
    async with GraphClient(settings, source) as graph:
        assert (await graph.get_profile()).user_principal_name == emu.member_upn
    assert source.calls == [False, True]
