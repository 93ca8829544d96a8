"""The data Graph returns, as the app uses it: plain dataclasses with no HTTP stack behind them.

Kept apart from :mod:`tui.core.graph` so the local store (and with it the app's first, cached paint) can read
them without importing httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Profile:
    id: str | None
    display_name: str | None
    job_title: str | None
    mail: str | None
    user_principal_name: str | None
    given_name: str | None
    surname: str | None
    mobile_phone: str | None
    business_phones: tuple[str, ...]
    office_location: str | None
    user_type: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value not in (None, "") else None

        phones = data.get("businessPhones") or ()
        return cls(
            id=text("id"),
            display_name=text("displayName"),
            job_title=text("jobTitle"),
            mail=text("mail"),
            user_principal_name=text("userPrincipalName"),
            given_name=text("givenName"),
            surname=text("surname"),
            mobile_phone=text("mobilePhone"),
            business_phones=tuple(str(p) for p in phones if p) if isinstance(phones, list) else (),
            office_location=text("officeLocation"),
            user_type=text("userType"),
        )


@dataclass(frozen=True)
class PhotoMeta:
    etag: str | None
    width: int | None
    height: int | None
    content_type: str | None


@dataclass(frozen=True)
class PhotoStatus:
    """What the photo slot holds. "none" and "unavailable" are states to show, not errors."""

    state: Literal["photo", "none", "unavailable"]
    meta: PhotoMeta | None = None
    reason: str | None = None


@dataclass(frozen=True)
class UserPage:
    users: tuple[Profile, ...]
    next_url: str | None


def same_etag(a: str | None, b: str | None) -> bool:
    """ETags compare without weak markers and quotes: metadata and ``$value`` spell them differently."""

    def norm(tag: str | None) -> str:
        return (tag or "").strip().removeprefix("W/").strip('"')

    return bool(norm(a)) and norm(a) == norm(b)
