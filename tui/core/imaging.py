"""The photo pipeline: whatever image a user has becomes one correct Graph upload, or one clear refusal.

Graph accepts a JPEG of at most 4 MB that is not tiny. Users have HEIC from iPhones, 12 MP JPEGs rotated by
EXIF, PNGs with transparency, CMYK and 16-bit files from old systems. The stages are:

* **open** (:func:`open_source`): refuse what is not a usable image with one sentence; decode large JPEGs at
  reduced scale in the DCT domain (``Image.draft``) and shrink other formats with ``reduce()`` so only a small
  *working image* stays in memory; apply EXIF orientation; convert any mode and colour profile to sRGB.
* **frame** (:func:`frame`): square crop (centred, or a :class:`Crop` the update screen moves and zooms) resized
  with LANCZOS straight from the working image (``resize(box=...)``: no intermediate crop copy), then
  transparency flattened onto the background.
* **encode** (:func:`prepare`): baseline JPEG with no metadata at all, stepped down in quality and then size
  until it fits the limit; every such step is reported in ``Prepared.notes``.

All coordinates a caller sees (``Crop``, ``Source.width``/``height``) are full-resolution *upright* source
pixels, whatever scale the working image was decoded at. Pillow is imported lazily: the CLI's ``--help`` and
the app's start-up do not pay for it.
"""

from __future__ import annotations

import io
import math
import os
import stat
import threading
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from tui.core.errors import ImageError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image as PILImage

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MIN_SIDE = 48  # Graph refuses 23x23 (ValidationWidthTooSmall); 48 is Exchange's smallest served size
DEFAULT_SIZE = 648  # Exchange's largest served size
DEFAULT_QUALITY = 80
MAX_PIXELS = 120_000_000  # covers 108 MP phone sensors; larger claims are treated as decompression bombs
MIN_QUALITY = 60  # below this, blocky artefacts hurt more than a smaller picture does: shrink instead
FORMATS_HINT = "JPEG, PNG, HEIC, WebP, GIF, BMP, TIFF or AVIF"
# Only these decoders ever see user files: Pillow also reads EPS (through Ghostscript) and dozens of rare formats.
ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF"})
_JPEG_FAMILY = ("JPEG", "MPO")  # MPO: a JPEG with extra frames (depth maps, iPhone portrait mode)

# EXIF orientation -> Image.Transpose member (the table ImageOps.exif_transpose uses), and how to describe it.
_TRANSPOSE = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}
_ORIENTATION_WORDS = {2: "mirrored", 3: "rotated", 4: "mirrored", 5: "rotated and mirrored", 6: "rotated"}
_ORIENTATION_WORDS |= {7: "rotated and mirrored", 8: "rotated"}
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
_heif_lock = threading.Lock()
_heif_ready = False


