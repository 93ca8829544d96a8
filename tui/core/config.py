"""Configuration in one place: flags > environment > TOML file > defaults.

Every value remembers where it came from, so a bad value is reported as one line that names the setting and
its source (``invalid quality '120' (from GRAPHPHOTO_QUALITY): ...``). The loader is table-driven: adding a
setting is one :class:`Option` row, and the flag, the environment variable and the TOML key follow from it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from tui import APP_NAME
from tui.core.errors import ConfigError

# NamedTuple, not @dataclass: every command loads this, and `dataclasses` imports `inspect` (ast, dis, tokenize),
# ~10 ms of a ~170 ms `prepare` or of `--help` (the commands that talk to Graph load dataclasses anyway).


class Cloud(NamedTuple):
    """A national cloud: the authority host, Graph host and scope host always switch together."""

    name: str
    authority_host: str
    graph_host: str


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": Cloud("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "usgov-dod": Cloud("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": Cloud("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
}

#: The "Microsoft Graph Command Line Tools" public client. Only ever used as an explicit, named opt-in.
GRAPH_CLI_TOOLS_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

# --- value parsers: each returns the parsed value or raises ValueError with the problem -------------------


def _str(value: Any) -> str:
    if not isinstance(value, str):  # TOML can hold numbers and lists; flags and the environment are text
        raise ValueError(f"must be a string, not a TOML {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if "\x00" in text:  # TOML's \u0000: the OS would refuse it later, with a traceback
        raise ValueError("must not contain a NUL character")
    return text


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not lo <= number <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return number

    return parse


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


def _cloud(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in CLOUDS:
        raise ValueError(f"must be one of {', '.join(CLOUDS)}")
    return text


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # only http:// URLs get here

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(value: Any) -> str:
    text = _str(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError("must be an https:// URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("http:// is allowed only for loopback hosts (127.0.0.1, ::1, localhost)")
    return text


def _token(value: Any) -> str:
    text = _str(value)
    text = text[7:].strip() if text[:7].lower() == "bearer " else text
    if not text or any(not 33 <= ord(ch) <= 126 for ch in text):  # httpx would fail late, as a network error
        raise ValueError("must be one access token: printable ASCII, no spaces or line breaks")
    return text


def _path(value: Any) -> Path:
    return Path(os.path.expanduser(_str(value)))


def _color(value: Any) -> str:
    from PIL import ImageColor  # Pillow only; cheap next to Textual

    text = _str(value)
    try:
        ImageColor.getrgb(text)
    except ValueError:
        raise ValueError("must be a colour name or #rrggbb") from None
    return text


class Option(NamedTuple):
    """One setting: its name (also the TOML key), parser, default and environment variables, in order."""

    name: str
    parse: Callable[[Any], Any]
    default: Any = None
    env: tuple[str, ...] = ()
    secret: bool = False  # never echoed in an error message


OPTIONS: tuple[Option, ...] = (
    Option("tenant", _str, "organizations", ("GRAPHPHOTO_TENANT", "AZURE_TENANT_ID")),
    Option("client_id", _str, None, ("GRAPHPHOTO_CLIENT_ID", "AZURE_CLIENT_ID")),
    Option("use_graph_cli_tools_app", _bool, False, ("GRAPHPHOTO_USE_GRAPH_CLI_TOOLS_APP",)),
    Option("cloud", _cloud, "global", ("GRAPHPHOTO_CLOUD",)),
    Option("graph_url", _url, None, ("GRAPHPHOTO_GRAPH_URL",)),
    Option("authority", _url, None, ("GRAPHPHOTO_AUTHORITY",)),
    Option("ca_bundle", _path, None, ("GRAPHPHOTO_CA_BUNDLE",)),
    Option("user", _str, None, ("GRAPHPHOTO_USER",)),
    Option("profile", _str, "default", ("GRAPHPHOTO_PROFILE",)),
    Option("client_secret", _str, None, ("GRAPHPHOTO_CLIENT_SECRET", "AZURE_CLIENT_SECRET"), secret=True),
    Option(
        "client_certificate_path",
        _path,
        None,
        ("GRAPHPHOTO_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PATH"),
    ),
    Option(
        "client_certificate_password",
        _str,
        None,
        ("GRAPHPHOTO_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
        secret=True,
    ),
    Option("access_token", _token, None, ("GRAPHPHOTO_ACCESS_TOKEN",), secret=True),
    Option("size", _int_range(48, 4096), 648, ("GRAPHPHOTO_SIZE",)),
    Option("quality", _int_range(1, 95), 80, ("GRAPHPHOTO_QUALITY",)),
    Option("background", _color, "white", ("GRAPHPHOTO_BACKGROUND",)),
    Option("debug_log", _path, None, ("GRAPHPHOTO_DEBUG_LOG",)),
    Option("max_retry_wait", _int_range(0, 3600), 120, ("GRAPHPHOTO_MAX_RETRY_WAIT",)),
)
OPTION_BY_NAME = {opt.name: opt for opt in OPTIONS}


def config_file_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("GRAPHPHOTO_CONFIG"):
        return Path(os.path.expanduser(env["GRAPHPHOTO_CONFIG"]))
    if env.get("GRAPHPHOTO_HOME"):
        return Path(env["GRAPHPHOTO_HOME"]) / "config.toml"
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / "config.toml"


class Settings(NamedTuple):
    """The resolved configuration. ``sources`` maps each setting to where its value came from."""

    tenant: str = "organizations"
    client_id: str | None = None
    use_graph_cli_tools_app: bool = False
    cloud: str = "global"
    graph_url: str | None = None
    authority: str | None = None
    ca_bundle: Path | None = None
    user: str | None = None
    profile: str = "default"
    client_secret: str | None = None
    client_certificate_path: Path | None = None
    client_certificate_password: str | None = None
    access_token: str | None = None
    size: int = 648
    quality: int = 80
    background: str = "white"
    debug_log: Path | None = None
    max_retry_wait: int = 120
    demo: bool = False
    sources: Mapping[str, str] = MappingProxyType({})

    def __repr__(self) -> str:
        """Secrets never reach a log or a traceback, even through a repr."""
        secret = {opt.name for opt in OPTIONS if opt.secret}
        shown = ", ".join(
            f"{name}={'***' if name in secret and value else repr(value)}"
            for name, value in self._asdict().items()
            if name != "sources"
        )
        return f"Settings({shown})"

    # --- derived values --------------------------------------------------------------------------------

    @property
    def cloud_info(self) -> Cloud:
        return CLOUDS[self.cloud]

    @property
    def graph_base(self) -> str:
        """Graph root without the version, e.g. ``https://graph.microsoft.com``."""
        base = self.graph_url or self.cloud_info.graph_host
        return base.removesuffix("/v1.0").removesuffix("/beta")

    @property
    def authority_url(self) -> str:
        """The MSAL authority, e.g. ``https://login.microsoftonline.com/contoso.onmicrosoft.com``."""
        if self.authority:
            return self.authority
        return f"{self.cloud_info.authority_host}/{self.tenant}"

    @property
    def scope_host(self) -> str:
        """Scopes written with a host must use the cloud's own Graph host (or the emulator's)."""
        return self.graph_base

    @property
    def effective_client_id(self) -> str | None:
        if self.client_id:
            return self.client_id
        if self.use_graph_cli_tools_app:
            return GRAPH_CLI_TOOLS_CLIENT_ID
        return None

    @property
    def app_only(self) -> bool:
        return bool(self.client_secret or self.client_certificate_path)

    def replace(self, **changes: Any) -> Settings:
        sources = dict(self.sources)
        for key in changes:
            sources.setdefault(key, "program")
        return self._replace(sources=MappingProxyType(sources), **changes)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve every setting by precedence. Raises :class:`ConfigError` on the first bad value.

    ``flags`` holds only options the user actually gave (``None`` means "not given").
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    path = config_file or config_file_path(env)
    file_values: dict[str, Any] = {}
    if env.get("GRAPHPHOTO_CONFIG") and config_file is None and not path.is_file():
        raise ConfigError("config file", str(path), "GRAPHPHOTO_CONFIG", "no such file")
    if path.is_file():
        if sys.version_info >= (3, 11):  # imported here: most runs have no config file
            import tomllib
        else:  # pragma: no cover - exercised on 3.10 only
            import tomli as tomllib
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("config file", str(path), str(path), f"cannot be read: {exc}") from None
        unknown = sorted(set(file_values) - set(OPTION_BY_NAME) - {"demo"})
        if unknown:
            raise ConfigError("setting", unknown[0], str(path), f"unknown; known settings: {', '.join(OPTION_BY_NAME)}")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        raw, source = _pick(opt, flags, env, file_values, path)
        if source == "default":
            values[opt.name] = opt.default
            sources[opt.name] = source
            continue
        try:
            values[opt.name] = opt.parse(raw)
        except ValueError as exc:
            shown = "***" if opt.secret else raw
            raise ConfigError(opt.name.replace("_", "-"), shown, source, str(exc)) from None
        sources[opt.name] = source
    values["demo"] = bool(flags.get("demo", False))
    return Settings(**values, sources=MappingProxyType(sources))


