"""The profile fields beside the photo. Every value came from Graph, so it is drawn as plain text, never markup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.core.text import clean

if TYPE_CHECKING:
    from tui.core.graph import Profile

FIELDS: tuple[tuple[str, str], ...] = (
    ("Name", "display_name"),
    ("Job title", "job_title"),
    ("Mail", "mail"),
    ("Sign-in (UPN)", "user_principal_name"),
    ("Given name", "given_name"),
    ("Surname", "surname"),
    ("Mobile", "mobile_phone"),
    ("Business phone", "business_phones"),
    ("Office", "office_location"),
    ("User type", "user_type"),
)


def field_text(profile: Profile, attr: str) -> str:
    value = getattr(profile, attr, None)
    if isinstance(value, (tuple, list)):
        value = ", ".join(clean(v) for v in value if v)
    return clean(value) if value else "—"


class ProfileCard(Static):
    """Label/value rows of one :class:`~tui.core.graph.Profile` (or a hint while there is none)."""

    DEFAULT_CSS = """
    ProfileCard { height: auto; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.profile: Profile | None = None

    def show(self, profile: Profile | None, hint: str = "") -> None:
        self.profile = profile
        if profile is None:
            self.update(Text(clean(hint), style="italic"))
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, attr in FIELDS:
            table.add_row(label, Text(field_text(profile, attr)))
        self.update(table)
