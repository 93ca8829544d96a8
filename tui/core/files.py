"""Atomic file writes: every file this project writes (token cache, backups, prepared photos) goes through here."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Write beside ``path``, then rename over it.

    A crash, Ctrl+C or a dropped SSH link leaves either the old file or the new one, never half of one; the file
    has ``mode`` from its creation, so a token cache is never readable by others even for a moment. ``durable``
    also survives a power cut (fsync, ~10 ms): kept for tokens and backups, skipped for a re-makeable JPEG.
    """
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")  # not `secrets`: it loads OpenSSL (~5 ms)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
