"""The command line's grammar: subcommands, their options and help, parsed by argparse.

Apart from :mod:`tui.cli` so that argparse loads only after the slow part of `prepare` and `set` has started
(see ``tui.cli.main``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Sequence
from typing import Any, NoReturn

from tui import APP_NAME, __version__
from tui.core.errors import EXIT_USAGE

EXIT_CODES = """\
exit status:
  0  success                      4  user not found / no photo
  2  usage or configuration       5  input refused (bad image, unreadable file)
  3  sign-in needed or failed     6  Graph or network error
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool, hidden: bool = False) -> None:
    """Options accepted both before and after the subcommand (``default=SUPPRESS`` on the copy).

    ``hidden``: accepted but left out of the subcommand's help (`prepare` never signs in or talks to Graph).
    """
    d: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {"default": None}
    g = parser.add_argument_group("global options")

    def h(text: str) -> str:
        return argparse.SUPPRESS if hidden else text

    g.add_argument("--tenant", metavar="ID", help=h("tenant id or domain (default: organizations)"), **d)
    g.add_argument("--client-id", metavar="ID", help=h("your app registration's application (client) id"), **d)
    g.add_argument(
        "--use-graph-cli-tools-app",
        action="store_const",
        const=True,
        help=h("opt in to Microsoft's 'Graph Command Line Tools' public client id instead of your own app"),
        **d,
    )
    g.add_argument("--cloud", choices=["global", "usgov", "usgov-dod", "china"], help=h("national cloud"), **d)
    g.add_argument("--user", metavar="UPN|ID", help=h("act on another user (admins)"), **d)
    g.add_argument("--graph-url", metavar="URL", help=h("Graph root, for the emulator or a proxy"), **d)
    g.add_argument("--authority", metavar="URL", help=h("sign-in authority, for the emulator or a proxy"), **d)
    g.add_argument("--ca-bundle", metavar="FILE", help=h("extra CA certificate to trust (emulator/proxy)"), **d)
    g.add_argument("--profile", metavar="NAME", help=h("token-cache profile (default: default)"), **d)
    g.add_argument("--debug", dest="debug_log", metavar="FILE", help=h("log requests (tokens redacted)"), **d)
    g.add_argument(
        "--demo",
        action="store_const",
        const=True,
        help=h("run against the built-in Microsoft 365 emulator (no tenant needed)"),
        **d,
    )


# name -> (module in tui.commands, one-line help, description with an example)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "login": (
        "auth",
        "sign in (device code by default) and cache the token",
        "Sign in and keep the token in this profile's cache (mode 0600).\n\n"
        "examples:\n  graphphoto-tui login\n  graphphoto-tui login --paste-back\n"
        "  AZURE_CLIENT_SECRET=... graphphoto-tui login --app-only --tenant contoso.onmicrosoft.com",
    ),
    "logout": (
        "auth",
        "remove the signed-in account from the token cache",
        "Forget the signed-in account.\n\nexample:\n  graphphoto-tui logout",
    ),
    "whoami": (
        "auth",
        "show who is signed in, to which tenant, with which permissions",
        "Show the signed-in account.\n\nexamples:\n  graphphoto-tui whoami\n  graphphoto-tui whoami --json",
    ),
    "get": (
        "photo",
        "download the current photo",
        "Download a user's current photo.\n\nexamples:\n  graphphoto-tui get -o me.jpg\n"
        "  graphphoto-tui get --user adele@contoso.com -o adele.jpg --json",
    ),
    "set": (
        "photo",
        "prepare an image and upload it as the photo (backs up the old one)",
        "Prepare an image (orient, crop, resize, strip metadata) and upload it.\n"
        "The current photo is backed up first.\n\nexamples:\n  graphphoto-tui set ~/me.heic\n"
        "  graphphoto-tui set adele.jpg --user adele@contoso.com --crop 400,120,1800\n"
        "  graphphoto-tui set photo.png --dry-run -o preview.jpg",
    ),
    "prepare": (
        "prepare",
        "turn an image into exactly what would be uploaded, without uploading",
        "Write the JPEG that `set` would upload, and print a one-line summary.\n\nexamples:\n"
        "  graphphoto-tui prepare IMG_0001.HEIC -o out.jpg\n"
        "  graphphoto-tui prepare logo.png -o out.jpg --size 360 --background '#003366'",
    ),
    "remove": (
        "photo",
        "delete the photo (backs it up first)",
        "Delete a user's photo after backing it up.\n\nexamples:\n  graphphoto-tui remove\n"
        "  graphphoto-tui remove --user adele@contoso.com --yes",
    ),
    "restore": (
        "photo",
        "put a backed-up photo back (newest by default)",
        "Upload a photo from the backup history (what it replaces is backed up too).\n\nexamples:\n"
        "  graphphoto-tui restore\n  graphphoto-tui restore 20261203T101500Z-3f2a",
    ),
    "history": (
        "photo",
        "list backed-up photos",
        "List the local backup history of photos.\n\nexamples:\n  graphphoto-tui history\n"
        "  graphphoto-tui history --user adele@contoso.com --json",
    ),
    "emulator": (
        "emulator",
        "run the local Microsoft 365 emulator (identity + Graph on loopback HTTPS)",
        "Run the emulator standalone and print its URLs, CA certificate and demo users.\n\nexamples:\n"
        "  graphphoto-tui emulator --port 8443\n  graphphoto-tui emulator --faults 'seed=7,429=0.2,reset=0.05'",
    ),
}