def _pil() -> Any:
    """Import Pillow on first use and make its bomb guard ours (idempotent, so cheap to call everywhere)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


def _register_heif() -> None:
    """pillow-heif costs ~30 ms to import: only HEIC/HEIF files pay for it, once per process."""
    global _heif_ready
    with _heif_lock:
        if not _heif_ready:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_ready = True


def _maybe_heif(head: bytes) -> None:
    """Register the HEIF opener when the ISO-BMFF brand says HEIC/HEIF (AVIF stays with Pillow's own plugin)."""
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        _register_heif()


class _Sized(Protocol):
    width: int
    height: int


# --- crop box ----------------------------------------------------------------------------------------


# Records here are NamedTuples and a plain class, not dataclasses: `dataclasses` imports `inspect` (ast, dis,
# tokenize), ~10 ms of a ~200 ms `prepare` run (see tui/core/config.py).


class Crop(NamedTuple):
    """A square in full-resolution upright source pixels: what the user sees, whatever the decode scale."""

    x: int
    y: int
    size: int

    @classmethod
    def parse(cls, text: str) -> Crop:
        """``"X,Y,SIZE"`` as given to ``--crop``."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            x, y, size = (int(p) for p in parts)
        except ValueError:
            raise UsageError(f"invalid crop {text!r}: expected X,Y,SIZE in whole pixels, e.g. 400,120,1800") from None
        if x < 0 or y < 0 or size <= 0:
            raise UsageError(f"invalid crop {text!r}: X and Y must be 0 or more and SIZE more than 0")
        return cls(x, y, size)

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.size}"

    def check(self, source: _Sized) -> None:
        """Refuse a box that leaves the image or is too small for Graph (for explicit, user-typed crops)."""
        if self.x + self.size > source.width or self.y + self.size > source.height:
            raise UsageError(
                f"crop {self} does not fit inside the {source.width}x{source.height} image "
                f"(x + size must be at most {source.width}, y + size at most {source.height})"
            )
        if self.size < MIN_SIDE:
            raise UsageError(f"crop {self} is {self.size} pixels wide; Graph needs at least {MIN_SIDE}x{MIN_SIDE}")

    def clamped(self, source: _Sized) -> Crop:
        """The nearest valid box: side between MIN_SIDE and the shorter image side, fully inside the image."""
        short = min(source.width, source.height)
        size = max(min(self.size, short), min(MIN_SIDE, short))
        return Crop(
            max(0, min(self.x, source.width - size)),
            max(0, min(self.y, source.height - size)),
            size,
        )

    def moved(self, dx: float, dy: float, source: _Sized) -> Crop:
        """Move by ``dx``/``dy`` *fractions of the crop side* (0.1 = a tenth of the box), clamped inside.

        Fractions make one key press move the same visible distance at any zoom. For a move in source pixels,
        use ``Crop(c.x + px, c.y + py, c.size).clamped(source)``.
        """
        return Crop(self.x + round(dx * self.size), self.y + round(dy * self.size), self.size).clamped(source)

    def zoomed(self, factor: float, source: _Sized) -> Crop:
        """Zoom about the box centre: ``factor`` > 1 zooms in (smaller box), < 1 out; clamped inside."""
        if factor <= 0:
            raise ValueError("zoom factor must be positive")
        short = min(source.width, source.height)
        size = max(min(round(self.size / factor), short), min(MIN_SIDE, short))
        cx, cy = self.x + self.size / 2, self.y + self.size / 2
        return Crop(round(cx - size / 2), round(cy - size / 2), size).clamped(source)


# --- the decoded source ----------------------------------------------------------------------------


class Source:
    """An opened image: facts about the file plus a small, normalised working image kept in memory.

    ``image`` is upright, RGB or RGBA, sRGB, at ``scale`` (working pixels per source pixel, <= 1): a 12 MP
    JPEG opened for a 648 px target keeps a 756x1008 image, not 12 MP. :func:`prepare` re-decodes at a finer
    scale by itself (once, replacing ``image``) when a zoomed-in crop needs more detail.
    """

    __slots__ = ("file_bytes", "format", "frames", "height", "image", "notes", "orientation", "path", "width")

    def __init__(
        self,
        path: Path,
        format: str,
        width: int,
        height: int,
        orientation: int,
        image: PILImage.Image,
        frames: int = 1,
        file_bytes: int = 0,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.format = format
        self.width = width
        self.height = height
        self.orientation = orientation
        self.image = image
        self.frames = frames
        self.file_bytes = file_bytes
        self.notes = notes

    def __repr__(self) -> str:
        return f"Source({self.name!r}, {self.format} {self.width}x{self.height}, orientation {self.orientation})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def scale(self) -> float:
        return self.image.width / self.width

    def default_crop(self) -> Crop:
        """The largest centred square."""
        side = min(self.width, self.height)
        return Crop((self.width - side) // 2, (self.height - side) // 2, side)

    def describe_orientation(self) -> str:
        if self.orientation == 1:
            return "upright"
        return f"{_ORIENTATION_WORDS[self.orientation]} (EXIF {self.orientation})"

    def _ensure_detail(self, crop: Crop, size: int) -> None:
        """Re-decode at a finer scale if ``crop`` would be enlarged from the working image but not from the file."""
        needed = min(1.0, size / crop.size)
        if self.scale < 1 and self.scale * 1.01 < needed:
            self.image = Opening(self.path, scale=needed).result().image


def _needed_scale(width: int, height: int, target: int, crop: Crop | None) -> float:
    side = crop.size if crop else min(width, height)
    return min(1.0, target / max(side, 1))


def open_source(path: str | Path, *, target: int = DEFAULT_SIZE, crop: Crop | None = None) -> Source:
    """Open ``path`` safely and keep just enough resolution for a ``target``-pixel output of ``crop``.

    Raises :class:`ImageError` (one sentence naming the file) for anything that cannot become a photo.
    """
    return Opening(path, target=target, crop=crop).result()


def _refuse(path: str | Path, problem: str) -> ImageError:
    return ImageError(f"{os.path.basename(path) or path}: {problem}")


def _check_file(path: str | Path) -> int:
    try:
        st = os.stat(path)
    except FileNotFoundError:  # the whole path: a typo is as likely in the folder as in the name
        raise _refuse(path, f"no such file ({path})") from None
    except OSError as exc:
        raise _refuse(path, f"cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _refuse(path, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block forever, /dev/zero would never end
        raise _refuse(path, "is not a regular file (a device, pipe or socket)")
    if not os.access(path, os.R_OK):
        raise _refuse(path, "cannot read the file (permission denied)")
    if st.st_size == 0:
        raise _refuse(path, "the file is empty")
    return st.st_size


def _orientation(im: PILImage.Image) -> tuple[int, str | None]:
    """EXIF orientation, or 1 with a note when the metadata is unreadable: odd EXIF never costs the pixels."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # Pillow raises many types on broken EXIF; the pixels are still good
        return 1, "ignored unreadable EXIF metadata"
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1, "ignored an invalid EXIF orientation"
    return (value, None) if 1 <= value <= 8 else (1, "ignored an invalid EXIF orientation")


class Opening:
    """An image being opened: the file and its header are checked at once, the pixels decoded later.

    Why two steps: libjpeg decodes without holding the GIL, and a 12 MP JPEG spends ~40 ms in entropy decoding
    that no DCT scaling skips. :meth:`start` runs that decode on a thread of its own so the caller's other
    start-up work (the CLI loading its settings) happens meanwhile; :meth:`result` waits for it, or decodes
    in the caller's thread when nothing started it. Header problems (no such file, not an image, a bomb, too
    small) raise :class:`ImageError` here; pixel problems (truncated, corrupt) raise it from :meth:`result`.
    """

    def __init__(
        self, path: str | Path, *, target: int = DEFAULT_SIZE, crop: Crop | None = None, scale: float | None = None
    ) -> None:
        # A Path only once the decode has started (see path): pathlib's import (urllib.parse, ipaddress) costs
        # ~5 ms, which the settings' own import of it then pays while libjpeg runs.
        self._file = path = os.fspath(path)
        self.target, self.crop = target, crop
        Image = _pil()
        self._file_bytes = _check_file(path)
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise _refuse(path, f"cannot read the file ({exc.strerror or exc})") from None
        _maybe_heif(head)
        self._notes: list[str] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            mp = MAX_PIXELS // 1_000_000
            raise _refuse(
                path, f"image is larger than {mp} megapixels; refused as a possible decompression bomb"
            ) from None
        except Image.UnidentifiedImageError:
            raise _refuse(path, f"not an image this program can read ({FORMATS_HINT})") from None
        except Exception as exc:
            raise _refuse(path, f"the image header is corrupt ({_first_line(exc)})") from None
        try:
            self._check_header(im, scale)
        except BaseException:
            im.close()
            raise
        self._im = im
        self._thread: threading.Thread | None = None
        self._outcome: Source | BaseException | None = None

    @property
    def path(self) -> Path:
        from pathlib import Path

        return Path(self._file)

    def _check_header(self, im: PILImage.Image, scale: float | None) -> None:
        path = self._file
        self.format = fmt = im.format or "image"
        if fmt not in ALLOWED_FORMATS:
            raise _refuse(path, f"{fmt} images are not accepted; use {FORMATS_HINT}")
        if fmt == "HEIF":
            # pillow-heif has already applied the orientation; report what it found.
            self.orientation, self._applied = int(im.info.get("original_orientation") or 1), 1
        else:
            self.orientation, note = _orientation(im)
            self._applied = self.orientation
            if note:
                self._notes.append(note)
        w, h = im.size
        if w * h > MAX_PIXELS:
            mp = MAX_PIXELS // 1_000_000
            raise _refuse(path, f"image is {w}x{h} pixels, over the {mp} megapixel limit (decompression-bomb guard)")
        uw, uh = (h, w) if self._applied in (5, 6, 7, 8) else (w, h)
        if min(uw, uh) < MIN_SIDE:
            raise _refuse(path, f"image is {uw}x{uh} pixels; Graph needs at least {MIN_SIDE}x{MIN_SIDE}")
        self.width, self.height, self._file_width = uw, uh, w
        self._scale = _needed_scale(uw, uh, self.target, self.crop) if scale is None else scale
        self._frames = int(getattr(im, "n_frames", 1) or 1)
        if fmt in _JPEG_FAMILY:
            if self._scale < 1:
                # DCT-domain scaling: libjpeg decodes 1/2, 1/4 or 1/8 directly, never the full 12 MP.
                need = (math.ceil(w * self._scale), math.ceil(h * self._scale))
                im.draft("RGB" if im.mode == "RGB" else im.mode, need)
            # The whole file in one decoder call: Pillow hands libjpeg 64 kB at a time, and between two of them a
            # decode on its own thread needs the GIL back, which a busy caller holds for up to 5 ms each time.
            im.decodermaxblock = max(im.decodermaxblock, self._file_bytes)  # type: ignore[attr-defined]

    def start(self) -> Opening:
        """Decode on a daemon thread (a process that exits early, on a bad setting, does not wait for it)."""
        if self._thread is None and self._outcome is None:
            self._thread = threading.Thread(target=self._run, name="decode-image", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._outcome = self._pixels()
        except BaseException as exc:  # handed to result(), on the caller's thread
            self._outcome = exc

    def result(self) -> Source:
        if self._thread is not None:
            self._thread.join()
        elif self._outcome is None:
            self._run()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is not None
        return self._outcome

    def _pixels(self) -> Source:
        Image = _pil()
        im, path = self._im, self._file
        with im:
            icc = im.info.get("icc_profile") or None
            try:
                im.load()
                work = _to_basic_mode(im, "transparency" in im.info)
            except Exception:  # decoders raise OSError, SyntaxError, ValueError, zlib.error, ...
                raise _refuse(path, "the image data is truncated or corrupt") from None
        # What draft() left to do, for JPEG; all of it for the other formats.
        factor = int(work.width / self._file_width / self._scale)
        if factor >= 2:
            work = work.reduce(factor)
        if self._applied in _TRANSPOSE:
            work = work.transpose(Image.Transpose[_TRANSPOSE[self._applied]])
        work, colour_notes = _to_srgb(work, icc)
        notes = self._notes + colour_notes
        if self._frames > 1:
            notes.append(f"used the first of {self._frames} frames")
        return Source(
            self.path,
            self.format,
            self.width,
            self.height,
            self.orientation,
            work,
            self._frames,
            self._file_bytes,
            tuple(notes),
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _to_basic_mode(im: PILImage.Image, transparency: bool) -> PILImage.Image:
    """Any Pillow mode -> one of RGB, RGBA, L, LA, CMYK, keeping the tonal range (16-bit is scaled, not clipped)."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    if mode in ("P", "PA"):
        return im.convert("RGBA" if transparency or mode == "PA" else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I") or mode == "F":
        hi = im.getextrema()[1]
        gain = 255.0 if mode == "F" and hi <= 1.0 else (1 / 257 if hi > 255 else 1.0)
        base = im if mode in ("I", "F") else im.convert("I")
        return base.point(lambda v: v * gain).convert("L")
    if mode in ("RGBa", "La"):
        return im.convert(mode[:-1] + "A")
    return im.convert("RGBA" if "A" in mode else "RGB")


def _to_srgb(im: PILImage.Image, icc: bytes | None) -> tuple[PILImage.Image, list[str]]:
    """Working image -> RGB/RGBA in sRGB. Runs after the reduction, so colour management costs milliseconds."""
    notes: list[str] = []
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
    if alpha is not None and alpha.getextrema()[0] == 255:
        alpha = None  # an opaque alpha channel is not transparency
    base = im.convert(im.mode[:-1]) if im.mode in ("RGBA", "LA") else im
    converted = None
    if icc:
        from PIL import ImageCms

        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = profile.profile.xcolor_space.strip()
            if {"RGB": "RGB", "CMYK": "CMYK", "GRAY": "L"}.get(space) == base.mode:
                name = ImageCms.getProfileDescription(profile).strip() or "embedded"
                if not name.lower().startswith("srgb"):
                    srgb = ImageCms.createProfile("sRGB")
                    converted = ImageCms.profileToProfile(base, profile, srgb, outputMode="RGB")
                    notes.append(f"converted {name} colours to sRGB")
            else:
                notes.append("ignored a colour profile that does not match the pixels")
        except Exception:  # a broken profile must not cost the picture
            notes.append("ignored an unreadable colour profile")
    if converted is None:
        if base.mode == "CMYK":
            notes.append("converted CMYK to RGB")
        converted = base if base.mode == "RGB" else base.convert("RGB")
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, notes


# --- frame and encode ------------------------------------------------------------------------------


def _rgb(background: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(background)[:3]
    except (ValueError, AttributeError):
        raise UsageError(f"invalid background colour {background!r}: use a colour name or #rrggbb") from None


def frame(
    source: Source, crop: Crop | None = None, *, size: int = DEFAULT_SIZE, background: str = "white"
) -> PILImage.Image:
    """The square RGB picture that would be uploaded, before encoding (the update screen's live preview)."""
    Image = _pil()
    crop = crop or source.default_crop()
    crop.check(source)
    source._ensure_detail(crop, size)
    work = source.image
    sx, sy = work.width / source.width, work.height / source.height
    box = (crop.x * sx, crop.y * sy, (crop.x + crop.size) * sx, (crop.y + crop.size) * sy)
    out = _resize(work, size, box)
    if out.mode == "RGBA":
        flat = Image.new("RGB", out.size, _rgb(background))
        flat.paste(out, mask=out.getchannel("A"))
        out = flat
    out.info.clear()  # Pillow would write a carried-over comment into the JPEG
    return out


def _resize(im: PILImage.Image, size: int, box: tuple[float, float, float, float]) -> PILImage.Image:
    """``box`` of ``im`` resampled (Lanczos) to ``size`` square, the bottom half on a second thread.

    Pillow resamples without the GIL, and it clips each output row's kernel to the image, not to the box: for an
    RGB picture the two halves of the box give the pixels the whole box gives, to within two levels of rounding
    (tests/test_imaging.py measures it), in a little over half the time on two cores. Not with transparency:
    Pillow resamples premultiplied alpha, and there the halves differ by up to 20 levels along sharp edges.
    Small pictures are not worth a thread.
    """
    Image = _pil()
    lanczos = Image.Resampling.LANCZOS
    if size < 256 or im.mode != "RGB":
        return im.resize((size, size), lanczos, box=box)
    x0, y0, x1, y1 = box
    half = size // 2
    middle = y0 + (y1 - y0) * half / size
    bottom: list[PILImage.Image | BaseException] = []

    def resize_bottom() -> None:
        try:
            bottom.append(im.resize((size, size - half), lanczos, box=(x0, middle, x1, y1)))
        except BaseException as exc:  # raised again on the caller's thread
            bottom.append(exc)

    helper = threading.Thread(target=resize_bottom, name="resize-half")
    helper.start()
    try:
        top = im.resize((size, half), lanczos, box=(x0, y0, x1, middle))
    finally:
        helper.join()
    if isinstance(bottom[0], BaseException):
        raise bottom[0]
    out = Image.new(im.mode, (size, size))
    out.paste(top, (0, 0))
    out.paste(bottom[0], (0, half))
    return out


def _encode(im: PILImage.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    # Pillow picks the writer from a file name without importing its five common plugins (~10 ms per process).
    buf.name = "upload.jpg"
    # Baseline (not progressive), and no exif/icc/xmp/comment: nothing but pixels. (optimize=True would cost
    # more time than the 1-2 % of bytes it saves.)
    im.save(buf, quality=quality, progressive=False)
    return buf.getvalue()


class Prepared(NamedTuple):
    """Exactly what would be uploaded, plus what was done to get there."""

    data: bytes
    width: int
    height: int
    quality: int
    notes: tuple[str, ...]
    source: Source
    crop: Crop
    image: PILImage.Image

    def __repr__(self) -> str:  # not the JPEG's bytes
        return f"Prepared({self.width}x{self.height} q{self.quality}, {len(self.data)} bytes, crop {self.crop})"

    def summary(self, output: str | None = None) -> str:
        """One line: ``me.heic: HEIF 3024x4032, rotated (EXIF 6) -> 648x648 JPEG q80, 85.2 kB -> out.jpg``."""
        from tui.core.text import human_size  # not at import: its patterns compile before a decode can start

        s = self.source
        line = (
            f"{s.name}: {s.format} {s.width}x{s.height}, {s.describe_orientation()} -> "
            f"{self.width}x{self.height} JPEG q{self.quality}, {human_size(len(self.data))}"
        )
        if output:
            line += f" -> {output}"
        return line + (f" ({'; '.join(self.notes)})" if self.notes else "")

    def as_dict(self, output: str | None = None) -> dict[str, Any]:
        s = self.source
        return {
            "input": str(s.path),
            "output": output,
            "format": s.format,
            "width": s.width,
            "height": s.height,
            "orientation": s.orientation,
            "frames": s.frames,
            "crop": {"x": self.crop.x, "y": self.crop.y, "size": self.crop.size},
            "output_width": self.width,
            "output_height": self.height,
            "quality": self.quality,
            "bytes": len(self.data),
            "content_type": "image/jpeg",
            "notes": list(self.notes),
        }


def prepare(
    source: Source | str | Path,
    *,
    size: int = DEFAULT_SIZE,
    quality: int = DEFAULT_QUALITY,
    background: str = "white",
    crop: Crop | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> Prepared:
    """Frame and encode: a baseline JPEG under ``max_bytes``, lowering quality, then size, only if needed."""
    if not MIN_SIDE <= size <= 4096:
        raise UsageError(f"invalid size {size}: must be between {MIN_SIDE} and 4096")
    if not 1 <= quality <= 95:
        raise UsageError(f"invalid quality {quality}: must be between 1 and 95")
    _rgb(background)  # a bad colour is a usage error whether or not this image has transparency
    if not isinstance(source, Source):
        source = open_source(source, target=size, crop=crop)
    crop = crop or source.default_crop()
    picture = frame(source, crop, size=size, background=background)
    notes = list(source.notes)
    if source.image.mode == "RGBA":
        notes.append(f"filled transparent areas with {background}")
    if crop.size < size:
        notes.append(f"enlarged from {crop.size} px")
    q, side = quality, size
    data = _encode(picture, q)
    limit = f"{max_bytes / 1048576:g} MB" if max_bytes >= 1048576 else f"{max_bytes / 1000:g} kB"
    while len(data) > max_bytes and q > MIN_QUALITY:
        q = max(MIN_QUALITY, q - 10)
        data = _encode(picture, q)
    if q != quality:
        notes.append(f"quality lowered to {q} to stay under {limit}")
    shrunk = picture
    while len(data) > max_bytes:
        if side <= MIN_SIDE:
            raise ImageError(f"{source.name}: cannot make a JPEG under {limit} from this image")
        side = max(MIN_SIDE, int(side * 0.8))
        shrunk = picture.resize((side, side), _pil().Resampling.LANCZOS)
        data = _encode(shrunk, q)
    if side != size:
        notes.append(f"size reduced to {side}x{side} to stay under {limit}")
    return Prepared(data, side, side, q, tuple(notes), source, crop, shrunk)


# --- terminal cells ------------------------------------------------------------------------------


def to_cells_image(
    data_or_image: bytes | bytearray | memoryview | str | Path | Source | Prepared | PILImage.Image,
    width_cells: int,
    height_cells: int,
    *,
    grow: bool = True,
) -> PILImage.Image:
    """Shrink a picture to fit ``width_cells`` x ``height_cells`` terminal cells (2 pixels per cell vertically).

    rich-pixels resizes with nearest neighbour and is slow on big images: hand it this instead. The result is
    RGB and exactly fills the cell box along one side, keeping the aspect ratio (``grow=False``: never larger
    than the picture). Bytes and files go through the same format allow-list as uploads; JPEGs are decoded at
    reduced scale (``draft``) and EXIF-oriented; transparency is flattened onto white.
    """
    Image = _pil()
    box_w, box_h = max(1, width_cells), max(1, 2 * height_cells)
    if isinstance(data_or_image, (Prepared, Source)):
        im = data_or_image.image
    elif isinstance(data_or_image, Image.Image):
        im = data_or_image
    else:
        try:
            if isinstance(data_or_image, (bytes, bytearray, memoryview)):
                raw = bytes(data_or_image)
            else:
                with open(data_or_image, "rb") as fh:
                    raw = fh.read()
            _maybe_heif(raw[:16])
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)  # refuse, as uploads do
                opened = Image.open(io.BytesIO(raw))
            if opened.format not in ALLOWED_FORMATS:
                raise ValueError(f"{opened.format} images are not accepted")
            if opened.width * opened.height > MAX_PIXELS:  # catch_warnings above is process-wide, not per thread
                raise ValueError(f"over the {MAX_PIXELS // 1_000_000} megapixel limit; refused as a possible bomb")
            orientation, _ = _orientation(opened)
            if opened.format in _JPEG_FAMILY:
                w, h = opened.size if orientation < 5 else opened.size[::-1]
                fit = min(box_w / w, box_h / h)
                need = (math.ceil(opened.width * fit), math.ceil(opened.height * fit))
                opened.draft("RGB" if opened.mode == "RGB" else opened.mode, need)
            opened.load()
            im = _to_basic_mode(opened, "transparency" in opened.info)
        except Exception as exc:  # a corrupt photo from Graph or disk must not take the screen down
            raise ImageError(f"the picture cannot be shown ({_first_line(exc)})") from None
        if orientation in _TRANSPOSE:
            im = im.transpose(Image.Transpose[_TRANSPOSE[orientation]])
    if im.mode not in ("RGB", "RGBA"):
        im = _to_basic_mode(im, "transparency" in im.info)
        im = im.convert("RGBA" if im.mode in ("LA", "RGBA") else "RGB")
    fit = min(box_w / im.width, box_h / im.height, 1.0 if not grow else math.inf)
    size = (max(1, round(im.width * fit)), max(1, round(im.height * fit)))
    im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    if im.mode == "RGBA":  # flatten after shrinking: cheaper, and resize() already weighs by alpha
        flat = Image.new("RGB", im.size, (255, 255, 255))
        flat.paste(im, mask=im.getchannel("A"))
        im = flat
    return im
