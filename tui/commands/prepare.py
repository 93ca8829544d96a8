"""`graphphoto-tui prepare`: write exactly the JPEG that `set` would upload, and say what was done to it."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from tui.core import files
from tui.core.errors import EXIT_OK, GraphPhotoError, UsageError

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from tui.core.config import Settings
    from tui.core.imaging import Opening, Prepared

# Writes its output atomically and closes it, prints its line and starts no thread that outlives run(): nothing
# for the interpreter's teardown to finish, which the CLI then skips (see tui.cli._exit_now).
QUICK_EXIT = True


def output_path(output: str) -> Path:
    """The file named by ``-o``; an empty name would mean the current folder."""
    from pathlib import Path

    if not output:
        raise UsageError("-o needs a file name ('-' for standard output)")
    return Path(output).expanduser()


def write_output(path: Path, data: bytes, *, source: Path | None = None) -> None:
    """Write the JPEG a user asked for with ``-o``, atomically: never half a JPEG under the final name.

    A symlink is followed (its target is replaced, the link kept); anything but a regular file is refused, since
    renaming over ``/dev/full`` or a FIFO would destroy it; so is ``source`` under any name (a symlink, a hard
    link): ``prepare me.jpg -o me.jpg`` would replace the original with a 648 px crop. An existing file keeps its
    permissions.
    """
    try:
        path = path.resolve()
    except RuntimeError:  # Python 3.11 raises this for a symlink loop
        raise UsageError(f"cannot write {path}: too many levels of symbolic links") from None
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


_SWITCH_INTERVAL = sys.getswitchinterval()


class Early(NamedTuple):
    """An image opened before argparse ran, with the command-line values it was opened for."""

    image: str
    size: int | None
    crop: str | None
    opening: Opening | GraphPhotoError  # a refusal is kept for prepare_image() to raise, after the settings


def open_early(words: Iterable[str]) -> Early | None:
    """Open the image a `prepare`/`set` command line names, reading the words after the subcommand by hand.

    The image is taken to be the first word that is neither an option nor the word after an option written
    without ``=``: ``--json photo.jpg`` guesses nothing, and the image is opened after parsing as before.
    ``--size`` and ``--crop`` change how the image is decoded, so they are read too. :func:`begin` uses the
    result only when argparse reads the same three values; a wrong guess costs a wasted decode, never a wrong
    photo.
    """
    image: str | None = None
    values: dict[str, str] = {}
    previous = ""
    for word in words:
        if word == "--":
            return None
        if previous in ("--size", "--crop"):
            values[previous] = word
        elif word.startswith(("--size=", "--crop=")):
            name, _, value = word.partition("=")
            values[name] = value
        elif image is None and not word.startswith("-") and not (previous.startswith("-") and "=" not in previous):
            image = word
        previous = word
    size_text, crop = values.get("--size"), values.get("--crop")
    try:
        size = int(size_text) if size_text is not None else None
    except ValueError:  # argparse says so, after parsing
        return None
    if image is None:
        return None
    return Early(image, size, crop, open_image(image, size, crop))


def open_image(image: str, size: int | None = None, crop_text: str | None = None) -> Opening | GraphPhotoError:
    """Check the file and its header now and decode the pixels on a thread (see :class:`tui.core.imaging.Opening`)."""
    from tui.core.imaging import DEFAULT_SIZE, Crop, Opening

    # The decode thread takes the GIL back twice (after reading the file, after decoding it); while this thread
    # parses the command line and loads the settings, each wait lasts up to the 5 ms default switch interval.
    # prepare_image() puts the default back.
    sys.setswitchinterval(0.0005)
    try:
        crop = Crop.parse(crop_text) if crop_text else None
        return Opening(os.path.expanduser(image), target=size or DEFAULT_SIZE, crop=crop).start()
    except GraphPhotoError as exc:
        return exc


def begin(args: argparse.Namespace, early: Early | None = None) -> None:
    """Start opening the image before the settings load (see ``tui.cli.main``): its decode runs meanwhile.

    ``early`` (see :func:`open_early`) is used when argparse read the same image, size and crop. The target
    size is the ``--size`` flag or the default; :func:`prepare_image` opens again in the rare case the settings
    (environment, config file) chose another. Any refusal waits for :func:`prepare_image`, so a bad setting is
    still reported first.
    """
    if early is not None and (early.image, early.size, early.crop) == (args.image, args.size, args.crop):
        args.opening = early.opening
    else:
        args.opening = open_image(args.image, args.size, args.crop)


def prepare_image(args: argparse.Namespace, settings: Settings) -> Prepared:
    """The JPEG for ``args.image`` under ``settings``: what `prepare` writes and `set` uploads."""
    from pathlib import Path  # not at import: `open_image` starts the decode first (see tui.cli._open_early)

    from tui.core.imaging import Crop, Opening, prepare

    crop = Crop.parse(args.crop) if args.crop else None
    opening = getattr(args, "opening", None)
    if isinstance(opening, GraphPhotoError):
        raise opening
    if opening is None or opening.target != settings.size:
        opening = Opening(Path(args.image).expanduser(), target=settings.size, crop=crop)
    source = opening.result()
    sys.setswitchinterval(_SWITCH_INTERVAL)
    return prepare(source, size=settings.size, quality=settings.quality, background=settings.background, crop=crop)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    prepared = prepare_image(args, settings)
    to_stdout = args.output == "-"
    if to_stdout:
        sys.stdout.flush()
        sys.stdout.buffer.write(prepared.data)
        sys.stdout.buffer.flush()
    else:
        write_output(output_path(args.output), prepared.data, source=Path(args.image).expanduser())
    if args.json:
        import json

        report = json.dumps(prepared.as_dict(args.output))
    else:
        report = prepared.summary(args.output)
    print(report, file=sys.stderr if to_stdout else sys.stdout)
    return EXIT_OK
