"""The scripting commands as a script runs them: a subprocess against the emulator, exit codes, stdout vs stderr."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import device_sign_in

from tui.core.history import AuditLog, History
from tui.emulator import Emulator

ADMIN_SCOPES = ("User.ReadWrite", "User.Read.All", "ProfilePhoto.ReadWrite.All")


def emulator_env(emu: Emulator) -> dict[str, str]:
    return {**os.environ, **{f"GRAPHPHOTO_{k.upper()}": v for k, v in emu.client_flags().items()}}


def cli(emu: Emulator | None, *args: str, upn: str | None = None, scopes: tuple[str, ...] = ADMIN_SCOPES):
    env = emulator_env(emu) if emu else dict(os.environ)
    if emu and upn:
        env["GRAPHPHOTO_ACCESS_TOKEN"] = emu.issue_token(upn=upn, scopes=scopes)
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # what cron or a pipeline gives: never a prompt
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def changes(emu: Emulator) -> list[dict]:
    return [r for r in emu.request_log() if r["method"] in {"PUT", "PATCH", "DELETE"}]


def test_admin_sets_removes_and_restores_another_user_from_the_command_line(emulator: Emulator, samples: Path) -> None:
    emu, member = emulator, emulator.member_upn
    name = emu.user(member)["displayName"]
    original = emu.photo(member)
    image = str(samples / "photos" / "Portrait_5.jpg")

    done = cli(emu, "set", image, "--user", member, "--json", upn=emu.admin_upn)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["upn"] == member and result["etag"] == emu.photo_etag(member)
    assert changes(emu)[-1]["body_sha256"] == result["sha256"]

    refused = cli(emu, "remove", "--user", member, upn=emu.admin_upn)
    assert refused.returncode == 2 and "--yes" in one_line(refused) and name in refused.stderr
    assert emu.photo(member) is not None and len(changes(emu)) == 1

    removed = cli(emu, "remove", "--user", member, "--yes", upn=emu.admin_upn)
    assert removed.returncode == 0, removed.stderr
    assert emu.photo(member) is None and "restore" in removed.stdout

    listed = cli(None, "history", "--user", member, "--json")  # offline: no network, no sign-in
    backups = json.loads(listed.stdout)
    assert [b["reason"] for b in backups] == ["before remove", "before replace"]
    first = backups[1]
    assert first["sha256"] == hashlib.sha256(original).hexdigest() and first["operator"] == emu.admin_upn

    restored = cli(emu, "restore", first["id"], upn=emu.admin_upn)  # no --user: the backup says whose it is
    assert restored.returncode == 0, restored.stderr
    assert first["id"] in restored.stdout and name in restored.stdout
    put = changes(emu)[-1]
    assert put["method"] == "PUT" and member not in put["path"] and emu.user(member)["id"] in put["path"]
    assert put["body_sha256"] == first["sha256"]  # exactly the saved bytes went back

    entries = AuditLog().entries()
    assert [(e.action, e.result) for e in entries] == [("replace", "ok"), ("remove", "ok"), ("restore", "ok")]
    assert all(e.target_upn == member and e.operator == emu.admin_upn and e.request_id for e in entries)
    assert entries[1].backup_id == backups[0]["id"] and entries[2].sha256 == first["sha256"]

    written = [AuditLog().path.read_text(), *(p.read_text() for p in History().root.glob("*.json"))]
    said = [r.stdout + r.stderr for r in (done, refused, removed, listed, restored)]
    assert not [text for text in written + said if "eyJ" in text]  # no JWT (token) anywhere

    mine = cli(emu, "history", upn=emu.admin_upn)  # no --user: the signed-in admin's own backups only
    assert mine.returncode == 0 and mine.stdout == "" and emu.admin_upn in one_line(mine)
    every = cli(None, "history", "--all")
    assert [line.split()[0] for line in every.stdout.splitlines()] == [b["id"] for b in backups]


def test_get_writes_exactly_what_graph_serves(emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "adele.jpg"
    got = cli(emulator, "get", "--user", emulator.member_upn, "-o", str(out), "--json", upn=emulator.admin_upn)
    assert got.returncode == 0, got.stderr
    info = json.loads(got.stdout)
    assert out.read_bytes() == emulator.photo(emulator.member_upn)
    assert info["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() and info["output"] == str(out)
    raw = subprocess.run(
        [sys.executable, "-m", "tui", "get", "-o", "-"],
        env={**emulator_env(emulator), "GRAPHPHOTO_ACCESS_TOKEN": emulator.issue_token(upn=emulator.admin_upn)},
        capture_output=True,
        timeout=60,
    )
    assert raw.returncode == 0 and raw.stdout == emulator.photo(emulator.admin_upn)  # the summary went to stderr


def test_member_is_refused_on_someone_else_and_nothing_changes(emulator: Emulator, samples: Path) -> None:
    emu = emulator
    before = emu.photo(emu.admin_upn)
    image = str(samples / "photos" / "hopper.png")
    for args in (("set", image), ("remove", "--yes")):
        refused = cli(emu, *args, "--user", emu.admin_upn, upn=emu.member_upn)
        assert refused.returncode == 6
        line = one_line(refused)
        assert "denied" in line and "Administrator" in line and "request-id" in line
    assert emu.photo(emu.admin_upn) == before
    assert [(e.action, e.result, e.error_code) for e in AuditLog().entries()] == [
        ("replace", "failed", "ErrorAccessDenied"),
        ("remove", "failed", "ErrorAccessDenied"),
    ]
    assert all(History().read(b) == before for b in History().list())


def test_exit_codes_for_missing_photo_unknown_user_and_bad_image(emulator: Emulator, samples: Path) -> None:
    emu = emulator
    nophoto = cli(emu, "get", "--user", emu.nophoto_upn, upn=emu.admin_upn)
    assert nophoto.returncode == 4 and "no photo" in one_line(nophoto)
    unknown = cli(
        emu, "set", str(samples / "photos" / "hopper.png"), "--user", "nobody@nowhere.test", upn=emu.admin_upn
    )
    assert unknown.returncode == 4 and "nobody@nowhere.test" in one_line(unknown)
    broken = cli(emu, "set", str(samples / "bad" / "not_an_image.jpg"), upn=emu.admin_upn)
    assert broken.returncode == 5 and "not_an_image.jpg" in one_line(broken)
    nothing = cli(emu, "restore", upn=emu.admin_upn)
    assert nothing.returncode == 4 and "no backups" in one_line(nothing)
    assert changes(emu) == [] and AuditLog().entries() == []


def test_dry_run_prints_what_prepare_prints_and_sends_nothing(samples: Path, tmp_path: Path) -> None:
    image = str(samples / "photos" / "Landscape_6.jpg")
    dry = cli(None, "set", image, "--dry-run", "--size", "360", "-o", str(tmp_path / "a.jpg"))
    prep = cli(None, "prepare", image, "--size", "360", "-o", str(tmp_path / "a.jpg"))
    assert dry.returncode == prep.returncode == 0, dry.stderr
    assert dry.stdout == prep.stdout and "360x360" in dry.stdout
    assert "dry run: nothing was uploaded" in dry.stderr and prep.stderr == ""
    assert (tmp_path / "a.jpg").stat().st_size > 0
    mine = tmp_path / "mine.jpg"
    mine.write_bytes(Path(image).read_bytes())
    same = cli(None, "set", str(mine), "--dry-run", "-o", str(mine))  # never over the photo being prepared
    assert same.returncode == 2 and "it is the input image" in one_line(same)
    assert mine.read_bytes() == Path(image).read_bytes()


def test_acting_on_someone_else_without_admin_consent_says_how_to_get_it(emulator: Emulator) -> None:
    from tui.core.auth import Authenticator
    from tui.core.config import load_settings

    settings = load_settings(emulator.client_flags())
    device_sign_in(emulator, Authenticator(settings), emulator.admin_upn)  # an ordinary sign-in: own photo only
    mine = cli(emulator, "get", "--user", emulator.admin_upn.upper())  # naming oneself needs no admin consent
    assert mine.returncode == 0, mine.stderr
    other = cli(emulator, "get", "--user", emulator.member_upn)
    assert other.returncode == 3
    line = one_line(other)
    assert "login --admin" in line and "ProfilePhoto.ReadWrite.All" in line


@pytest.mark.parametrize("bad", ["1,2", "a,b,c", "-1,0,100"])
def test_bad_crop_is_a_usage_error(samples: Path, bad: str) -> None:
    result = cli(None, "set", str(samples / "photos" / "hopper.png"), "--dry-run", f"--crop={bad}")
    assert result.returncode == 2 and "crop" in one_line(result)


def _readme_script() -> str:
    """The bulk-update script exactly as README.md shows it, so the documentation cannot drift from what works."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    return next(block for block in blocks if 'graphphoto-tui set "$file"' in block)


