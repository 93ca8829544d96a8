"""The command line as a script sees it: help with examples, one-line errors, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from tui.arguments import SUBCOMMANDS
from tui.cli import main
from tui.core.config import load_settings
from tui.core.errors import ConfigError


def test_help_lists_every_subcommand_with_examples() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout
    assert "examples:" in result.stdout
    assert "--demo" in result.stdout


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_help_has_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert f"graphphoto-tui {name}" in out or (name in {"logout", "whoami"} and "graphphoto-tui" in out)


def test_prepare_help_shows_only_what_prepare_uses(capsys: pytest.CaptureFixture[str]) -> None:
    """`prepare` never signs in: sign-in options are accepted there (scripts pass them everywhere), not listed."""
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    out = capsys.readouterr().out
    assert "--tenant" not in out and "--client-id" not in out and "global options" not in out
    assert "'-' for standard output" in out
    with pytest.raises(SystemExit):
        main(["set", "--help"])
    assert "--tenant" in capsys.readouterr().out


def test_unknown_option_is_one_line_and_status_2() -> None:
    result = run_cli("--frobnicate")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--frobnicate" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_environment_value_names_setting_and_source() -> None:
    result = run_cli("whoami", env={"GRAPHPHOTO_QUALITY": "120"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "quality" in result.stderr and "GRAPHPHOTO_QUALITY" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_file_value_names_the_file(isolated_home: Path) -> None:
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('cloud = "mars"\n')
    result = run_cli("whoami")
    assert result.returncode == 2
    assert "cloud" in result.stderr and "config.toml" in result.stderr


def test_plain_http_only_for_loopback() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        load_settings({"graph_url": "http://graph.example.com"}, env={})
    assert load_settings({"graph_url": "http://127.0.0.1:8080"}, env={}).graph_base == "http://127.0.0.1:8080"


def test_precedence_flags_over_env_over_file_over_default(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('tenant = "from-file"\nquality = 70\nsize = 360\n')
    env = {"AZURE_TENANT_ID": "from-azure-env", "GRAPHPHOTO_QUALITY": "85"}
    s = load_settings({"tenant": "from-flag"}, env=env, config_file=cfg)
    assert (s.tenant, s.sources["tenant"]) == ("from-flag", "--tenant")
    assert (s.quality, s.sources["quality"]) == (85, "GRAPHPHOTO_QUALITY")
    assert (s.size, s.sources["size"]) == (360, str(cfg))
    assert (s.background, s.sources["background"]) == ("white", "default")
    s2 = load_settings({}, env={"AZURE_TENANT_ID": "t2", "GRAPHPHOTO_TENANT": "t1"}, config_file=cfg)
    assert s2.tenant == "t1"


def test_cloud_switches_authority_graph_and_scope_hosts_together() -> None:
    s = load_settings({"cloud": "usgov-dod", "tenant": "contoso.onmicrosoft.us"}, env={})
    assert s.authority_url == "https://login.microsoftonline.us/contoso.onmicrosoft.us"
    assert s.graph_base == "https://dod-graph.microsoft.us"
    assert s.scope_host == "https://dod-graph.microsoft.us"
    china = load_settings({"cloud": "china"}, env={})
    assert china.graph_base == "https://microsoftgraph.chinacloudapi.cn"
    assert china.authority_url.startswith("https://login.chinacloudapi.cn/")


def test_secret_values_are_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({}, env={"GRAPHPHOTO_ACCESS_TOKEN": "   "})
    assert "must not be empty" in str(err.value)


def test_directories_are_private(isolated_home: Path) -> None:
    from tui.core.config import cache_dir, state_dir

    for d in (cache_dir(), state_dir()):
        assert d.stat().st_mode & 0o777 == 0o700


def test_a_mistyped_option_is_reported_by_its_subcommand_with_a_suggestion() -> None:
    result = run_cli("set", "photo.jpg", "--qualty", "50")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "did you mean --quality?" in result.stderr and "'graphphoto-tui set --help'" in result.stderr


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    result = run_cli("history", env={"GRAPHPHOTO_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 2 and "nope.toml" in result.stderr and "GRAPHPHOTO_CONFIG" in result.stderr


def test_home_itself_is_private(isolated_home: Path) -> None:
    from tui.core.config import state_dir

    state_dir()
    assert isolated_home.stat().st_mode & 0o777 == 0o700


def test_image_bytes_are_never_written_to_a_terminal(samples: Path) -> None:
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tui", "prepare", str(samples / "photos" / "hopper.png"), "-o", "-"],
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2 and "terminal" in result.stderr


def test_demo_hints_name_the_demo(samples: Path) -> None:
    """With --demo, every command a message suggests must itself carry --demo, or it would go to a real tenant."""
    result = run_cli("--demo", "set", str(samples / "photos" / "hopper.png"), "--user", "adele@example.com")
    assert result.returncode == 3
    assert "`graphphoto-tui --demo login" in result.stderr
    result = run_cli("--demo", "restore", "no-such-backup")
    assert result.returncode == 4 and "`graphphoto-tui --demo history --all`" in result.stderr


def test_wrong_toml_types_and_malformed_tokens_are_refused_at_once(isolated_home: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('client_id = ["a"]\n')
    with pytest.raises(ConfigError, match=r"client-id .* must be a string"):
        load_settings({}, env={}, config_file=cfg)
    with pytest.raises(ConfigError) as err:
        load_settings({}, env={"GRAPHPHOTO_ACCESS_TOKEN": "abc\ndef"})
    assert "GRAPHPHOTO_ACCESS_TOKEN" in str(err.value) and "abc" not in str(err.value)
    assert load_settings({}, env={"GRAPHPHOTO_ACCESS_TOKEN": "Bearer abc.def"}).access_token == "abc.def"
    cfg.write_text('debug_log = "/tmp/x\\u0000b"\nca_bundle = "a\\u0000b"\n')  # TOML can spell a NUL
    with pytest.raises(ConfigError, match=r"NUL"):
        load_settings({}, env={}, config_file=cfg)


def test_debug_log_in_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    log = str(tmp_path / "nowhere" / "x.log")
    result = run_cli("get", "-o", str(tmp_path / "p.jpg"), "--debug", log, env={"GRAPHPHOTO_ACCESS_TOKEN": "x.y.z"})
    assert result.returncode == 2 and "cannot be written" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_demo_backups_stay_out_of_a_real_tenants_history(samples: Path) -> None:
    from tui.core.history import History

    History(demo=True).save(b"\xff\xd8demo", reason="before replace", user_id="u-demo", upn="megan@contoso-demo.test")
    real = run_cli("history", "--all", "--json")
    demo = run_cli("--demo", "history", "--all", "--json")
    assert real.returncode == demo.returncode == 0, real.stderr + demo.stderr
    assert json.loads(real.stdout) == [] and [b["upn"] for b in json.loads(demo.stdout)] == ["megan@contoso-demo.test"]
