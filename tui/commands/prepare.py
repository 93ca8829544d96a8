"""`graphphoto-tui prepare`: write exactly the JPEG that `set` would upload, and say what was done to it."""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core import files
from tui.core.errors import EXIT_OK, GraphPhotoError, UsageError

if TYPE_CHECKING:
    from tui.core.config import Settings
    from tui.core.imaging import Prepared

# Writes its output atomically and closes it, prints its line and starts no thread that outlives run(): nothing
# for the interpreter's teardown to finish, which the CLI then skips (see tui.cli._exit_now).
QUICK_EXIT = True


def write_output(path: Path, data: bytes, *, source: Path | None = None) -> None:
    """Write the JPEG a user asked for with ``-o``, atomically: never half a JPEG under the final name.

    A symlink is followed (its target is replaced, the link kept); anything but a regular file is refused, since
    renaming over ``/dev/full`` or a FIFO would destroy it; so is ``source`` under any name (a symlink, a hard
    link): ``prepare me.jpg -o me.jpg`` would replace the original with a 648 px crop. An existing file keeps its
    permissions.
    """
    path = path.resolve()
    mode = 0o644
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise UsageError(f"cannot write {path}: it is {what}; name a file, or '-' for standard output")
        mode = stat.S_IMODE(st.st_mode)
        with contextlib.suppress(OSError):
            if source is not None and os.path.samefile(source, path):
                raise UsageError(f"cannot write {path}: it is the input image; name another file for the result")
    try:
        files.write_atomically(path, data, mode=mode, durable=False)  # `prepare` can simply run again
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def begin(args: argparse.Namespace) -> None:
    """Start opening the image before the settings load (see ``tui.cli.main``): its decode runs meanwhile.

    The target size is the ``--size`` flag or the default; :func:`prepare_image` opens again in the rare case
    the settings (environment, config file) chose another. Any refusal waits for :func:`prepare_image`, so a
    bad setting is still reported first.
    """
    from tui.core.imaging import DEFAULT_SIZE, Crop, Opening

    try:
        crop = Crop.parse(args.crop) if args.crop else None
        args.opening = Opening(Path(args.image).expanduser(), target=args.size or DEFAULT_SIZE, crop=crop).start()
    except GraphPhotoError as exc:
        args.opening = exc


def prepare_image(args: argparse.Namespace, settings: Settings) -> Prepared:
    """The JPEG for ``args.image`` under ``settings``: what `prepare` writes and `set` uploads."""
    from tui.core.imaging import Crop, Opening, prepare

    crop = Crop.parse(args.crop) if args.crop else None
    opening = getattr(args, "opening", None)
    if isinstance(opening, GraphPhotoError):
        raise opening
    if opening is None or opening.target != settings.size:
        opening = Opening(Path(args.image).expanduser(), target=settings.size, crop=crop)
    source = opening.result()
    return prepare(source, size=settings.size, quality=settings.quality, background=settings.background, crop=crop)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepared = prepare_image(args, settings)
    to_stdout = args.output == "-"
    if to_stdout:
        sys.stdout.flush()
        sys.stdout.buffer.write(prepared.data)
        sys.stdout.buffer.flush()
    else:
        write_output(Path(args.output).expanduser(), prepared.data, source=Path(args.image).expanduser())
    if args.json:
        import json

        report = json.dumps(prepared.as_dict(args.output))
    else:
        report = prepared.summary(args.output)
    print(report, file=sys.stderr if to_stdout else sys.stdout)
    return EXIT_OK
