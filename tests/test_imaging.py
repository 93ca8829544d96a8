"""The photo pipeline, judged by the bytes and pixels Graph would receive.

Every sample is either a correct upload (upright, square, right size, RGB baseline JPEG, no metadata, < 4 MB) or
refused with its own sentence. Synthetic images cover what the samples do not: all 8 EXIF orientations, crop
coordinates under DCT-domain scaling, CMYK, 16-bit, colour profiles, quality stepping.
"""

from __future__ import annotations

import io
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from tui.core.errors import ImageError, UsageError
from tui.core.imaging import (
    MAX_UPLOAD_BYTES,
    MIN_QUALITY,
    MIN_SIDE,
    Crop,
    Opening,
    Prepared,
    frame,
    open_source,
    prepare,
    to_cells_image,
)

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"

# Every sample that must be refused, with the sentence the user reads.
REFUSED = {
    "bad/broken.png": "broken.png: not an image this program can read",
    "bad/decompression_bomb.gif": "decompression_bomb.gif: image is larger than 120 megapixels; refused as a possible",
    "bad/empty.jpg": "empty.jpg: the file is empty",
    "bad/not_an_image.jpg": "not_an_image.jpg: not an image this program can read",
    "bad/tiny_23x17.jpg": "tiny_23x17.jpg: image is 23x17 pixels; Graph needs at least 48x48",
    "bad/truncated.jpg": "truncated.jpg: the image data is truncated or corrupt",
}
# Every sample that must become an upload: (format, upright width, height, EXIF orientation reported).
ACCEPTED = {
    "bad/invalid_exif_IndexError.jpg": ("JPEG", 4032, 3024, 1),
    "odd/animated.gif": ("GIF", 245, 245, 1),
    "odd/avatar_transparent.png": ("PNG", 800, 800, 1),
    "odd/palette_with_transparency.png": ("PNG", 64, 64, 1),
    "photos/Landscape_1.jpg": ("JPEG", 1800, 1200, 1),
    "photos/Landscape_3.jpg": ("JPEG", 1800, 1200, 3),
    "photos/Landscape_6.jpg": ("JPEG", 1800, 1200, 6),
    "photos/Portrait_5.jpg": ("JPEG", 1200, 1800, 5),
    "photos/Portrait_8.jpg": ("JPEG", 1200, 1800, 8),
    "photos/hopper.png": ("PNG", 128, 128, 1),
    "photos/hopper.webp": ("WEBP", 128, 128, 1),
    "photos/iphone_12mp.jpg": ("JPEG", 3024, 4032, 1),
    "photos/iphone_13_pro_max.heic": ("HEIF", 3024, 4032, 6),
    "photos/nikon_gps_DSCN0010.jpg": ("JPEG", 640, 480, 1),
    "photos/phone_jolla_8mp.jpg": ("JPEG", 3264, 2448, 1),
}


# --- helpers -----------------------------------------------------------------------------------------


def jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, payload) for every segment before the scan: where metadata would hide."""
    assert data[:2] == b"\xff\xd8", "not a JPEG (no SOI)"
    assert data[-2:] == b"\xff\xd9", "JPEG does not end with EOI"
    pos = 2
    while True:
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        yield marker, data[pos + 4 : pos + 2 + length]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return
        pos += 2 + length


def assert_clean_upload(data: bytes, side: int) -> Image.Image:
    """What Graph must receive: a small, square, RGB, baseline JPEG that carries nothing but pixels."""
    assert len(data) <= MAX_UPLOAD_BYTES
    markers = []
    for marker, payload in jpeg_segments(data):
        markers.append(marker)
        if marker == 0xE0:
            assert payload[:5] == b"JFIF\x00" and payload[12:14] == b"\x00\x00", "JFIF with a thumbnail"
        else:
            assert marker in {0xDB, 0xC0, 0xC4, 0xDD, 0xDA}, f"unexpected segment FF{marker:02X} (metadata?)"
    assert 0xC0 in markers and 0xC2 not in markers, "not a baseline JPEG"
    for needle in (b"Exif", b"ICC_PROFILE", b"http://ns.adobe.com", b"GPS", b"NIKON", b"iPhone", b"Apple"):
        assert needle not in data
    im = Image.open(io.BytesIO(data))
    assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (side, side))
    assert "progressive" not in im.info and "exif" not in im.info and "icc_profile" not in im.info
    return im


def decoded(prepared: Prepared) -> Image.Image:
    return Image.open(io.BytesIO(prepared.data)).convert("RGB")


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0-255."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def reference_fit(path: Path, side: int) -> Image.Image:
    """An independent answer: Pillow's own exif_transpose + fit, at full resolution."""
    with Image.open(path) as im:
        rgba = ImageOps.exif_transpose(im).convert("RGBA")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return ImageOps.fit(flat, (side, side), Image.Resampling.LANCZOS)


