"""What the Update Photo screen looks like, at 80x24 and 120x40: empty, with a preview, refusing a file, uploading.

Content is fixed: the samples are read-only, HOME points at their parent so paths read ``~/samples/...`` on any
machine, and focus sits on the tree (no blinking cursor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.worker import Worker

from tui.core.photos import Target
from tui.screens.update import UpdateScreen

SIZES = [(80, 24), (120, 40)]


class HostApp(App[None]):
    def __init__(self, samples: Path) -> None:
        super().__init__()
        self.samples = samples

    def report_worker(self, event: Worker.StateChanged) -> None:  # nothing fails in these shots
        pass

    def on_mount(self) -> None:
        current = (self.samples / "photos" / "hopper.png").read_bytes()
        target = Target("id-1", "adele@contoso.example", "Adele Vance")
        self.push_screen(UpdateScreen(target, current, start=self.samples / "photos"))


@pytest.fixture(autouse=True)
def home_at_samples(samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(samples.parent))


def labels(tree: Any) -> list[str]:
    return [str(node.label) for node in tree.root.children]


async def show_tree(pilot: Any, name: str) -> Any:
    tree = pilot.app.screen.query_one("#image-tree")
    while name not in labels(tree):
        await pilot.pause(0.01)
    tree.focus()
    await pilot.pause()
    return tree


async def pick(pilot: Any, name: str) -> None:
    """Walk the tree with keys to ``name`` and press Enter, then wait for the preview (or the refusal)."""
    screen = pilot.app.screen
    tree = await show_tree(pilot, name)
    await pilot.press(*["down"] * labels(tree).index(name), "enter")
    info = screen.query_one("#preview-info")
    while True:
        busy = [w for w in screen.workers if w.group in {"open", "preview"} and not w.is_finished]
        if busy:
            await pilot.app.workers.wait_for_complete(busy)
        elif screen.prepared is not None or info.has_class("-error"):
            break
        else:
            await pilot.pause(0.01)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_empty_form(snap_compare: Any, samples: Path, size: tuple[int, int]) -> None:
    async def steps(pilot: Any) -> None:
        await show_tree(pilot, "hopper.png")

    assert snap_compare(HostApp(samples), terminal_size=size, run_before=steps)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_preview_of_a_rotated_jpeg(snap_compare: Any, samples: Path, size: tuple[int, int]) -> None:
    async def steps(pilot: Any) -> None:
        await pick(pilot, "Portrait_5.jpg")

    assert snap_compare(HostApp(samples), terminal_size=size, run_before=steps)


def test_refused_file(snap_compare: Any, samples: Path) -> None:
    async def steps(pilot: Any) -> None:
        screen = pilot.app.screen
        screen.query_one("#picker").go_to(samples / "bad")
        await pick(pilot, "broken.png")

    assert snap_compare(HostApp(samples), terminal_size=(80, 24), run_before=steps)


def test_progress_mid_upload(snap_compare: Any, samples: Path) -> None:
    """The panel as the GraphClient drives it: 45% of the body written, the form locked."""

    async def steps(pilot: Any) -> None:
        await pick(pilot, "hopper.png")
        screen = pilot.app.screen
        total = len(screen.prepared.data)
        screen._lock_form(True)
        screen.upload_panel.start(total)
        screen.upload_panel.advance(total * 45 // 100, total)
        await pilot.pause()

    assert snap_compare(HostApp(samples), terminal_size=(80, 24), run_before=steps)
