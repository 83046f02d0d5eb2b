"""Safe image loading: formats, EXIF orientation, limits, corrupt and hostile files (no models needed)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from scanner.image import load as _image_load
from scanner.image.load import ImageError, load
from tests.conftest import SHARED

FACES = SHARED / "faces"


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height (a decompression bomb's calling card) with a tiny body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    body = zlib.compress(b"\x00" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("HEIF", ".heic")])
def test_every_supported_format_loads_upright_rgb(tmp_path, fmt, suffix):
    _image_load.register_heif()
    path = tmp_path / f"pic{suffix}"
    Image.new("RGB", (320, 200), (200, 10, 10)).save(path, format=fmt)
    img = load(path)
    assert img.image.mode == "RGB" and img.size == (320, 200) and img.scale == 1.0
    assert img.format == fmt


def test_exif_orientation_is_applied_before_anything_else(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; display rotated 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (400, 300), "white").save(path, exif=exif)
    img = load(path)
    assert img.size == (300, 400) and img.image.size == (300, 400)


def test_transparent_png_is_flattened_onto_white(tmp_path):
    im = Image.new("RGBA", (50, 50), (0, 0, 0, 0))  # transparent black
    im.putpixel((10, 10), (0, 0, 0, 255))
    path = tmp_path / "logo.png"
    im.save(path)
    rgb = load(path).image
    assert rgb.getpixel((0, 0)) == (255, 255, 255) and rgb.getpixel((10, 10)) == (0, 0, 0)


def test_big_images_get_a_small_working_copy_and_boxes_map_back(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (8000, 6000), "gray").save(path, quality=70)
    img = load(path)
    assert img.size == (8000, 6000)
    assert max(img.image.size) <= _image_load.WORK_SIDE
    assert img.to_original((0, 0, img.image.size[0], img.image.size[1])) == [0, 0, 8000, 6000]


def test_a_200_megapixel_image_is_refused_with_a_clear_message(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 20_000, 10_000)
    with pytest.raises(ImageError, match=r"200 megapixels; the limit is 80 megapixels"):
        load(path)


def test_the_pixel_limit_applies_below_pillows_own(tmp_path, monkeypatch):
    monkeypatch.setattr(_image_load, "MAX_PIXELS", 1_000_000)
    path = tmp_path / "wide.png"
    Image.new("RGB", (2000, 1000), "white").save(path)
    with pytest.raises(ImageError, match="2 megapixels"):
        load(path)


def test_file_size_limit_is_checked_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(_image_load, "MAX_BYTES", 1000)
    path = tmp_path / "pic.jpg"
    Image.effect_noise((200, 200), 50).convert("RGB").save(path)
    with pytest.raises(ImageError, match="MB; the limit is"):
        load(path)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty"),
    (b"hello, this is a text file and not a picture", "not an image in a supported format"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "corrupt"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image in a supported format"),
])
def test_bad_files_give_a_reason_not_a_traceback(tmp_path, content, reason):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        load(path)


def test_truncated_jpeg_is_corrupt(tmp_path):
    import face_recognition  # noqa: F401 - it switches Pillow to tolerate truncated files on import

    good = (FACES / "obama2.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load(path)
    with pytest.raises(ImageError, match="corrupt or truncated"):
        _image_load.load_full(path)


def test_directories_and_missing_paths(tmp_path):
    with pytest.raises(ImageError, match="not a regular file"):
        load(tmp_path)
    with pytest.raises(ImageError, match="file not found"):
        load(tmp_path / "nope.jpg")


def test_error_messages_never_name_the_file(tmp_path):
    path = tmp_path / "jenna_marlow_botox.jpg"
    path.write_bytes(b"garbage")
    with pytest.raises(ImageError) as exc:
        load(path)
    assert "jenna" not in str(exc.value).lower()


def test_animated_gif_reports_its_frames(tmp_path):
    frames = [Image.new("RGB", (40, 40), (50 * i, 0, 0)) for i in range(5)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    assert load(path).frames == 5