def save_jpeg(im: Image.Image, path: Path, orientation: int | None = None, **kwargs: object) -> Path:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    im.save(path, "JPEG", quality=92, exif=exif.tobytes(), **kwargs)
    return path


@pytest.fixture(scope="module")
def prepared_samples() -> dict[str, Prepared]:
    """Each accepted sample prepared once at the defaults: the HEIC alone takes most of a second."""
    return {name: prepare(SAMPLES / name) for name in ACCEPTED}


# --- every sample ------------------------------------------------------------------------------------


def test_every_sample_is_classified(samples: Path) -> None:
    found = {str(p.relative_to(samples)) for p in samples.glob("*/*")}
    assert found == set(REFUSED) | set(ACCEPTED), "a new sample needs an expectation here"


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_sample_becomes_a_clean_upload(name: str, prepared_samples: dict[str, Prepared]) -> None:
    prepared = prepared_samples[name]
    assert_clean_upload(prepared.data, 648)
    fmt, width, height, orientation = ACCEPTED[name]
    src = prepared.source
    assert (src.format, src.width, src.height, src.orientation) == (fmt, width, height, orientation)
    assert (prepared.width, prepared.height, prepared.quality) == (648, 648, 80)
    # The picture is the photo: close to an independent full-resolution reference, not blank or shifted.
    if fmt != "HEIF":  # the HEIC is colour-converted from Display P3 (checked below)
        assert mean_diff(decoded(prepared), reference_fit(SAMPLES / name, 648)) < 6


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_bad_sample_is_refused_with_its_sentence(name: str, samples: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(ImageError) as info:
        prepare(samples / name)
    assert time.perf_counter() - started < 5, "refusing must not hang on the file"
    message = str(info.value)
    assert message.startswith(REFUSED[name])
    assert "\n" not in message and "Traceback" not in message


def test_gps_and_camera_metadata_never_leave(samples: Path, prepared_samples: dict[str, Prepared]) -> None:
    with Image.open(samples / "photos/nikon_gps_DSCN0010.jpg") as original:
        assert original.getexif().get_ifd(0x8825), "sample should carry GPS"
    assert_clean_upload(prepared_samples["photos/nikon_gps_DSCN0010.jpg"].data, 648)
    # hopper.png carries a text comment, which Pillow would copy into a JPEG COM segment if allowed to.
    assert 0xFE not in {m for m, _ in jpeg_segments(prepared_samples["photos/hopper.png"].data)}


def test_odd_exif_keeps_the_pixels(samples: Path, prepared_samples: dict[str, Prepared]) -> None:
    prepared = prepared_samples["bad/invalid_exif_IndexError.jpg"]
    assert ImageStat.Stat(decoded(prepared)).stddev[0] > 20, "a real photo, not a blank square"


# --- orientation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rotated", "upright"), [("Landscape_3", "Landscape_1"), ("Landscape_6", "Landscape_1")])
def test_exif_rotated_sample_matches_its_upright_twin(
    rotated: str, upright: str, prepared_samples: dict[str, Prepared]
) -> None:
    a = decoded(prepared_samples[f"photos/{rotated}.jpg"])
    b = decoded(prepared_samples[f"photos/{upright}.jpg"])
    assert mean_diff(a, b) < 4
    assert mean_diff(a, b.transpose(Image.Transpose.ROTATE_180)) > 3 * mean_diff(a, b)  # the metric can tell


def test_portrait_samples_come_out_upright_and_alike(prepared_samples: dict[str, Prepared]) -> None:
    a, b = (decoded(prepared_samples[f"photos/Portrait_{n}.jpg"]) for n in (5, 8))
    assert mean_diff(a, b) < 4
    for wrong in (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.FLIP_LEFT_RIGHT):
        assert mean_diff(a, b.transpose(wrong)) > 3 * mean_diff(a, b)


def quadrants(width: int, height: int) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: any wrong turn or flip shows."""
    im = Image.new("RGB", (width, height), "white")
    im.paste((255, 0, 0), (0, 0, width // 2, height // 2))
    im.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    im.paste((0, 0, 255), (0, height // 2, width // 2, height))
    return im


# Pixels stored so that applying EXIF orientation N gives the upright picture back (inverse transforms).
INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_eight_orientations_come_out_upright(orientation: int, tmp_path: Path) -> None:
    upright = quadrants(1600, 1600)
    raw = upright.transpose(INVERSE[orientation]) if INVERSE[orientation] is not None else upright
    path = save_jpeg(raw, tmp_path / f"o{orientation}.jpg", orientation)
    prepared = prepare(path, size=96)
    source = prepared.source
    assert source.orientation == orientation and source.scale < 1, "decoded at reduced scale"
    out = decoded(prepared)
    for (x, y), colour in {(20, 20): (255, 0, 0), (76, 20): (0, 255, 0), (20, 76): (0, 0, 255)}.items():
        assert all(abs(a - b) < 40 for a, b in zip(out.getpixel((x, y)), colour, strict=True)), (x, y)
    assert min(out.getpixel((76, 76))) > 215
    if orientation != 1:
        assert prepared.summary().split(", ")[1].endswith(f"(EXIF {orientation}) -> 96x96 JPEG q80")


# --- crop box ----------------------------------------------------------------------------------------


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    """A 1600x2400 upright photo (stored rotated, EXIF 6) with a red 400 px square at upright (200, 1500)."""
    upright = Image.new("RGB", (1600, 2400), (128, 128, 128))
    upright.paste((230, 20, 20), (200, 1500, 600, 1900))
    return save_jpeg(upright.transpose(Image.Transpose.ROTATE_90), tmp_path / "marked.jpg", 6)


def test_crop_is_in_full_resolution_upright_pixels_even_when_decoded_small(marked: Path) -> None:
    source = open_source(marked, target=100, crop=Crop(200, 1500, 400))
    assert (source.width, source.height) == (1600, 2400)
    assert source.scale <= 0.25, "DCT-domain scaling must have applied"
    inside = frame(source, Crop(210, 1510, 380), size=100)
    assert ImageStat.Stat(inside).mean[0] > 200 and ImageStat.Stat(inside).mean[1] < 50
    half = frame(source, Crop(400, 1500, 400), size=100)  # right half of the box is grey
    assert half.getpixel((20, 50))[0] > 200 and half.getpixel((80, 50)) == pytest.approx((128, 128, 128), abs=12)
    beside = frame(source, Crop(700, 1500, 400), size=100)
    assert ImageStat.Stat(beside).mean == pytest.approx([128, 128, 128], abs=6)


def test_zoomed_in_crop_gets_re_decoded_with_more_detail(marked: Path) -> None:
    source = open_source(marked, target=100)
    coarse = source.scale
    prepared = prepare(source, size=100, crop=Crop(250, 1550, 60))
    assert source.scale > coarse, "a 60 px crop at 100 px output needs full resolution"
    assert ImageStat.Stat(decoded(prepared)).mean[0] > 200
    assert "enlarged from 60 px" in prepared.notes


def test_default_crop_is_the_largest_centred_square(marked: Path) -> None:
    source = open_source(marked)
    assert source.default_crop() == Crop(0, 400, 1600)


def test_crop_helpers_move_and_zoom_inside_the_image(marked: Path) -> None:
    source = open_source(marked)  # 1600x2400
    crop = source.default_crop()
    assert crop.moved(0, 0.1, source) == Crop(0, 560, 1600)
    assert crop.moved(-1, 0, source) == Crop(0, 400, 1600), "cannot leave the image sideways"
    assert crop.moved(0, 10, source) == Crop(0, 800, 1600), "stops at the bottom edge"
    zoomed = crop.zoomed(2, source)
    assert zoomed == Crop(400, 800, 800), "zoom keeps the centre"
    assert zoomed.moved(0.5, 0, source) == Crop(800, 800, 800)
    assert crop.zoomed(1000, source).size == MIN_SIDE
    assert zoomed.zoomed(0.1, source) == Crop(0, 400, 1600), "zooming out stops at the shorter side"
    assert Crop(1500, 2300, 400).clamped(source) == Crop(1200, 2000, 400)


def test_crop_text_and_bounds_are_checked(marked: Path) -> None:
    assert Crop.parse(" 400, 120 ,1800") == Crop(400, 120, 1800)
    for bad in ("400,120", "a,b,c", "1,2,3,4", "-1,0,100", "0,0,0"):
        with pytest.raises(UsageError, match="invalid crop"):
            Crop.parse(bad)
    with pytest.raises(UsageError, match=r"does not fit inside the 1600x2400 image"):
        prepare(marked, crop=Crop(1000, 0, 800))
    with pytest.raises(UsageError, match="Graph needs at least 48x48"):
        prepare(marked, crop=Crop(0, 0, 40))


# --- normalisation -----------------------------------------------------------------------------------


def test_transparent_corners_become_the_background(samples: Path) -> None:
    path = samples / "odd/avatar_transparent.png"
    for background, rgb in (("white", (255, 255, 255)), ("#003366", (0, 51, 102))):
        prepared = prepare(path, size=200, background=background)
        assert f"filled transparent areas with {background}" in prepared.notes
        out = decoded(prepared)
        for corner in ((2, 2), (197, 2), (2, 197), (197, 197)):
            assert out.getpixel(corner) == pytest.approx(rgb, abs=6)
        assert mean_diff(out.crop((80, 80, 120, 120)), Image.new("RGB", (40, 40), rgb)) > 30, "face kept"


def test_palette_transparency_is_flattened(samples: Path) -> None:
    path = samples / "odd/palette_with_transparency.png"
    with Image.open(path) as im:
        alpha = im.convert("RGBA").getchannel("A").resize((64, 64))
    transparent = alpha.histogram()[0] / (64 * 64)
    assert transparent > 0.05
    r, g, b = decoded(prepare(path, size=64, background="#ff00ff")).split()
    high, low = (lambda v: 255 if v > 200 else 0), (lambda v: 255 if v < 60 else 0)
    mask = ImageChops.multiply(ImageChops.multiply(r.point(high), g.point(low)), b.point(high))
    magenta = mask.histogram()[255] / (64 * 64)
    assert magenta == pytest.approx(transparent, abs=0.08)


def test_animated_gif_uses_the_first_frame(samples: Path, prepared_samples: dict[str, Prepared]) -> None:
    prepared = prepared_samples["odd/animated.gif"]
    out = decoded(prepared)
    with Image.open(samples / "odd/animated.gif") as gif:
        first = gif.convert("RGB").resize((648, 648), Image.Resampling.LANCZOS)
        gif.seek(gif.n_frames // 2)
        middle = gif.convert("RGB").resize((648, 648), Image.Resampling.LANCZOS)
    assert mean_diff(out, first) < 4 < mean_diff(out, middle)
    assert "used the first of 42 frames" in prepared.notes


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (120, 120), (0, 255, 255, 0)).save(path, "JPEG", quality=95)
    prepared = prepare(path, size=64)
    assert_clean_upload(prepared.data, 64)
    assert decoded(prepared).getpixel((32, 32)) == pytest.approx((255, 0, 0), abs=12)
    assert "converted CMYK to RGB" in prepared.notes


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_greys_are_scaled_not_clipped(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"grey16.{fmt.lower()}"
    im = Image.new("I;16", (100, 100), 40000)
    im.paste(Image.new("I;16", (50, 100), 10000), (0, 0))
    im.save(path, fmt)
    out = decoded(prepare(path, size=50))
    assert out.getpixel((5, 25)) == pytest.approx((39, 39, 39), abs=3)  # 10000 / 257
    assert out.getpixel((45, 25)) == pytest.approx((156, 156, 156), abs=3)  # 40000 / 257


def test_grey_with_alpha_and_bilevel_images(tmp_path: Path) -> None:
    la = Image.new("LA", (80, 80), (100, 0))
    la.paste((100, 255), (20, 20, 60, 60))
    la.save(tmp_path / "la.png")
    out = decoded(prepare(tmp_path / "la.png", size=80, background="#00ff00"))
    assert out.getpixel((2, 2)) == pytest.approx((0, 255, 0), abs=8)
    assert out.getpixel((40, 40)) == pytest.approx((100, 100, 100), abs=8)
    Image.new("1", (64, 64), 1).save(tmp_path / "bw.png")
    assert decoded(prepare(tmp_path / "bw.png", size=64)).getpixel((10, 10)) == pytest.approx((255, 255, 255), abs=3)


def display_p3(samples: Path) -> bytes:
    with Image.open(samples / "photos/iphone_13_pro_max.heic") as im:
        return im.info["icc_profile"]


def test_embedded_colour_profile_is_converted_to_srgb(samples: Path, tmp_path: Path) -> None:
    p3 = display_p3(samples)
    colour = (200, 100, 50)
    Image.new("RGB", (64, 64), colour).save(tmp_path / "p3.png", icc_profile=p3)
    prepared = prepare(tmp_path / "p3.png", size=64)
    expected = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), colour),
        ImageCms.ImageCmsProfile(io.BytesIO(p3)),
        ImageCms.createProfile("sRGB"),
        outputMode="RGB",
    ).getpixel((0, 0))
    assert expected != pytest.approx(colour, abs=8), "P3 and sRGB must differ for this colour"
    assert decoded(prepared).getpixel((32, 32)) == pytest.approx(expected, abs=4)
    assert "converted Display P3 colours to sRGB" in prepared.notes
    assert_clean_upload(prepared.data, 64)  # and the profile itself is gone


def test_heic_is_converted_from_display_p3(samples: Path, prepared_samples: dict[str, Prepared]) -> None:
    prepared = prepared_samples["photos/iphone_13_pro_max.heic"]
    assert "converted Display P3 colours to sRGB" in prepared.notes
    assert prepared.summary("out.jpg").startswith(
        "iphone_13_pro_max.heic: HEIF 3024x4032, rotated (EXIF 6) -> 648x648 JPEG q80, "
    )
    # The same picture as the 12 MP JPEG made from it (upright, same framing).
    assert mean_diff(decoded(prepared), decoded(prepared_samples["photos/iphone_12mp.jpg"])) < 8


def test_broken_colour_profile_is_skipped_not_fatal(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), (10, 200, 30)).save(tmp_path / "badicc.png", icc_profile=b"not a profile" * 20)
    prepared = prepare(tmp_path / "badicc.png", size=64)
    assert decoded(prepared).getpixel((32, 32)) == pytest.approx((10, 200, 30), abs=6)
    assert "ignored an unreadable colour profile" in prepared.notes


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_avif_and_small_heif_files_open(fmt: str, tmp_path: Path) -> None:
    from PIL import features

    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF support")
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    path = tmp_path / f"photo.{fmt.lower()}"
    quadrants(200, 100).save(path, fmt, quality=90)
    prepared = prepare(path, size=64)
    assert prepared.source.format == fmt and prepared.source.width == 200
    assert decoded(prepared).getpixel((5, 5)) == pytest.approx((255, 0, 0), abs=40)  # red top-left, centred crop
    assert to_cells_image(path.read_bytes(), 10, 5).size == (10, 5)


def test_mpo_portrait_mode_jpeg_is_a_jpeg_with_extra_frames(tmp_path: Path) -> None:
    path = tmp_path / "portrait.jpg"
    quadrants(1600, 1200).save(path, "MPO", save_all=True, append_images=[Image.new("RGB", (1600, 1200))])
    prepared = prepare(path, size=96)
    assert prepared.source.format == "MPO" and prepared.source.scale < 1, "decoded at reduced scale, like JPEG"
    assert decoded(prepared).getpixel((5, 5))[0] > 200 and "used the first of 2 frames" in prepared.notes


@pytest.mark.parametrize(("fmt", "suffix"), [("EPS", "jpg"), ("PPM", "ppm"), ("TGA", "tga")])
def test_formats_outside_the_allow_list_are_refused_before_decoding(fmt: str, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"odd.{suffix}"
    quadrants(100, 100).save(path, fmt)
    with pytest.raises(ImageError, match=rf"^odd\.{suffix}: {fmt} images are not accepted; use JPEG, PNG, HEIC"):
        prepare(path)
    with pytest.raises(ImageError, match="cannot be shown"):
        to_cells_image(path.read_bytes(), 10, 5)


def test_unreadable_paths_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=rf"^missing.jpg: no such file \({re.escape(str(tmp_path))}/missing.jpg\)$"):
        open_source(tmp_path / "missing.jpg")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ImageError, match=r"^folder: is a directory, not an image file$"):
        open_source(tmp_path / "folder")


@pytest.mark.parametrize("side", [20000, 15400])  # 400 MP: Pillow's own hard stop; 237 MP: only our limit
def test_bomb_claims_over_the_limit_are_refused_before_decoding(tmp_path: Path, side: int) -> None:
    """For uploads and for drawing alike (a tampered photo cache reaches ``to_cells_image``)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )
    (tmp_path / "claims.png").write_bytes(png)
    started = time.perf_counter()
    with pytest.raises(ImageError, match="decompression bomb"):
        open_source(tmp_path / "claims.png")
    with pytest.raises(ImageError, match=r"cannot be shown \(.*(bomb|megapixel)"):
        to_cells_image(png, 80, 24)
    assert time.perf_counter() - started < 5, "a bomb must be refused from its header, not decoded"


