"""The core must stay importable without Textual or MSAL, so `--help` and scripting stay fast."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import tui.core
import tui.emulator

CORE_MODULES = sorted(
    [f"tui.core.{m.name}" for m in pkgutil.iter_modules(tui.core.__path__)]
    + ["tui.emulator"]
    + [f"tui.emulator.{m.name}" for m in pkgutil.iter_modules(tui.emulator.__path__)]
)


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_core_and_emulator_never_import_textual() -> None:
    code = "\n".join(f"import {m}" for m in CORE_MODULES)
    mods = _imported_after(code)
    assert len(CORE_MODULES) >= 3
    assert not {m for m in mods if m == "textual" or m.startswith("textual.")}


def test_help_imports_neither_textual_nor_msal() -> None:
    code = "from tui.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    mods = _imported_after(code)
    assert "textual" not in mods
    assert "msal" not in mods
    assert "PIL" not in mods


def test_the_app_starts_without_pillow() -> None:
    """Pillow (and rich-pixels, which imports it) load off the UI thread, after the first frame: never at import."""
    mods = _imported_after("import tui.app\nfrom tui.widgets import photo")
    assert "textual" in mods and "PIL" not in mods and "rich_pixels" not in mods