README_SCRIPT = _readme_script()


def test_readme_script_updates_several_users_from_a_folder(emulator: Emulator, samples: Path, tmp_path: Path) -> None:
    emu = emulator
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / f"{emu.member_upn}.jpg").write_bytes((samples / "photos" / "Portrait_8.jpg").read_bytes())
    (folder / f"{emu.nophoto_upn}.jpg").write_bytes((samples / "photos" / "Landscape_3.jpg").read_bytes())
    (folder / "nobody@nowhere.test.jpg").write_bytes((samples / "photos" / "hopper.png").read_bytes())
    bin_dir = Path(sys.executable).parent
    env = {
        **emulator_env(emu),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GRAPHPHOTO_ACCESS_TOKEN": emu.issue_token(upn=emu.admin_upn, scopes=ADMIN_SCOPES),
    }
    before = {upn: emu.photo_etag(upn) for upn in (emu.member_upn, emu.nophoto_upn)}
    run = subprocess.run(["bash", "-c", README_SCRIPT, "script", str(folder)], env=env, capture_output=True, text=True)
    assert run.returncode == 1  # one user does not exist: reported, the others still done
    assert f"updated {emu.member_upn}" in run.stdout and f"updated {emu.nophoto_upn}" in run.stdout
    assert "FAILED  nobody@nowhere.test (exit 4)" in run.stderr
    assert all(emu.photo_etag(upn) != etag for upn, etag in before.items())
    assert [b.upn for b in History().list()] == [emu.member_upn]  # the user who had no photo needed no backup