def test_photo_bytes_may_come_as_any_bytes_like_object(samples: Path) -> None:
    data = (samples / "photos" / "hopper.png").read_bytes()
    sizes = {to_cells_image(kind(data), 20, 10).size for kind in (bytes, bytearray, memoryview)}
    assert sizes == {(20, 20)}


# --- encoding ----------------------------------------------------------------------------------------


def test_quality_steps_down_then_size_to_fit_the_limit(samples: Path) -> None:
    source = open_source(samples / "photos/phone_jolla_8mp.jpg")
    full = prepare(source)
    lowered = prepare(source, max_bytes=len(full.data) * 3 // 4)
    assert lowered.quality < 80 and lowered.width == 648 and len(lowered.data) <= len(full.data) * 3 // 4
    assert any(n.startswith(f"quality lowered to {lowered.quality} to stay under") for n in lowered.notes)
    assert_clean_upload(lowered.data, 648)
    shrunk = prepare(source, max_bytes=6_000)
    assert shrunk.quality == MIN_QUALITY and shrunk.width < 648 and len(shrunk.data) <= 6_000
    assert any(n.startswith(f"size reduced to {shrunk.width}x{shrunk.width}") for n in shrunk.notes)
    assert_clean_upload(shrunk.data, shrunk.width)
    with pytest.raises(ImageError, match=r"cannot make a JPEG under 0\.2 kB"):
        prepare(source, max_bytes=200)


def test_size_and_quality_are_honoured(samples: Path) -> None:
    source = open_source(samples / "photos/Landscape_1.jpg", target=96)
    small = prepare(source, size=96, quality=50)
    assert_clean_upload(small.data, 96)
    assert small.summary().endswith("-> 96x96 JPEG q50, " + f"{len(small.data) / 1000:.1f} kB")
    assert len(prepare(source, size=96, quality=95).data) > len(small.data)
    with pytest.raises(UsageError, match="invalid background colour 'nope'"):
        prepare(source, background="nope")
    with pytest.raises(UsageError, match="invalid quality 0"):
        prepare(source, quality=0)


def test_as_dict_reports_what_was_done(prepared_samples: dict[str, Prepared]) -> None:
    info = prepared_samples["photos/Landscape_6.jpg"].as_dict("out.jpg")
    assert info["orientation"] == 6 and info["crop"] == {"x": 300, "y": 0, "size": 1200}
    assert (info["output_width"], info["quality"], info["content_type"]) == (648, 80, "image/jpeg")
    assert info["bytes"] == len(prepared_samples["photos/Landscape_6.jpg"].data)


# --- terminal cells ----------------------------------------------------------------------------------


def test_cells_image_fits_the_cell_box_keeping_aspect(samples: Path, tmp_path: Path) -> None:
    square = prepare(samples / "photos/Landscape_1.jpg")
    assert to_cells_image(square.data, 80, 24).size == (48, 48)  # 80 x 48 pixels: height limits
    assert to_cells_image(square.data, 200, 60).size == (120, 120)
    assert to_cells_image(square.data, 20, 40).size == (20, 20)  # width limits
    wide = save_jpeg(quadrants(4000, 3000), tmp_path / "wide.jpg")
    assert to_cells_image(wide.read_bytes(), 80, 24).size == (64, 48)
    assert to_cells_image(wide, 200, 60).size == (160, 120)
    rotated = save_jpeg(quadrants(3000, 4000).transpose(Image.Transpose.ROTATE_90), tmp_path / "rot.jpg", 6)
    cells = to_cells_image(rotated.read_bytes(), 200, 60)
    assert cells.size == (90, 120) and cells.getpixel((5, 5))[0] > 200, "EXIF-oriented, red top-left"
    for mode in ("RGBA", "LA", "PA"):
        transparent = to_cells_image(Image.new(mode, (100, 100)), 10, 5)
        assert transparent.mode == "RGB" and transparent.getpixel((1, 1)) == (255, 255, 255), mode
    assert to_cells_image(Image.new("CMYK", (100, 50), (0, 255, 255, 0)), 10, 5).getpixel((5, 2))[0] > 240
    with pytest.raises(ImageError, match="cannot be shown"):
        to_cells_image(b"not an image", 80, 24)


def test_a_decode_on_its_own_thread_gives_the_same_photo(samples: Path) -> None:
    """What `prepare` and `set` do while their settings load: the same pixels, so the same upload."""
    path = samples / "photos/iphone_12mp.jpg"
    opening = Opening(path).start()
    assert (opening.format, opening.width, opening.height) == ("JPEG", 3024, 4032)  # the header is read at once
    threaded, inline = opening.result(), open_source(path)
    assert threaded.image.size == inline.image.size == (756, 1008)  # still a 1/4-scale DCT decode
    assert ImageChops.difference(threaded.image, inline.image).getbbox() is None
    assert prepare(threaded).data == prepare(inline).data
    assert opening.result() is threaded  # asking again does not decode again


def test_a_decode_on_its_own_thread_refuses_as_open_source_does(samples: Path) -> None:
    """Header problems are refused at once; pixel problems when the decode's result is asked for."""
    with pytest.raises(ImageError, match=re.escape(REFUSED["bad/tiny_23x17.jpg"])):
        Opening(samples / "bad/tiny_23x17.jpg")
    truncated = Opening(samples / "bad/truncated.jpg").start()
    for _ in range(2):
        with pytest.raises(ImageError, match=re.escape(REFUSED["bad/truncated.jpg"])):
            truncated.result()


@pytest.mark.parametrize(
    ("name", "crop", "size"),
    [
        ("photos/iphone_12mp.jpg", None, 648),  # the common case: a 1/4-scale decode, 756 px square to 648
        ("photos/Landscape_1.jpg", Crop(333, 17, 1001), 648),  # box edges between working pixels
        ("photos/hopper.png", Crop(3, 5, 97), 301),  # enlarged, odd output size
        ("odd/avatar_transparent.png", None, 648),  # transparency: resized whole (halves differ at sharp edges)
    ],
)
def test_resizing_in_two_halves_gives_the_whole_picture(name: str, crop: Crop | None, size: int, samples: Path) -> None:
    """`frame` resizes the top and bottom halves on two threads: no seam, no shift, the pixels of one resize."""
    source = open_source(samples / name, target=size, crop=crop)
    crop = crop or source.default_crop()
    sx, sy = source.image.width / source.width, source.image.height / source.height
    box = (crop.x * sx, crop.y * sy, (crop.x + crop.size) * sx, (crop.y + crop.size) * sy)
    whole = source.image.resize((size, size), Image.Resampling.LANCZOS, box=box)
    if whole.mode == "RGBA":
        flat = Image.new("RGB", whole.size, "white")
        flat.paste(whole, mask=whole.getchannel("A"))
        whole = flat
    halves = frame(source, crop, size=size)
    assert halves.size == (size, size)
    assert max(hi for _, hi in ImageChops.difference(whole, halves).getextrema()) <= 2
