"""`graphphoto-tui prepare` as a script runs it: a real process, its exit status, stdout, stderr and file."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tui", "prepare", *map(str, args)],
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def one_line(stream: bytes) -> str:
    text = stream.decode()
    assert text.endswith("\n") and text.count("\n") == 1, text
    assert "Traceback" not in text
    return text.strip()


def test_heic_summary_line_and_file(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jpg"
    result = run(samples / "photos/iphone_13_pro_max.heic", "-o", out)
    assert result.returncode == 0, result.stderr
    line = one_line(result.stdout)
    assert re.fullmatch(
        rf"iphone_13_pro_max\.heic: HEIF 3024x4032, rotated \(EXIF 6\) -> 648x648 JPEG q80, (\d+\.\d) kB -> "
        rf"{re.escape(str(out))} \(converted Display P3 colours to sRGB\)",
        line,
    ), line
    kb = float(re.search(r"q80, ([\d.]+) kB", line).group(1))  # type: ignore[union-attr]
    assert kb == pytest.approx(out.stat().st_size / 1000, abs=0.05)
    with Image.open(out) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (648, 648))
    assert result.stderr == b""


def test_json_flags_and_background(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "avatar.jpg"
    result = run(
        samples / "odd/avatar_transparent.png",
        "-o",
        out,
        "--size",
        "360",
        "--quality",
        "70",
        "--background",
        "#003366",
        "--crop",
        "0,0,800",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["output"] == str(out) and info["bytes"] == out.stat().st_size
    assert (info["format"], info["output_width"], info["quality"]) == ("PNG", 360, 70)
    assert info["crop"] == {"x": 0, "y": 0, "size": 800}
    with Image.open(out) as im:
        assert im.size == (360, 360)
        assert im.getpixel((2, 2)) == pytest.approx((0, 51, 102), abs=6)


def test_any_order_of_the_words_gives_the_same_jpeg(samples: Path, tmp_path: Path) -> None:
    """The decode starts before argparse runs, from the image name as guessed; the result never depends on it."""
    photo = samples / "photos/iphone_12mp.jpg"
    spellings = {
        "plain": [photo, "-o", tmp_path / "plain.jpg"],
        "output_first": ["-o", tmp_path / "output_first.jpg", photo],
        "flag_first": ["--json", photo, "-o", tmp_path / "flag_first.jpg"],  # no guess: opened after parsing
        "explicit_crop": [photo, "--crop", "0,504,3024", "-o", tmp_path / "explicit_crop.jpg"],
    }
    for name, args in spellings.items():
        assert run(*args).returncode == 0, name
    reference = (tmp_path / "plain.jpg").read_bytes()
    assert all((tmp_path / f"{name}.jpg").read_bytes() == reference for name in spellings)
    sized = run("--size", "200", photo, "-o", tmp_path / "sized.jpg")  # guessed at 648, parsed as 200
    assert sized.returncode == 0 and Image.open(tmp_path / "sized.jpg").size == (200, 200)
    missing = run(tmp_path / "nope.jpg", "-o", tmp_path / "x.jpg", "--quality", "0")
    assert missing.returncode == 2 and "quality" in one_line(missing.stderr), "a bad setting is still reported first"


@pytest.mark.parametrize(
    ("words", "used"),
    [
        (["{img}", "-o", "o.jpg"], True),
        (["-o", "o.jpg", "{img}", "--size", "648", "--quality", "80"], True),  # how the benchmark spells it
        (["--size=300", "{img}", "--crop", "0,504,3024", "-o", "o.jpg"], True),
        (["{img}", "-o", "o.jpg", "--si", "300"], False),  # an abbreviation argparse accepts: opened again
        (["--json", "{img}", "-o", "o.jpg"], False),  # no guess
    ],
)
def test_the_decode_started_before_parsing_is_used_when_the_words_agree(
    words: list[str], used: bool, samples: Path
) -> None:
    """One decode per run when the guess is right (a wrong one would decode twice, never give another photo)."""
    from tui.arguments import parse
    from tui.commands.prepare import begin, open_early

    argv = ["prepare", *(w.format(img=samples / "photos/iphone_12mp.jpg") for w in words)]
    early = open_early(argv[1:])
    args = parse(argv)
    begin(args, early)
    assert (early is not None and args.opening is early.opening) is used
    assert args.opening.result().image.width == (756 if args.size in (None, 648) else 378)


def test_odd_outputs_and_sizes_are_one_line_errors(samples: Path, tmp_path: Path) -> None:
    photo = samples / "photos/Landscape_1.jpg"
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    cases = {
        "symbolic links": run(photo, "-o", tmp_path / "loop1"),
        "-o needs a file name": run(photo, "-o", ""),
        "invalid int value": run(photo, "--size", "\u00b2", "-o", tmp_path / "a.jpg"),  # a digit int() refuses
    }
    with open("/dev/full", "wb") as full:
        cases["No space left on device"] = subprocess.run(
            [sys.executable, "-m", "tui", "prepare", str(photo), "-o", str(tmp_path / "b.jpg")],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    for words, result in cases.items():
        assert result.returncode == 2 and words in one_line(result.stderr), (words, result.stderr)


def test_output_to_stdout_keeps_the_summary_on_stderr(samples: Path) -> None:
    result = run(samples / "photos/hopper.png", "-o", "-", "--size", "96")
    assert result.returncode == 0
    with Image.open(io.BytesIO(result.stdout)) as im:
        assert (im.format, im.size) == ("JPEG", (96, 96))
    assert one_line(result.stderr).startswith("hopper.png: PNG 128x128, upright -> 96x96 JPEG q80, ")


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("bad/not_an_image.jpg", "not_an_image.jpg: not an image this program can read"),
        ("bad/tiny_23x17.jpg", "tiny_23x17.jpg: image is 23x17 pixels; Graph needs at least 48x48"),
        ("bad/truncated.jpg", "truncated.jpg: the image data is truncated or corrupt"),
    ],
)
def test_refused_image_is_one_line_status_5_and_writes_nothing(
    name: str, sentence: str, samples: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jpg"
    result = run(samples / name, "-o", out)
    assert result.returncode == 5
    assert one_line(result.stderr).startswith(f"graphphoto-tui: {sentence}")
    assert result.stdout == b""
    assert not out.exists() and not list(tmp_path.glob(".out.jpg*")), "no output, no leftover temporary file"


def test_usage_errors_are_status_2(samples: Path, tmp_path: Path) -> None:
    photo = samples / "photos/Landscape_1.jpg"
    bad_crop = run(photo, "-o", tmp_path / "a.jpg", "--crop", "10,10")
    assert bad_crop.returncode == 2 and "invalid crop '10,10'" in one_line(bad_crop.stderr)
    outside = run(photo, "-o", tmp_path / "a.jpg", "--crop", "1000,0,1200")
    assert outside.returncode == 2
    assert "does not fit inside the 1800x1200 image" in one_line(outside.stderr)
    quality = run(photo, "-o", tmp_path / "a.jpg", "--quality", "120")
    assert quality.returncode == 2 and "quality" in one_line(quality.stderr)
    assert not (tmp_path / "a.jpg").exists()


def test_unwritable_output_is_one_line(samples: Path, tmp_path: Path) -> None:
    result = run(samples / "photos/hopper.png", "-o", tmp_path / "missing-dir" / "out.jpg")
    assert result.returncode == 2
    assert "cannot write" in one_line(result.stderr)


def test_special_files_are_never_replaced_and_symlinks_are_followed(samples: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run(samples / "photos/hopper.png", "-o", fifo)
    assert result.returncode == 2 and "not a regular file" in one_line(result.stderr)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a pipe, not a JPEG renamed over it
    folder = tmp_path / "folder"
    folder.mkdir()
    assert run(samples / "photos/hopper.png", "-o", folder).returncode == 2 and folder.is_dir()

    target = tmp_path / "real.jpg"
    target.write_bytes(b"old")
    target.chmod(0o600)
    link = tmp_path / "link.jpg"
    link.symlink_to(target)
    assert run(samples / "photos/hopper.png", "-o", link).returncode == 0
    assert link.is_symlink() and target.read_bytes()[:2] == b"\xff\xd8"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the file keeps its permissions


def test_pipes_and_devices_are_refused_as_input(tmp_path: Path) -> None:
    fifo = tmp_path / "in.jpg"
    os.mkfifo(fifo)  # opening it to read would block forever
    result = run(fifo, "-o", tmp_path / "out.jpg")
    assert result.returncode == 5 and "not a regular file" in one_line(result.stderr)


def test_importing_the_pipeline_does_not_import_pillow() -> None:
    """The app imports tui.core.imaging at start-up; Pillow must wait until a photo is actually opened."""
    code = "import sys, tui.core.imaging, tui.commands.prepare; assert 'PIL' not in sys.modules, 'PIL imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_input_photo_is_never_overwritten(samples: Path, tmp_path: Path) -> None:
    """`prepare me.jpg -o me.jpg` (or through a symlink or a hard link) would swap the original for a 648 px crop."""
    original = tmp_path / "mine.jpg"
    original.write_bytes((samples / "photos/Landscape_1.jpg").read_bytes())
    before = original.read_bytes()
    (tmp_path / "link.jpg").symlink_to(original)
    os.link(original, tmp_path / "hard.jpg")
    for out in ("mine.jpg", "link.jpg", "hard.jpg"):
        result = run(original, "-o", tmp_path / out)
        assert result.returncode == 2 and "it is the input image" in one_line(result.stderr), out
    for args in ((tmp_path / "link.jpg", "-o", original), ("mine.jpg", "-o", "./mine.jpg")):
        result = subprocess.run(
            [sys.executable, "-m", "tui", "prepare", *map(str, args)], capture_output=True, cwd=tmp_path, timeout=60
        )
        assert result.returncode == 2 and "it is the input image" in one_line(result.stderr)
    assert original.read_bytes() == before


def test_a_size_from_the_environment_gives_what_the_flag_gives(samples: Path, tmp_path: Path) -> None:
    """The image starts decoding for --size (or the default) before the settings load; a size that only the
    environment or the config file sets must still get its own decode, not the default's."""
    photo = samples / "photos/iphone_12mp.jpg"
    by_flag, by_env = tmp_path / "flag.jpg", tmp_path / "env.jpg"
    assert run(photo, "-o", by_flag, "--size", "200").returncode == 0
    result = run(photo, "-o", by_env, env={"GRAPHPHOTO_SIZE": "200"})
    assert result.returncode == 0, result.stderr
    assert "-> 200x200 JPEG q80" in one_line(result.stdout)
    assert by_env.read_bytes() == by_flag.read_bytes()


def test_a_bad_setting_is_reported_before_a_bad_image(tmp_path: Path) -> None:
    """The image is opened before the settings load, but a wrong setting is still the error the user sees."""
    result = run(tmp_path / "missing.jpg", "-o", tmp_path / "out.jpg", env={"GRAPHPHOTO_QUALITY": "500"})
    assert result.returncode == 2
    assert "quality" in one_line(result.stderr) and "GRAPHPHOTO_QUALITY" in result.stderr.decode()
    assert run(tmp_path / "missing.jpg", "-o", tmp_path / "out.jpg").returncode == 5
