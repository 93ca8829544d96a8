"""Choosing an image with the keyboard: a path input with tab completion above a tree of folders and images.

The tree lists folders and image files only, so a user walking a download folder sees what they can upload and
nothing else. Deciding what is an image must stay cheap on folders with thousands of files: the extension
decides when it is known, and only a missing or unknown extension costs a 16-byte read (content sniffing).
Whether a chosen file really is usable is the photo pipeline's call, never this widget's.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DirectoryTree, Input

from tui.core.imaging import HEIF_BRANDS

#: What the pipeline can open (JPEG, PNG, HEIC/HEIF, WebP, GIF, BMP, TIFF, AVIF).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff"}
)
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_FTYP_BRANDS = HEIF_BRANDS | {b"avif", b"avis"}  # ISO-BMFF images: the pipeline's HEIF brands, and AVIF


def sniff_image(head: bytes) -> bool:
    """True when the first bytes carry the signature of a format the pipeline reads."""
    return (
        head.startswith(_MAGIC)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in _FTYP_BRANDS)
    )


def is_image_file(path: Path) -> bool:
    """By extension when it tells; by content only when the extension is missing or unknown to ``mimetypes``."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return True
    if suffix and _known_type(suffix):
        return False  # a known non-image type (.txt, .pdf, .py ...): not worth opening
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return sniff_image(os.read(fd, 16))
    except OSError:
        return False
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=512)
def _known_type(suffix: str) -> bool:
    return mimetypes.guess_type(f"x{suffix}")[0] is not None


def is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def keep_path(path: Path, *, show_hidden: bool) -> bool:
    """Folders and images; never raises (an unreadable entry is just left out)."""
    if not show_hidden and is_hidden(path):
        return False
    try:
        mode = path.stat().st_mode  # one system call decides folder / file
    except OSError:  # PermissionError, broken links, vanished files
        return False
    return stat.S_ISDIR(mode) or (stat.S_ISREG(mode) and is_image_file(path))


def expand(text: str, base: Path) -> Path:
    """What the user typed, with ``~`` expanded and relative paths taken from the folder the tree shows."""
    return base / os.path.expanduser(text.strip())


def display_path(path: Path) -> str:
    """``~/Pictures`` rather than ``/home/someone/Pictures``: shorter in a narrow pane."""
    try:
        relative = path.relative_to(Path.home())
    except (ValueError, RuntimeError):  # elsewhere, or no home directory known
        return str(path)
    return "~" if relative == Path() else f"~/{relative}"


class ImageTree(DirectoryTree):
    """A :class:`DirectoryTree` of folders and images whose root can move up, since photos rarely live below cwd."""

    HELP_PLACE = "file list"  # the help lists these keys from anywhere on the screen
    BINDINGS = [
        Binding("backspace", "parent", "Up a folder"),
        Binding("full_stop", "toggle_hidden", "Hidden files", show=False),
    ]

    show_hidden: reactive[bool] = reactive(False, init=False)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        # Runs in the loader's worker thread: must not raise, and must stay cheap per entry.
        show_hidden = self.show_hidden
        return [path for path in paths if keep_path(path, show_hidden=show_hidden)]

    def on_focus(self) -> None:
        if self.cursor_line < 0:  # show where Enter will act from the first key press
            self.cursor_line = 0

    def watch_show_hidden(self) -> None:
        self.reload()

    _came_from: Path | None = None

    def action_parent(self) -> None:
        root = Path(self.path).expanduser().resolve()
        if root.parent != root:
            self.reveal(root)

    def reveal(self, path: Path) -> None:
        """Show ``path``'s folder with the cursor on ``path`` (a file typed in the box, or the folder just left)."""
        self._came_from = path
        if Path(self.path).expanduser().resolve() == path.parent:
            self._rest_cursor()
        else:
            self.path = path.parent

    async def watch_path(self) -> None:
        await super().watch_path()
        self._rest_cursor()

    def _rest_cursor(self) -> None:
        came_from, self._came_from = self._came_from, None
        for node in self.root.children:  # after "up a folder", the cursor rests on the folder just left
            if came_from is not None and node.data is not None and node.data.path == came_from:
                self.move_cursor(node, animate=False)

    def action_toggle_hidden(self) -> None:
        self.show_hidden = not self.show_hidden
        self.notify(f"Hidden files {'shown' if self.show_hidden else 'hidden'}", timeout=2)


