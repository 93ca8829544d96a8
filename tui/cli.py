"""The command line: one entry point, the app by default, subcommands for scripting.

This module imports only the standard library and ``tui.core.errors`` at start-up: ``--help`` and the
non-interactive subcommands must not pay for Textual or MSAL. The grammar is in :mod:`tui.arguments`; each
subcommand's work lives in ``tui.commands.<module>`` and is imported only when that subcommand runs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from tui import APP_NAME
from tui.core.errors import EXIT_CANCELLED, EXIT_USAGE, GraphPhotoError, UsageError

if TYPE_CHECKING:
    from tui.commands.prepare import Early

FLAG_SETTINGS = (
    "tenant",
    "client_id",
    "use_graph_cli_tools_app",
    "cloud",
    "user",
    "graph_url",
    "authority",
    "ca_bundle",
    "profile",
    "debug_log",
    "size",
    "quality",
    "background",
)


def _cancel(*_: object) -> None:
    """SIGTERM/SIGHUP: cancel exactly as Ctrl+C does.

    Through SIGINT, so that asyncio's own handler cancels the running task and its cleanup (audit line) runs.
    A shell starts `cmd &` from a script with SIGINT *ignored*, where raising it would do nothing: then the
    interrupt is raised here directly.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


def _exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: ~10 ms, 8 % of a `prepare`, go on tearing down
    Pillow's modules (enums with hundreds of members) after the work is done and written."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None: started with it closed (>&-)
            stream.flush()
    os._exit(code)


def _open_early(argv: list[str]) -> Early | None:
    """For `prepare` and `set`: start decoding the image before argparse has even loaded.

    The decode (~40 ms of a 12 MP JPEG, which libjpeg runs without the GIL) is the longest step of a `prepare`,
    and all it needs is the image's name: parsing the command line and loading the settings (~20 ms) then happen
    meanwhile (see ``tui.commands.prepare.open_early``).
    """
    words = iter(argv)
    if not any(word in ("prepare", "set") for word in words):
        return None
    from tui.commands.prepare import open_early

    return open_early(words)


def entry() -> NoReturn:
    """The console script and ``python -m tui``: :func:`main`, then the exit status."""
    sys.exit(main(quick_exit=True))


def main(argv: Sequence[str] | None = None, *, quick_exit: bool = False) -> int:
    """Run one command and return its exit status.

    ``quick_exit`` (the console script) lets a command whose module sets ``QUICK_EXIT = True`` (it leaves no
    file, log or thread to be finished at exit) end the process at once once it has succeeded.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    module = None
    try:
        early = _open_early(argv)
        from tui.arguments import SUBCOMMANDS, parse

        args = parse(argv)
        module = importlib.import_module(f"tui.commands.{SUBCOMMANDS[args.command][0]}") if args.command else None
        if hasattr(module, "begin"):
            # Local work that needs no settings starts first and goes on while they load: `prepare` and `set`
            # decode their image on a thread (libjpeg runs without the GIL); errors wait for module.run().
            module.begin(args, early)
        from tui.core.config import load_settings

        flags = {name: getattr(args, name, None) for name in FLAG_SETTINGS}
        flags["demo"] = bool(getattr(args, "demo", None))
        settings = load_settings(flags)
        with contextlib.ExitStack() as stack:
            if settings.demo and args.command not in {"emulator", "prepare"}:  # those two never sign in
                from tui.emulator.demo import start_demo

                settings, emu = start_demo(settings)
                stack.callback(emu.stop)
            if args.command is None:
                from tui.app import run_app  # the only path that imports Textual

                return run_app(settings)
            from tui.core.text import PrintableStream

            # names and messages can come from Graph: nothing printed may drive the terminal (JSON is escaped)
            if sys.stdout is not None and sys.stderr is not None:  # None: started with the stream closed (>&-)
                sys.stdout, sys.stderr = PrintableStream(sys.stdout), PrintableStream(sys.stderr)  # type: ignore[assignment]
            for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:  # kill, or the SSH link dropping: cancel as Ctrl+C does, audit included
                    signal.signal(sig, _cancel)
            if getattr(args, "output", None) == "-" and sys.stdout.isatty():
                raise UsageError("refusing to write image bytes to a terminal: redirect stdout, or use -o FILE")
            code = int(module.run(args, settings))
            if sys.stdout is not None:
                sys.stdout.flush()  # a full disk (> /dev/full) is reported here, not at exit
        if quick_exit and getattr(module, "QUICK_EXIT", False):
            _exit_now(code)
        return code
    except GraphPhotoError as exc:
        print(f"{APP_NAME}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        said = getattr(module, "cancel_message", lambda: None)()
        print(f"{APP_NAME}: {said or 'cancelled'}", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        # `graphphoto-tui history | head`: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # Every input, file and network problem is a GraphPhotoError by now: what is left is the output itself,
        # standard output on a full disk or a vanished terminal. What could not be written is dropped, so the
        # interpreter's own flush at exit does not fail again.
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"{APP_NAME}: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
