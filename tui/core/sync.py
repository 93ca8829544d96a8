"""Sync one viewed user from Graph into the store, downloading photo bytes only when the ETag changed.

On any failure the store is left as it was and :class:`~tui.core.errors.GraphError` propagates, so the caller can
say "offline — showing last synced data" and keep showing the previous snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING

from tui.core.models import same_etag
from tui.core.store import Snapshot, Store, user_key

if TYPE_CHECKING:
    from tui.core.graph import GraphClient


async def sync(
    graph: GraphClient, store: Store, account_key: str, user_id: str | None = None, *, force_photo: bool = False
) -> Snapshot:
    """Fetch profile and photo metadata together; fetch the bytes only if needed (or ``force_photo``, after an
    upload, when Graph may keep the ETag but the cache must not be trusted)."""
    previous = await asyncio.to_thread(store.load, account_key, user_id)  # SQLite + the photo blob: off the loop
    profile, status = await asyncio.gather(graph.get_profile(user_id), graph.photo_status(user_id))
    photo: bytes | None = None
    if status.state == "photo":
        etag = status.meta.etag if status.meta else None
        if not force_photo and previous and previous.photo is not None and same_etag(previous.etag, etag):
            photo = previous.photo
        else:
            photo, served_etag = await graph.get_photo(user_id)
            if served_etag and status.meta and not same_etag(served_etag, etag):
                # The bytes are newer than the metadata read a moment before: keep the pair consistent.
                status = dataclasses.replace(status, meta=dataclasses.replace(status.meta, etag=served_etag))
    snapshot = Snapshot(account_key, user_key(user_id), profile, status, photo, time.time())
    await asyncio.to_thread(store.save, snapshot)
    return snapshot


class Syncer:
    """One sync per viewed user at a time: asking again while one runs returns the running one.

    A forced request (after an upload) arriving while a plain sync runs waits for it and then syncs again, since the
    running one may have read the photo from before the upload.
    """

    def __init__(self, graph: GraphClient, store: Store, account_key: str) -> None:
        self.graph = graph
        self.store = store
        self.account_key = account_key
        self._running: dict[str, tuple[asyncio.Task[Snapshot], bool]] = {}

    def running(self, user_id: str | None = None) -> bool:
        entry = self._running.get(user_key(user_id))
        return entry is not None and not entry[0].done()

    def start(self, user_id: str | None = None, *, force_photo: bool = False) -> asyncio.Task[Snapshot]:
        """Must be called from the event loop; await the returned task for the snapshot (or the GraphError)."""
        key = user_key(user_id)
        entry = self._running.get(key)
        if entry and not entry[0].done() and (entry[1] or not force_photo):
            return entry[0]
        before = entry[0] if entry and not entry[0].done() else None

        async def run() -> Snapshot:
            if before is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(before)
            return await sync(self.graph, self.store, self.account_key, user_id, force_photo=force_photo)

        task = asyncio.get_running_loop().create_task(run(), name=f"sync {key}")
        self._running[key] = (task, force_photo)
        task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: str, task: asyncio.Task[Snapshot]) -> None:
        """Forget a finished sync (it holds photo bytes); its error belongs to whoever awaited it, if anyone."""
        if self._running.get(key, (None, False))[0] is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # marks it retrieved: no "exception was never retrieved" noise for abandoned waits

    async def sync(self, user_id: str | None = None, *, force_photo: bool = False) -> Snapshot:
        """Await a sync; cancelling this waiter leaves the shared sync running for the others."""
        return await asyncio.shield(self.start(user_id, force_photo=force_photo))
