"""The demo tenant: users, app registrations, photos and refresh tokens, persisted in the state directory.

The seed makes every id deterministic, so two fresh emulators with the same seed hold the same tenant (handy for
snapshots). Uploaded photos live as files in ``photos/`` beside ``tenant.json`` (the seeded ones are read from the
package's ``assets/``); everything is written atomically after each change.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

TENANT_DOMAIN = "contoso-demo.onmicrosoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
PHOTO_SIZES = (48, 64, 96, 120, 240, 360, 432, 504, 648)
MAX_PHOTO_BYTES = 4 * 1024 * 1024
MIN_PHOTO_SIDE = 48
MAX_DECODE_PIXELS = 50_000_000

#: Directory role name -> role template id (what Entra puts in the ``wids`` claim).
ADMIN_ROLES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "People Administrator": "024906de-61e5-49c8-8572-40335f1e0e10",
}

#: What the registered public client may be granted (tenant-wide admin consent is given for all of them).
PUBLIC_CLIENT_SCOPES = (
    "User.Read",
    "User.ReadWrite",
    "User.Read.All",
    "User.ReadBasic.All",
    "ProfilePhoto.ReadWrite.All",
    "User.ReadWrite.All",
)
APP_ROLES = ("ProfilePhoto.ReadWrite.All", "User.Read.All")

ASSETS = ("portrait-432x648.jpg", "square-504.jpg", "landscape-648x432.jpg", "square-240.jpg")

# (given, surname, job title, department, office) - the first five are the named demo accounts.
_PEOPLE = [
    ("Megan", "Bowen", "IT Administrator", "IT", "Building 12/1104"),
    ("Adele", "Vance", "Retail Manager", "Retail", "Building 18/2111"),
    ("Alex", "Wilber", "Marketing Assistant", "Marketing", "Building 131/1104"),
    ("Lee", "Gu", "Director (Fabrikam)", None, None),
    ("Pradeep", "Gupta", "Accountant II", "Finance", "Building 98/2202"),
    ("Allan", "Deyoung", "IT Admin", "IT", "Building 131/1110"),
    ("Christie", "Cline", "Senior Buyer", "Sales", "Building 131/2103"),
    ("Debra", "Berger", "Administrative Assistant", "Executive Management", "Building 18/1106"),
    ("Diego", "Siciliani", "HR Manager", "HR", "Building 18/1108"),
    ("Emily", "Braun", "Budget Analyst", "Finance", "Building 98/2210"),
    ("Enrico", "Cattaneo", "Attorney", "Legal", "Building 18/1122"),
    ("Grady", "Archie", "Senior Designer", "R&D", "Building 86/1204"),
    ("Henrietta", "Mueller", "Developer", "R&D", "Building 86/1210"),
    ("Irvin", "Sayers", "Director", "R&D", "Building 86/1101"),
    ("Isaiah", "Langer", "Sales Rep", "Sales", "Building 131/1111"),
    ("Johanna", "Lorenz", "Senior Engineer", "Engineering", "Building 86/1215"),
    ("Joni", "Sherman", "Paralegal", "Legal", "Building 18/1125"),
    ("Jordan", "Miller", "Marketing Manager", "Marketing", "Building 131/1200"),
    ("Lidia", "Holloway", "Product Manager", "Engineering", "Building 86/1220"),
    ("Lynne", "Robbins", "Planner", "Retail", "Building 18/2112"),
    ("Miriam", "Graham", "Director", "Sales & Marketing", "Building 131/1001"),
    ("Nestor", "Wilke", "Director", "Operations", "Building 98/1001"),
    ("Patti", "Fernandez", "President", "Executive Management", "Building 18/1001"),
    ("Alice", "Adams", "Support Engineer", "Support", "Building 44/0102"),
    ("Aiden", "Nakamura", "Data Analyst", "Finance", "Building 98/2214"),
    ("Beatriz", "Oliveira", "UX Researcher", "R&D", "Building 86/1230"),
    ("Carlos", "Mendoza", "Field Technician", "Operations", "Building 98/1010"),
    ("Chloé", "Dubois", "Translator", "Marketing", "Building 131/1205"),
    ("Fatima", "Al-Sayed", "Security Analyst", "IT", "Building 12/1110"),
    ("Hiroshi", "Tanaka", "Solutions Architect", "Engineering", "Building 86/1240"),
    ("Ingrid", "Johansson", "Recruiter", "HR", "Building 18/1112"),
    ("Kwame", "Mensah", "Logistics Coordinator", "Operations", "Building 98/1015"),
    ("Léa", "Martin", "Account Executive", "Sales", "Building 131/1115"),
    ("Mateo", "Rossi", "QA Engineer", "Engineering", "Building 86/1245"),
    ("Priya", "Raman", "Finance Manager", "Finance", "Building 98/2201"),
    ("Sofia", "Novak", "Office Manager", "Facilities", "Building 44/0101"),
    ("Wei", "Zhang", "Research Scientist", "R&D", "Building 86/1250"),
    ("Zoë", "Brown", "Communications Lead", "Marketing", "Building 131/1210"),
]

#: Properties a Graph user has; the first group is what /me returns without $select.
DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
EXTRA_PROPERTIES = ("userType", "accountEnabled", "department", "companyName", "city", "country", "usageLocation")


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace("'", "")


@dataclass
class Photo:
    """A stored photo; ``asset`` names a shipped demo photo (kept in the package, not copied to the state)."""

    data: bytes
    etag: str
    width: int
    height: int
    asset: str | None = None


@dataclass
class Tenant:
    """All mutable state, guarded by ``lock``; :meth:`save` persists it."""

    directory: Path
    tenant_id: str
    users: dict[str, dict[str, Any]]  # by id
    apps: dict[str, dict[str, Any]]  # by client id
    public_client_id: str
    app_client_id: str
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256(token) -> grant
    photos: dict[str, Photo] = field(default_factory=dict)
    pending: dict[str, tuple[Photo | None, float]] = field(default_factory=dict)  # id -> (old photo, visible at)
    lock: threading.RLock = field(default_factory=threading.RLock)
    port: int | None = None
    policy: dict[str, Any] = field(default_factory=lambda: {"photo_updates": True, "no_photo_form": "404"})

    # --- lookups -------------------------------------------------------------------------------------------

    def find(self, key: str) -> dict[str, Any] | None:
        """A user by object id or UPN (case-insensitive), as Graph resolves ``/users/{id|upn}``."""
        key = key.strip().lower()
        with self.lock:
            if key in self.users:
                return self.users[key]
            return next((u for u in self.users.values() if u["userPrincipalName"].lower() == key), None)

    def require(self, key: str) -> dict[str, Any]:
        user = self.find(key)
        if user is None:
            raise KeyError(f"no user {key!r} in the emulator's tenant")
        return user

    def visible_photo(self, user_id: str) -> Photo | None:
        """The photo GET serves: the previous one while a propagation delay runs."""
        with self.lock:
            pending = self.pending.get(user_id)
            if pending and time.monotonic() < pending[1]:
                return pending[0]
            self.pending.pop(user_id, None)
            return self.photos.get(user_id)

    # --- changes -------------------------------------------------------------------------------------------

    def store_photo(self, user_id: str, photo: Photo | None, propagation: float = 0.0, *, save: bool = True) -> None:
        with self.lock:
            old = self.visible_photo(user_id)
            if propagation > 0:
                self.pending[user_id] = (old, time.monotonic() + propagation)
            if photo is None:
                self.photos.pop(user_id, None)
                (self.directory / "photos" / f"{user_id}.jpg").unlink(missing_ok=True)
            else:
                self.photos[user_id] = photo
                file = self.directory / "photos" / f"{user_id}.jpg"
                if photo.asset is None:
                    _atomic_write(file, photo.data)
                else:
                    file.unlink(missing_ok=True)
            if save:
                self.save()

    def save(self) -> None:
        with self.lock:
            state = {
                "tenant_id": self.tenant_id,
                "public_client_id": self.public_client_id,
                "app_client_id": self.app_client_id,
                "users": list(self.users.values()),
                "apps": list(self.apps.values()),
                "refresh_tokens": self.refresh_tokens,
                "photos": {
                    uid: {"etag": p.etag, "width": p.width, "height": p.height, "asset": p.asset}
                    for uid, p in self.photos.items()
                },
                "port": self.port,
                "policy": self.policy,
            }
            _atomic_write(self.directory / "tenant.json", json.dumps(state, indent=1, ensure_ascii=False).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def new_etag() -> str:
    return f'"{secrets.token_hex(4).upper()}"'


def encode_photo(data: bytes) -> Photo:
    """Re-encode an accepted upload as Exchange does (JPEG, at most 648 px), so read-back bytes differ.

    Raises ValueError("not an image") or ValueError("too small") for the upload checks.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_DECODE_PIXELS:  # a tiny file claiming huge dimensions
                raise ValueError("too many pixels")
            img.load()
            img = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError("not an image") from exc
    if min(img.size) < MIN_PHOTO_SIDE:
        raise ValueError("too small")
    img.thumbnail((648, 648))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return Photo(out.getvalue(), new_etag(), img.width, img.height)


