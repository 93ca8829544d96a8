"""One exception family whose message is always a single sentence fit for the user.

Every error that can reach a user derives from :class:`GraphPhotoError`. The CLI prints ``str(err)`` on one
line and exits with ``err.exit_code``; the app shows the same sentence in a notification. The exit codes are
documented in the README and are part of the scripting contract, so they never change meaning.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # anything not covered below
EXIT_USAGE = 2  # bad flags, bad configuration
EXIT_SIGN_IN = 3  # no valid sign-in; run `graphphoto-tui login`
EXIT_NOT_FOUND = 4  # user not found, or no photo where one was needed
EXIT_REFUSED_INPUT = 5  # the image (or another input file) was refused
EXIT_GRAPH = 6  # Graph (or the network) failed the request
EXIT_CANCELLED = 130


class GraphPhotoError(Exception):
    """Base class: ``str(err)`` is one sentence with no traceback, safe to show (never holds a token)."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(GraphPhotoError):
    """A setting has a bad value; the message names the setting and where the value came from."""

    exit_code = EXIT_USAGE

    def __init__(self, setting: str, value: object, source: str, problem: str) -> None:
        super().__init__(f"invalid {setting} {value!r} (from {source}): {problem}")
        self.setting = setting
        self.source = source


class UsageError(GraphPhotoError):
    exit_code = EXIT_USAGE


class AuthError(GraphPhotoError):
    """Signing in failed or is needed. The message says why and what to do next."""

    exit_code = EXIT_SIGN_IN


class NotFoundError(GraphPhotoError):
    exit_code = EXIT_NOT_FOUND


class ImageError(GraphPhotoError):
    """The photo pipeline refused an input file; nothing was sent."""

    exit_code = EXIT_REFUSED_INPUT


class GraphError(GraphPhotoError):
    """Graph (or the transport under it) failed a request.

    ``sentence`` is what the user reads; ``code``, ``status`` and ``request_id`` are kept for reports and tests.
    """

    exit_code = EXIT_GRAPH

    def __init__(
        self,
        sentence: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        text = sentence
        if request_id:
            text = f"{sentence} (request-id {request_id})"
        super().__init__(text)
        self.sentence = sentence
        self.status = status
        self.code = code
        self.request_id = request_id


class NetworkError(GraphError):
    """No answer at all from Graph or the sign-in service (DNS, refused, reset, timeout after retries).

    Its own class because the app treats it differently from an answered error: it keeps showing the last
    synced data and says it is offline, rather than asking to sign in again.
    """


class CancelledError(GraphPhotoError):
    exit_code = EXIT_CANCELLED