def test_app_only_scripts_name_the_user_and_restore_by_id(emulator: Emulator, samples: Path) -> None:
    emu = emulator
    env = {
        **emulator_env(emu),
        "GRAPHPHOTO_CLIENT_ID": emu.app_client_id,
        "GRAPHPHOTO_CLIENT_SECRET": emu.app_client_secret,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "tui", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)

    own = run("get")
    assert own.returncode == 2 and "--user" in one_line(own)
    original = emu.photo(emu.member_upn)
    changed = run("set", str(samples / "photos" / "hopper.webp"), "--user", emu.member_upn, "--json")
    assert changed.returncode == 0, changed.stderr
    backup_id = json.loads(changed.stdout)["backup_id"]
    back = run("restore", backup_id[:-1], "--json")  # a unique prefix will do; the backup names the user
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["upn"] == emu.member_upn
    assert changes(emu)[-1]["body_sha256"] == hashlib.sha256(original).hexdigest()
    assert {e.operator for e in AuditLog().entries()} == {f"app {emu.app_client_id}"}


@pytest.mark.parametrize(("answer", "status"), [("n", 130), ("y", 0)])
def test_remove_at_a_terminal_asks_naming_the_user(emulator: Emulator, answer: str, status: int) -> None:
    import pty

    emu = emulator
    before = emu.photo(emu.member_upn)
    env = {**emulator_env(emu), "GRAPHPHOTO_ACCESS_TOKEN": emu.issue_token(upn=emu.admin_upn, scopes=ADMIN_SCOPES)}
    master, slave = pty.openpty()
    try:
        os.write(master, f"{answer}\n".encode())  # the terminal holds the line until the prompt reads it
        run = subprocess.run(
            [sys.executable, "-m", "tui", "remove", "--user", emu.member_upn],
            env=env,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(master)
        os.close(slave)
    assert run.returncode == status, run.stderr
    assert f"Remove the photo of {emu.user(emu.member_upn)['displayName']} ({emu.member_upn})?" in run.stderr
    assert (emu.photo(emu.member_upn) == before) is (answer == "n")


@pytest.mark.parametrize(
    ("sig", "sigint"),
    [
        (signal.SIGTERM, signal.SIG_DFL),
        (signal.SIGHUP, signal.SIG_DFL),
        (signal.SIGTERM, signal.SIG_IGN),  # `graphphoto-tui set ... &` in a script: the shell ignores SIGINT
    ],
)
def test_kill_during_set_is_audited_as_cancelled_and_keeps_the_backup(
    emulator: Emulator, samples: Path, sig: signal.Signals, sigint: signal.Handlers
) -> None:
    """`kill` or a dropped SSH link mid-upload must leave the same trail as Ctrl+C: backup kept, audit written."""
    emu = emulator
    emu.add_fault("slow", path="/photo/$value", method="PUT", delay=5)
    env = {**emulator_env(emu), "GRAPHPHOTO_ACCESS_TOKEN": emu.issue_token(upn=emu.admin_upn, scopes=ADMIN_SCOPES)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "set", str(samples / "photos" / "Portrait_5.jpg"), "--user", emu.member_upn],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),  # kept across exec, as a shell's SIG_IGN is
    )
    deadline = time.monotonic() + 30
    while not History().list():  # the backup is written just before the upload starts
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "cancelled" in err and "Traceback" not in err
    entries = AuditLog().entries()
    assert [(e.action, e.result) for e in entries] == [("replace", "cancelled")]
    assert entries[0].backup_id == History().list()[0].id
    assert err.count("\n") == 1 and f"the previous photo is backed up as {entries[0].backup_id}" in err, err