def _add_subcommand_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "login":
        m = p.add_mutually_exclusive_group()
        m.add_argument("--paste-back", action="store_true", help="authorization code + PKCE: paste the URL back")
        m.add_argument("--app-only", action="store_true", help="client credentials (certificate or secret)")
        p.add_argument("--admin", action="store_true", help="also ask for ProfilePhoto.ReadWrite.All")
    if name in {"whoami", "get", "set", "prepare", "restore", "history", "remove", "emulator"}:
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    if name == "get":
        p.add_argument("-o", "--output", metavar="FILE", help="write the photo here ('-' for stdout)")
    if name in {"set", "prepare"}:
        p.add_argument("image", metavar="FILE", help="the image: JPEG, PNG, HEIC, WebP, GIF, BMP, TIFF, AVIF")
        p.add_argument("--size", type=int, metavar="N", help="output side in pixels (default 648)")
        p.add_argument("--quality", type=int, metavar="Q", help="JPEG quality 1-95 (default 80)")
        p.add_argument("--background", metavar="COLOR", help="fill for transparency (default white)")
        p.add_argument("--crop", metavar="X,Y,SIZE", help="square crop in source pixels (default: centred)")
    if name == "prepare":
        p.add_argument(
            "-o", "--output", metavar="FILE", required=True, help="where to write the JPEG ('-' for standard output)"
        )
    if name == "set":
        p.add_argument("--dry-run", action="store_true", help="prepare and report, upload nothing")
        p.add_argument("-o", "--output", metavar="FILE", help="with --dry-run: also write the JPEG here")
    if name == "remove":
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    if name == "restore":
        p.add_argument("backup_id", nargs="?", metavar="ID", help="backup id from `history` (default: newest)")
    if name == "history":
        p.add_argument("--all", action="store_true", help="every user, not only the target user")
    if name == "emulator":
        p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
        p.add_argument("--state-dir", metavar="DIR", help="keep state here (default: the demo state)")
        p.add_argument("--faults", metavar="SPEC", help="fault spec, e.g. 'seed=7,429=0.2,503=0.1,reset=0.05'")
        p.add_argument(
            "--approve-after", type=float, default=None, metavar="S", help="auto-approve device codes after S s"
        )


def build_parser(only: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, the other subcommands are listed but get no options (each costs ~1 ms of
    start-up, which `prepare` in a loop over a folder would pay every time)."""
    parser = _Parser(
        prog=APP_NAME,
        formatter_class=_Formatter,
        description=(
            "See and change Microsoft 365 profile photos from a terminal.\n"
            "Without a subcommand it starts the keyboard-only app."
        ),
        epilog=(
            "examples:\n"
            "  graphphoto-tui --demo                 try it against the built-in emulator\n"
            "  graphphoto-tui --tenant contoso.onmicrosoft.com --client-id <app id>\n"
            "  graphphoto-tui set photo.heic --user adele@contoso.com\n\n" + EXIT_CODES
        ),
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    _global_options(parser, suppress=False)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_module, summary, description) in SUBCOMMANDS.items():
        sub = subs.add_parser(
            name, help=summary, description=description, formatter_class=_Formatter, epilog=EXIT_CODES
        )
        if only is None or name in only:
            _add_subcommand_arguments(name, sub)
            _global_options(sub, suppress=True, hidden=name == "prepare")
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; an unknown argument is reported by the subcommand it was given to, with a likely correction."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only={word for word in argv if word in SUBCOMMANDS})
    args, extra = parser.parse_known_args(argv)
    if extra:
        prog = f"{APP_NAME} {args.command}" if args.command else APP_NAME
        target = parser
        if args.command:
            subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            target = subs.choices[args.command]
        import difflib

        known = [opt for action in target._actions for opt in action.option_strings]
        close = difflib.get_close_matches(extra[0].split("=", 1)[0], known, n=1) if extra[0].startswith("-") else []
        hint = f"; did you mean {close[0]}?" if close else ""
        parser.exit(EXIT_USAGE, f"{prog}: unrecognized arguments: {' '.join(extra)}{hint} (see '{prog} --help')\n")
    return args