def resized(photo: Photo, size: int) -> bytes:
    """The square ``size`` rendition served by ``/photos/{size}/$value``."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(photo.data)) as img:
        out = io.BytesIO()
        ImageOps.fit(img.convert("RGB"), (size, size)).save(out, "JPEG", quality=85)
        return out.getvalue()


@functools.cache
def _asset_photo(name: str) -> Photo:
    """A shipped demo photo, stored as it is (it is already what Exchange would keep)."""
    from PIL import Image

    data = resources.files("tui.emulator").joinpath("assets", name).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    return Photo(data, f'"{hashlib.sha256(data).hexdigest()[:8].upper()}"', width, height, name)


def _seed_users(rng: random.Random) -> list[dict[str, Any]]:
    users = []
    for i, (given, surname, title, dept, office) in enumerate(_PEOPLE):
        local = f"{_ascii(given)}.{_ascii(surname)}"
        upn, mail, utype, mailbox = f"{local}@{TENANT_DOMAIN}", f"{local}@{TENANT_DOMAIN}", "Member", "cloud"
        display = f"{given} {surname}"
        if i == 3:  # the guest, invited from fabrikam.com
            mail = f"{local}@fabrikam.com"
            upn = f"{local}_fabrikam.com#EXT#@{TENANT_DOMAIN}"
            utype, mailbox, display = "Guest", None, f"{display} (Fabrikam)"
        elif i == 4:
            mailbox = "onprem"
        users.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "userPrincipalName": upn,
                "displayName": display,
                "givenName": given,
                "surname": surname,
                "jobTitle": title,
                "mail": mail,
                "mobilePhone": None if i % 3 == 2 or utype == "Guest" else f"+1 425 555 {100 + i:04d}",
                "businessPhones": [] if utype == "Guest" else [f"+1 206 555 {200 + i:04d}"],
                "officeLocation": office,
                "preferredLanguage": None if utype == "Guest" else ("en-US" if i % 5 else "en-GB"),
                "userType": utype,
                "accountEnabled": True,
                "department": dept,
                "companyName": "Fabrikam" if utype == "Guest" else "Contoso",
                "city": None if office is None else ("Redmond" if i % 2 else "Seattle"),
                "country": None if office is None else "United States",
                "usageLocation": "US",
                "roles": ["People Administrator"] if i == 0 else [],
                "mailbox": mailbox,
            }
        )
    return users


def load_or_create(directory: Path, seed: int = 0) -> Tenant:
    """Load ``tenant.json`` from ``directory`` or seed a fresh demo tenant there."""
    path = directory / "tenant.json"
    if path.exists():
        state = json.loads(path.read_text(encoding="utf-8"))
        tenant = Tenant(
            directory,
            state["tenant_id"],
            {u["id"]: u for u in state["users"]},
            {a["client_id"]: a for a in state["apps"]},
            state["public_client_id"],
            state["app_client_id"],
            state.get("refresh_tokens", {}),
            port=state.get("port"),
        )
        tenant.policy.update(state.get("policy", {}))
        for uid, meta in state.get("photos", {}).items():
            file = directory / "photos" / f"{uid}.jpg"
            if meta.get("asset"):
                tenant.photos[uid] = _asset_photo(meta["asset"])
            elif file.exists():
                tenant.photos[uid] = Photo(file.read_bytes(), meta["etag"], meta["width"], meta["height"])
        return tenant
    rng = random.Random(seed)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    tenant_id, public_id, app_id = new_id(), new_id(), new_id()
    users = _seed_users(rng)
    apps = {
        public_id: {
            "client_id": public_id,
            "name": "graphphoto-tui (demo)",
            "public": True,
            "scopes": list(PUBLIC_CLIENT_SCOPES),
            "roles": [],
        },
        app_id: {
            "client_id": app_id,
            "name": "graphphoto-tui automation (demo)",
            "public": False,
            "secret": secrets.token_urlsafe(30),  # the demo prints it; the state directory is private
            "certificate": True,
            "roles": list(APP_ROLES),
            "object_id": new_id(),
        },
    }
    tenant = Tenant(directory, tenant_id, {u["id"]: u for u in users}, apps, public_id, app_id)
    with_photo = [u for i, u in enumerate(users) if i in (0, 1) or (i >= 5 and i % 3 != 0)]
    for n, user in enumerate(with_photo):
        tenant.store_photo(user["id"], _asset_photo(ASSETS[n % len(ASSETS)]), save=False)
    tenant.save()
    return tenant


def seeded_upn(tenant: Tenant, n: int) -> str:
    """The n-th seeded account: 0 admin, 1 member with photo, 2 member without, 3 guest, 4 on-premises mailbox."""
    with tenant.lock:
        return list(tenant.users.values())[n]["userPrincipalName"]