def _pick(
    opt: Option, flags: Mapping[str, Any], env: Mapping[str, str], file_values: Mapping[str, Any], path: Path
) -> tuple[Any, str]:
    if opt.name in flags:
        return flags[opt.name], f"--{opt.name.replace('_', '-')}"
    for var in opt.env:
        if env.get(var, "") != "":
            return env[var], var
    if opt.name in file_values:
        return file_values[opt.name], str(path)
    return opt.default, "default"


def command_hint(settings: Settings, *words: str) -> str:
    """The exact command to type next with these settings: the demo needs ``--demo`` to reach its emulator."""
    return " ".join([APP_NAME, *(["--demo"] if settings.demo else []), *filter(None, words)])


# --- user directories --------------------------------------------------------------------------------


def _private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) 0700; tighten it if it already exists with looser bits."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def cache_dir() -> Path:
    """Synced profiles and photos (safe to delete). ``GRAPHPHOTO_HOME`` relocates every directory (tests)."""
    home = os.environ.get("GRAPHPHOTO_HOME")
    if home:
        return _private_dir(_private_dir(Path(home)) / "cache")
    from platformdirs import user_cache_path

    return _private_dir(user_cache_path(APP_NAME))


def state_dir() -> Path:
    """Token caches, photo backups, the audit log and the demo emulator's state (keep)."""
    home = os.environ.get("GRAPHPHOTO_HOME")
    if home:
        return _private_dir(_private_dir(Path(home)) / "state")
    from platformdirs import user_state_path

    return _private_dir(user_state_path(APP_NAME))


def private_subdir(parent: Path, *names: str) -> Path:
    return _private_dir(parent.joinpath(*names))
