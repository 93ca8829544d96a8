"""`graphphoto-tui prepare`: write exactly the JPEG that `set` would upload, and say what was done to it."""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from pathlib import Path

from tui.core import files
from tui.core.config import Settings
from tui.core.errors import EXIT_OK, UsageError


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


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tui.core.imaging import Crop, open_source, prepare

    crop = Crop.parse(args.crop) if args.crop else None
    image = Path(args.image).expanduser()
    source = open_source(image, target=settings.size, crop=crop)
    prepared = prepare(source, size=settings.size, quality=settings.quality, background=settings.background, crop=crop)
    to_stdout = args.output == "-"
    if to_stdout:
        sys.stdout.flush()
        sys.stdout.buffer.write(prepared.data)
        sys.stdout.buffer.flush()
    else:
        write_output(Path(args.output).expanduser(), prepared.data, source=image)
    if args.json:
        import json

        report = json.dumps(prepared.as_dict(args.output))
    else:
        report = prepared.summary(args.output)
    print(report, file=sys.stderr if to_stdout else sys.stdout)
    return EXIT_OK
