"""Safe image loading for the image pipeline: size and pixel limits before any decoding, an allow-list of
formats (JPEG, PNG, WebP, HEIC/HEIF, AVIF, GIF, TIFF, BMP), EXIF orientation applied first, transparency
flattened onto white, and a working copy small enough for detection and OCR.

Every failure is an `ImageError` whose message says what is wrong without naming the file or its content.
Boxes elsewhere in the pipeline are in pixels of the *upright original* (`LoadedImage.size`); the working
copy is `scale` times smaller.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

#: refuse images with more pixels than this (decompression bombs, absurd panoramas); Pillow itself warns
#: above 89.5 million pixels, so the default stays below that
MAX_PIXELS = int(os.environ.get("MEDSPA_SCAN_MAX_PIXELS", 80_000_000))
#: refuse files bigger than this before reading them
MAX_BYTES = int(os.environ.get("MEDSPA_SCAN_MAX_IMAGE_BYTES", 60_000_000))
#: refuse images whose decoded pixels would take more memory than this, counted from the header with
#: the bytes each pixel takes (bands and bit depth: a 16-bit RGBA pixel is 8 bytes, a grey one 1 byte)
MAX_DECODED_BYTES = int(os.environ.get("MEDSPA_SCAN_MAX_DECODED_BYTES", 320_000_000))
#: longest side of the working copy every stage reads (detection and OCR downscale further)
WORK_SIDE = 3200
FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "HEIF", "AVIF", "GIF", "TIFF", "BMP")
#: containers whose extra frames are previews or depth maps, not further pictures
SINGLE_PICTURE_FORMATS = ("MPO", "HEIF", "AVIF")


class ImageError(Exception):
    """The file could not be loaded safely; the message says why (never the file's name or content)."""


@dataclass
class LoadedImage:
    """One decoded image: the upright working copy plus everything the metadata stage reads."""

    name: str
    path: Path
    format: str
    size: tuple[int, int]  # upright original (width, height)
    image: Any  # PIL.Image.Image, RGB, upright, longest side <= WORK_SIDE
    scale: float  # working-copy pixels per original pixel (<= 1)
    exif: Any  # PIL.Image.Exif (possibly empty)
    info: dict[str, Any] = field(default_factory=dict)
    text_chunks: dict[str, str] = field(default_factory=dict)  # PNG tEXt/iTXt/zTXt
    iptc: dict[tuple[int, int], Any] | None = None
    frames: int = 1
    exif_error: bool = False  # an EXIF block was present but could not be parsed

    def to_original(self, box: tuple[float, float, float, float], from_scale: float | None = None) -> list[int]:
        """[x0, y0, x1, y1] in a copy `from_scale` (default: the working copy) times the original -> original."""
        s = from_scale if from_scale is not None else self.scale
        w, h = self.size
        x0, y0, x1, y1 = (v / s for v in box)
        return [max(0, int(x0)), max(0, int(y0)), min(w, int(round(x1))), min(h, int(round(y1)))]

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


@cache
def register_heif() -> bool:
    """Teach Pillow HEIC/HEIF (and AVIF where Pillow lacks it); False when pillow-heif is missing."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - the dependency is declared
        return False
    pillow_heif.register_heif_opener()
    from PIL import features

    if not features.check("avif") and hasattr(pillow_heif, "register_avif_opener"):  # pragma: no cover
        pillow_heif.register_avif_opener()
    return True


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageError("file not found")
    if not path.is_file():
        raise ImageError("not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise ImageError("the file is empty")
    if size > MAX_BYTES:
        raise ImageError(f"the file is {size / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB "
                         "(MEDSPA_SCAN_MAX_IMAGE_BYTES)")


#: ISO-BMFF brands of HEIF/HEIC and AVIF files (the bytes after "ftyp")
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})
#: the names the messages use for the extensions `sniff` answers
KIND_NAMES = {".jpg": "JPEG", ".png": "PNG", ".webp": "WebP", ".gif": "GIF", ".avif": "AVIF", ".heic": "HEIC",
              ".tif": "TIFF", ".bmp": "BMP"}


def sniff(head: bytes) -> str | None:
    """The extension of the raster image type HEAD (a file's first bytes, 16 are enough) says it is, or None
    when it is no format of the allow-list. A declared Content-Type or file name is never trusted; the API,
    the crawl and the loader's messages all ask this."""
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return ".avif" if head[8:12] in (b"avif", b"avis") else ".heic"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if head[:2] == b"BM":
        return ".bmp"
    return None


def _claimed_kind(path: Path) -> str | None:
    """The image type the first bytes claim (for a clearer message when the rest is broken)."""
    with path.open("rb") as fh:
        ext = sniff(fh.read(16))
    return KIND_NAMES[ext] if ext else None


def _too_big(pixels: int) -> ImageError:
    return ImageError(f"the image is {pixels / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f} "
                      "megapixels (a possible decompression bomb; resize it or raise MEDSPA_SCAN_MAX_PIXELS)")


def _unsealed(path: Path) -> bytes | None:
    """The plain bytes of a sealed upload (decrypted in memory; see review/retention.py), None for other files."""
    from ..core.at_rest import FILE_MAGIC, is_sealed_file, open_sealed_bytes

    with path.open("rb") as fh:
        if not is_sealed_file(fh.read(len(FILE_MAGIC))):
            return None
    try:
        return open_sealed_bytes(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - a wrong or missing key: the image cannot be checked
        raise ImageError(f"a sealed upload that cannot be opened ({type(exc).__name__}: check the key)") from None


def _sample_bytes(im: Any, path: Path, data: bytes | None) -> int:
    """Bytes per sample the file stores (2 for 16-bit PNG/TIFF and I;16, 4 for 32-bit modes, else 1)."""
    if im.mode in ("I", "F"):
        return 4
    if im.mode.startswith("I;16"):
        return 2
    if im.format == "PNG":  # IHDR: bit depth is byte 24 of the file
        head = data[:25] if data is not None else path.open("rb").read(25)
        return 2 if len(head) == 25 and head[24] == 16 else 1
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return max(1, max(bits if isinstance(bits, tuple) else (bits,)) // 8)
    return 1


def _decoded_bytes(im: Any, path: Path, data: bytes | None) -> int:
    """Memory the decoded image takes, before decoding: pixels (after JPEG's DCT scaling) times bands
    (Pillow stores every multi-band mode in 4) times bytes per sample."""
    w, h = im.size
    pixels = w * h
    if im.format in ("JPEG", "MPO"):
        k, s = WORK_SIDE / max(w, h), 1.0
        while s / 2 >= k and s > 1 / 8:
            s /= 2
        pixels = int(pixels * s * s)
    bands = 4 if len(im.getbands()) > 1 else 1
    return pixels * bands * _sample_bytes(im, path, data)


def _open(path: Path, data: bytes | None = None) -> Any:
    """Image.open restricted to the allowed formats, with the pixel and decoded-memory limits checked on
    the header (`data`: the file's bytes, already read)."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    # face_recognition sets LOAD_TRUNCATED_IMAGES = True process-wide when imported; a truncated file must
    # stay an error here (scan_incomplete), never a half-grey picture that passes
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    register_heif()
    Image.init()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data) if data is not None else path,
                            formats=[f for f in FORMATS if f in Image.OPEN])
    except Image.DecompressionBombError as exc:
        digits = [int(t) for t in str(exc).replace("(", " ").split() if t.isdigit()]
        raise _too_big(digits[0] if digits else MAX_PIXELS * 2) from None
    except UnidentifiedImageError:
        kind = _claimed_kind(path)
        if kind:
            raise ImageError(f"corrupt {kind} file (its header cannot be read)") from None
        raise ImageError("not an image in a supported format (JPEG, PNG, WebP, HEIC, AVIF, GIF, TIFF, BMP)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"corrupt or unreadable image header ({type(exc).__name__})") from None
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise ImageError("the image has no pixels")
    if w * h > MAX_PIXELS:
        im.close()
        raise _too_big(w * h)
    need = _decoded_bytes(im, path, data)
    if need > MAX_DECODED_BYTES:
        im.close()
        raise ImageError(f"the image would take {need / 1e6:.0f} MB to decode ({w * h / 1e6:.0f} megapixels at "
                         f"{need / (w * h):.0f} bytes each); the limit is {MAX_DECODED_BYTES / 1e6:.0f} MB (a possible "
                         "decompression bomb; resize it or raise MEDSPA_SCAN_MAX_DECODED_BYTES)")
    return im


def _to_rgb(im: Any) -> Any:
    """RGB for any mode: transparency flattened onto white (black text on a transparent PNG stays legible)."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        top = float(arr.max()) or 1.0
        return Image.fromarray((arr * (255.0 / top)).clip(0, 255).astype("uint8")).convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im if im.mode == "RGBA" else im.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, (0, 0), rgba)  # the same blend as alpha_composite, with two fewer full-size copies
        return white
    return im.convert("RGB") if im.mode != "RGB" else im


def _exif(im: Any) -> tuple[Any, bool]:
    """(EXIF, False), or (empty EXIF, True) when the file's EXIF block is malformed."""
    from PIL import Image

    try:
        return im.getexif(), False
    except Exception:  # noqa: BLE001 - Pillow raises SyntaxError, struct.error, ... on broken EXIF
        return Image.Exif(), True


def _upright(im: Any, exif_ok: bool) -> Any:
    from PIL import ImageOps

    if not exif_ok:
        return im
    try:
        return ImageOps.exif_transpose(im) or im
    except Exception:  # noqa: BLE001 - a broken orientation tag: keep the stored orientation
        return im


def _decode(im: Any, exif_ok: bool) -> Any:
    """Decode (reduced on the fly for big JPEGs, right after decoding for other big images, so the
    conversions below work on a small copy) and return the upright RGB image."""
    w, h = im.size
    k = WORK_SIDE / max(w, h)
    if k < 0.5 and im.format in ("JPEG", "MPO"):
        im.draft("RGB", (max(1, int(w * k)), max(1, int(h * k))))  # DCT scaling: 1/2, 1/4 or 1/8
    im.load()
    factor = int(1 / k) if k < 0.5 else 1
    if factor > 1 and im.mode in ("L", "LA", "RGB", "RGBA", "RGBa", "La", "CMYK", "I", "F"):
        im = im.reduce(factor)  # box average; still at least WORK_SIDE on the longest side
    return _to_rgb(_upright(im, exif_ok))


def load(path: str | Path, data: bytes | None = None) -> LoadedImage:
    """Open an image safely: file, pixel and decoded-memory limits before decoding, allowed formats only,
    EXIF orientation applied, first frame only (see `LoadedImage.frames`). `data`: the file's bytes when
    already read. Raises ImageError with a clear reason."""
    from PIL import Image, IptcImagePlugin

    p = Path(path)
    if data is None:
        _check_file(p)
        data = _unsealed(p)
    elif len(data) > MAX_BYTES:
        raise ImageError(f"the file is {len(data) / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB "
                         "(MEDSPA_SCAN_MAX_IMAGE_BYTES)")
    im = _open(p, data)
    try:
        fmt = str(im.format or "")
        exif, exif_error = _exif(im)
        orientation = exif.get(0x0112, 1)
        w, h = im.size
        size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        info = {str(k): v for k, v in im.info.items()}
        text_chunks = {str(k): str(v) for k, v in getattr(im, "text", {}).items()} if fmt == "PNG" else {}
        try:
            iptc = IptcImagePlugin.getiptcinfo(im) if fmt in ("JPEG", "MPO", "TIFF") else None
        except Exception:  # noqa: BLE001 - a malformed IPTC block must not stop the scan
            iptc = None
        frames = int(getattr(im, "n_frames", 1) or 1) if fmt not in SINGLE_PICTURE_FORMATS else 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            rgb = _decode(im, not exif_error)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError("not enough memory to decode the image") from None
    except Image.DecompressionBombError:
        raise _too_big(im.size[0] * im.size[1]) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise ImageError(f"corrupt or truncated image data ({type(exc).__name__})") from None
    finally:
        im.close()
    work = rgb
    if max(rgb.size) > WORK_SIDE:
        work = rgb.copy()
        work.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    scale = work.size[0] / size[0]
    return LoadedImage(name=p.name, path=p, format=fmt, size=size, image=work, scale=scale, exif=exif, info=info,
                       text_chunks=text_chunks, iptc=iptc, frames=frames, exif_error=exif_error)


def load_full(path: str | Path) -> tuple[Any, str, dict[str, Any]]:
    """(upright full-resolution image, format, info) for writing previews and clean copies. Keeps an alpha
    channel when the source has one. Same limits and errors as `load`."""
    from PIL import Image

    p = Path(path)
    _check_file(p)
    im = _open(p, _unsealed(p))
    try:
        fmt = str(im.format or "")
        info = {str(k): v for k, v in im.info.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            upright = _upright(im, not _exif(im)[1])
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            out = upright.convert("RGBA")
        else:
            out = _to_rgb(upright)
    except MemoryError:
        raise ImageError("not enough memory to decode the image") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise ImageError(f"corrupt or truncated image data ({type(exc).__name__})") from None
    finally:
        im.close()
    return out, fmt, info


def resized(image: Any, side: int) -> tuple[Any, float]:
    """(copy whose longest side is at most `side`, its scale relative to `image`)."""
    from PIL import Image

    w, h = image.size
    k = min(1.0, side / max(w, h))
    if k >= 1.0:
        return image, 1.0
    nw, nh = max(1, round(w * k)), max(1, round(h * k))
    return image.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=2.0), nw / w