class PathInput(Input):
    """An input where Tab completes the last path component and cycles through the matches on repeat.

    Tab with nothing to complete moves focus on as usual, so the form stays navigable with Tab.
    """

    HELP_PLACE = "path box"
    BINDINGS = [Binding("tab", "complete", "Complete path", show=False)]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.base = Path.cwd()
        self.show_hidden = False
        self._matches: list[str] = []
        self._match_index = -1
        self._completed = ""  # the value we put in; any other value means the user typed since

    def completions(self, text: str) -> list[str]:
        """Values the input could take, e.g. ``~/Pic`` -> ``["~/Pictures/"]`` (the user's own spelling is kept)."""
        head, _, stem = text.rpartition("/")
        prefix = f"{head}/" if "/" in text else ""
        folder = expand(prefix or ".", self.base)
        stem_lower = stem.lower()
        try:
            with os.scandir(folder) as entries:
                names = [
                    entry.name
                    for entry in entries
                    if entry.name.lower().startswith(stem_lower)
                    and (stem.startswith(".") or self.show_hidden or not entry.name.startswith("."))
                ]
        except OSError:
            return []
        found = []
        for name in sorted(names, key=str.lower):
            path = folder / name
            try:
                if path.is_dir():
                    found.append(f"{prefix}{name}/")
                elif is_image_file(path):
                    found.append(f"{prefix}{name}")
            except OSError:
                continue
        return found

    async def action_submit(self) -> None:
        self._matches, self._completed = [], ""  # Tab after Enter starts a fresh completion
        await super().action_submit()

    def action_complete(self) -> None:
        if self.value and self.value == self._completed and len(self._matches) > 1:
            self._match_index = (self._match_index + 1) % len(self._matches)
        else:
            self._matches = self.completions(self.value) if self.value else []
            self._match_index = 0
            if not self._matches or self._matches == [self.value]:
                self.screen.focus_next()
                return
        self._completed = self.value = self._matches[self._match_index]
        self.cursor_position = len(self.value)


class FilePicker(Vertical):
    """Path input + image tree. Posts :class:`FilePicker.Chosen` when the user picks a file either way."""

    @dataclass
    class Chosen(Message):
        """A file the user picked; not yet checked by the pipeline."""

        picker: FilePicker
        path: Path

        @property
        def control(self) -> FilePicker:
            return self.picker

    @dataclass
    class Browsed(Message):
        """The user typed a folder: the list shows it now; no file is picked."""

        picker: FilePicker
        folder: Path

        @property
        def control(self) -> FilePicker:
            return self.picker

    def __init__(self, start: Path | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.start = (start or Path.cwd()).resolve()

    def compose(self) -> ComposeResult:
        yield PathInput(placeholder="Image path (Tab completes)", id="path-input")
        tree = ImageTree(self.start, id="image-tree")
        tree.show_root = False  # the folder is the border title; its children are the list
        yield tree

    @property
    def tree(self) -> ImageTree:
        return self.query_one(ImageTree)

    @property
    def input(self) -> PathInput:
        return self.query_one(PathInput)

    def on_mount(self) -> None:
        self._sync_base()
        self.watch(self.tree, "path", self._sync_base, init=False)
        self.watch(self.tree, "show_hidden", self._sync_base, init=False)

    def go_to(self, folder: Path) -> None:
        self.tree.path = folder

    @on(DirectoryTree.FileSelected)
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.input.value = display_path(event.path)  # Enter on it picks the same file again
        self.post_message(self.Chosen(self, event.path))

    @on(Input.Submitted, "#path-input")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            return
        path = expand(event.value, self.input.base)
        if path.is_dir():
            self.go_to(path.resolve())
            self.input.value = ""
            self.tree.focus()
            self.post_message(self.Browsed(self, path.resolve()))
        else:
            if path.parent.is_dir():  # the list follows what was typed, as it does for a folder
                self.tree.reveal(path.parent.resolve() / path.name)  # a symlink shows where it was typed
            self.post_message(self.Chosen(self, path))

    def _sync_base(self, _: object = None) -> None:
        root = Path(self.tree.path).expanduser().resolve()
        self.input.base = root
        self.input.show_hidden = self.tree.show_hidden
        self.tree.border_title = display_path(root)