def test_names_from_graph_cannot_drive_the_terminal(emulator: Emulator, samples: Path) -> None:
    """A display name with escape sequences, CR and BS is printed inert (JSON keeps it, escaped)."""
    emu = emulator
    evil = emu.add_user(
        f"evil@{emu.tenant_domain}", "\x1b]0;PWNED\x07\x1b[2J\x1b[31mEvil\x1b[0m Name\rOver\x08", mailbox="cloud"
    )
    emu.set_photo(evil["userPrincipalName"], (samples / "photos" / "Portrait_5.jpg").read_bytes())
    result = cli(emu, "set", str(samples / "photos" / "hopper.png"), "--user", evil["id"], upn=emu.admin_upn)
    assert result.returncode == 0, result.stderr
    assert "Evil Name" in result.stdout and not any(ch in result.stdout for ch in "\x1b\x07\r\x08")
    listed = cli(emu, "history", "--user", evil["id"], "--json")
    assert "\\u001b" in listed.stdout and "\x1b" not in listed.stdout

    # A line break cannot forge an output line, and a right-to-left override cannot reorder one.
    forger = emu.add_user(
        f"forger@{emu.tenant_domain}", "Forger\r\npermissions: everything \u202egpj.exe", mailbox="cloud"
    )
    result = cli(emu, "set", str(samples / "photos" / "hopper.png"), "--user", forger["id"], upn=emu.admin_upn)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and "Forger permissions: everything gpj.exe" in result.stdout
    got = cli(emu, "get", "--user", forger["id"], upn=emu.admin_upn)
    assert got.returncode == 0 and got.stdout.count("\n") == 1 and "\u202e" not in got.stdout, got.stderr


def test_overlapping_changes_to_one_user_keep_every_photo(emulator: Emulator, samples: Path) -> None:
    """Two scripts changing one user at once: the second backs up what the first uploaded, so nothing is lost."""
    emu = emulator
    original = emu.photo(emu.member_upn)
    emu.add_fault("slow", path="/photo/$value", method="PUT", delay=2, count=2)
    env = {**emulator_env(emu), "GRAPHPHOTO_ACCESS_TOKEN": emu.issue_token(upn=emu.admin_upn, scopes=ADMIN_SCOPES)}

    def start(name: str) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "tui", "set", str(samples / "photos" / name), "--user", emu.member_upn]
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)

    first = start("Portrait_5.jpg")
    deadline = time.monotonic() + 30
    while not History().list():  # the first change holds the user's lock from its backup on
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = start("Landscape_3.jpg")
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    backups = sorted(History().list(), key=lambda b: b.created_at)
    assert len(backups) == 2
    assert History().read(backups[0]) == original
    assert History().read(backups[1]) != original  # the first upload, kept before the second replaced it
    assert [e.result for e in AuditLog().entries()] == ["ok", "ok"]


def test_progress_on_a_terminal_redraws_one_line(emulator: Emulator, samples: Path) -> None:
    """The output filter strips control characters from Graph's text, never the progress line's own \\r."""
    import pty

    emu = emulator
    env = {**emulator_env(emu), "GRAPHPHOTO_ACCESS_TOKEN": emu.issue_token(upn=emu.admin_upn, scopes=ADMIN_SCOPES)}
    leader, follower = pty.openpty()
    try:
        photo = str(samples / "photos" / "Portrait_5.jpg")
        argv = [sys.executable, "-m", "tui", "set", photo, "--user", emu.member_upn]
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
        os.close(follower)
        chunks = []
        with contextlib.suppress(OSError):  # EIO once the child side is closed and drained
            while data := os.read(leader, 65536):
                chunks.append(data)
    finally:
        os.close(leader)
    shown = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "uploading   0%\ruploading 100%" in shown  # one line, redrawn in place
