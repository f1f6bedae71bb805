"""amx_core.images: discovery, every bad-input case and every pixel-mode conversion, on generated files."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from amx_core.errors import BadImageError
from amx_core.images import (
    DEFAULT_MAX_PIXELS,
    discover_images,
    file_sha256,
    load_image,
    to_rgb,
)

RNG = np.random.RandomState(0)


def noise_rgb(w: int = 64, h: int = 48) -> Image.Image:
    return Image.fromarray(RNG.randint(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def save(img: Image.Image, path: Path, fmt: str | None = None, **kw) -> Path:
    img.save(path, fmt, **kw)
    return path


def expect_bad(path: Path, reason: str, **kw) -> BadImageError:
    with pytest.raises(BadImageError) as info:
        load_image(path, **kw)
    err = info.value
    msg = str(err)
    assert str(path) in msg, msg
    assert reason in msg, msg
    assert err.reason == reason
    assert err.path == Path(path)
    assert "\n" not in msg
    return err


# ---------------------------------------------------------------- good files


@pytest.mark.parametrize(
    "fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tif")]
)
def test_loads_every_format_as_rgb(tmp_path, fmt, ext):
    src = noise_rgb()
    path = save(src, tmp_path / f"ok.{ext}", fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (64, 48)
    if fmt != "JPEG":  # lossless formats give the exact pixels back
        assert np.array_equal(np.asarray(img), np.asarray(src))


def test_uppercase_extension_and_path_as_str(tmp_path):
    path = save(noise_rgb(), tmp_path / "UP.JPEG", "JPEG")
    assert load_image(str(path)).size == (64, 48)


def test_result_is_fully_loaded_and_detached_from_the_file(tmp_path):
    path = save(noise_rgb(), tmp_path / "a.png")
    img = load_image(path)
    path.unlink()
    assert np.asarray(img).shape == (48, 64, 3)


# ---------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    expect_bad(tmp_path / "nope.jpg", "missing")


def test_dangling_symlink_is_missing(tmp_path):
    link = tmp_path / "dangling.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    err = expect_bad(link, "missing")
    assert "dangling symlink" in str(err)


def test_symlink_loop(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.symlink_to(b)
    b.symlink_to(a)
    expect_bad(a, "symlink loop")
    expect_bad(b, "symlink loop")


def test_directory_is_not_a_file(tmp_path):
    d = tmp_path / "folder.jpg"
    d.mkdir()
    expect_bad(d, "not a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_unreadable_permissions(tmp_path):
    path = save(noise_rgb(), tmp_path / "locked.png")
    path.chmod(0)
    try:
        err = expect_bad(path, "unreadable")
        assert "permission denied" in str(err)
    finally:
        path.chmod(0o644)


def test_unreadable_permissions_simulated(tmp_path, monkeypatch):
    """The same path as a real EACCES (which root never gets): open() raising PermissionError."""
    path = save(noise_rgb(), tmp_path / "locked.png")
    real_open = open

    def fake_open(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    err = expect_bad(path, "unreadable")
    assert "permission denied" in str(err)
    with pytest.raises(BadImageError, match="unreadable"):
        file_sha256(path)


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    expect_bad(path, "zero bytes")


def test_text_renamed_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes, not a photo\n" * 20)
    expect_bad(path, "not an image")


def test_random_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(bytes(RNG.randint(0, 256, 5000, dtype=np.uint8)))
    expect_bad(path, "not an image")


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("BMP", "bmp"), ("TIFF", "tif")])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_files(tmp_path, fmt, ext, keep):
    data = io.BytesIO()
    noise_rgb(200, 150).save(data, fmt)
    raw = data.getvalue()
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(raw[: int(len(raw) * keep)])
    expect_bad(path, "truncated")


def test_jpeg_missing_only_its_last_bytes_is_truncated(tmp_path):
    data = io.BytesIO()
    noise_rgb(200, 150).save(data, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.getvalue()[:-2])
    expect_bad(path, "truncated")


def test_png_without_iend_is_truncated(tmp_path):
    data = io.BytesIO()
    noise_rgb().save(data, "PNG")
    raw = data.getvalue()
    assert raw.endswith(b"IEND\xaeB`\x82")
    path = tmp_path / "cut.png"
    path.write_bytes(raw[:-12])  # pixel data complete, IEND gone: Pillow alone would accept it
    expect_bad(path, "truncated")


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_webp(tmp_path, keep):
    data = io.BytesIO()
    noise_rgb(200, 150).save(data, "WEBP", quality=90)
    raw = data.getvalue()
    path = tmp_path / "cut.webp"
    path.write_bytes(raw[: int(len(raw) * keep)])
    expect_bad(path, "truncated")


def test_truncation_detected_even_if_pillow_was_relaxed_process_wide(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = io.BytesIO()
    noise_rgb(200, 150).save(data, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    expect_bad(path, "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_corrupt_png_data(tmp_path):
    data = io.BytesIO()
    noise_rgb(200, 150).save(data, "PNG")
    raw = bytearray(data.getvalue())
    idat = raw.index(b"IDAT")
    raw[idat + 100 : idat + 400] = bytes(300)  # same length, damaged deflate stream and CRC
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(raw))
    err = expect_bad(path, err_reason(path))
    assert err.reason in ("corrupt", "truncated")


def err_reason(path: Path) -> str:
    try:
        load_image(path)
    except BadImageError as err:
        return err.reason
    raise AssertionError(f"{path} loaded")


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height (no need to build the pixels)."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_over_our_limit(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 10_000, 10_000)  # 100 MP in a few bytes
    assert path.stat().st_size < 200
    err = expect_bad(path, "decompression bomb")
    assert "10000x10000" in str(err) or "pixels" in str(err)


def test_decompression_bomb_configurable_limit(tmp_path):
    path = save(noise_rgb(200, 100), tmp_path / "big.png")
    expect_bad(path, "decompression bomb", max_pixels=10_000)
    assert load_image(path, max_pixels=20_000).size == (200, 100)


def test_pillow_bomb_warning_is_an_error_too(tmp_path):
    # 9500 x 9500 = 90.25 MP: above Pillow's warning threshold (~89.5 MP), below its error threshold
    path = png_header_only(tmp_path / "warn.png", 9500, 9500)
    assert 9500 * 9500 > Image.MAX_IMAGE_PIXELS
    expect_bad(path, "decompression bomb", max_pixels=None)
    expect_bad(path, "decompression bomb", max_pixels=200_000_000)


def test_pillow_bomb_error(tmp_path):
    path = png_header_only(tmp_path / "huge.png", 20_000, 20_000)
    expect_bad(path, "decompression bomb", max_pixels=None)


def test_default_limit_is_64_megapixels():
    assert DEFAULT_MAX_PIXELS == 64_000_000


@pytest.mark.parametrize("size", [(1, 1), (15, 200), (200, 15)])
def test_too_small(tmp_path, size):
    path = save(Image.new("RGB", size, (10, 20, 30)), tmp_path / "tiny.png")
    err = expect_bad(path, "too small")
    assert f"{size[0]}x{size[1]}" in str(err)


def test_min_side_is_configurable(tmp_path):
    path = save(Image.new("RGB", (16, 16)), tmp_path / "edge.png")
    assert load_image(path).size == (16, 16)
    expect_bad(path, "too small", min_side=17)
    assert load_image(save(Image.new("RGB", (1, 1)), tmp_path / "one.png"), min_side=1).size == (1, 1)


# ---------------------------------------------------------------- conversions


def px(img: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    assert img.mode == "RGB"
    return tuple(int(v) for v in np.asarray(img)[y, x])


def test_greyscale_L(tmp_path):
    a = np.full((20, 20), 100, np.uint8)
    a[0, 0] = 0
    a[0, 1] = 255
    img = load_image(save(Image.fromarray(a, "L"), tmp_path / "g.png"))
    assert (
        px(img, 0, 0) == (0, 0, 0) and px(img, 1, 0) == (255, 255, 255) and px(img, 5, 5) == (100, 100, 100)
    )


def test_bilevel_1(tmp_path):
    im = Image.new("1", (20, 20), 0)
    im.putpixel((3, 4), 1)
    img = load_image(save(im, tmp_path / "b.png"))
    assert px(img, 3, 4) == (255, 255, 255) and px(img, 0, 0) == (0, 0, 0)


def test_rgba_composited_on_white(tmp_path):
    a = np.zeros((20, 20, 4), np.uint8)
    a[..., 0] = 255  # red everywhere
    a[:, :, 3] = 0  # fully transparent ...
    a[0, 0, 3] = 255  # ... except an opaque pixel
    a[0, 1, 3] = 128  # ... and a half-transparent one
    img = load_image(save(Image.fromarray(a, "RGBA"), tmp_path / "t.png"))
    assert px(img, 0, 0) == (255, 0, 0)
    assert px(img, 5, 5) == (255, 255, 255)  # transparent -> white, not the hidden red
    r, g, b = px(img, 1, 0)
    assert r == 255 and abs(g - 127) <= 1 and g == b


def test_la_composited_on_white(tmp_path):
    a = np.zeros((20, 20, 2), np.uint8)
    a[..., 0] = 40
    a[0, 0, 1] = 255
    img = load_image(save(Image.fromarray(a, "LA"), tmp_path / "la.png"))
    assert px(img, 0, 0) == (40, 40, 40) and px(img, 9, 9) == (255, 255, 255)


def test_palette(tmp_path):
    im = Image.new("P", (20, 20), 0)
    im.putpalette([0, 0, 0, 200, 30, 60, 10, 220, 90] + [0] * (256 * 3 - 9))
    im.putpixel((2, 2), 1)
    im.putpixel((3, 3), 2)
    img = load_image(save(im, tmp_path / "p.png"))
    assert px(img, 2, 2) == (200, 30, 60) and px(img, 3, 3) == (10, 220, 90) and px(img, 0, 0) == (0, 0, 0)


def test_palette_with_transparent_index(tmp_path):
    im = Image.new("P", (20, 20), 1)
    im.putpalette([200, 30, 60, 0, 0, 255] + [0] * (256 * 3 - 6))
    im.putpixel((0, 0), 0)
    img = load_image(save(im, tmp_path / "pt.png", transparency=1))
    assert px(img, 0, 0) == (200, 30, 60)
    assert px(img, 5, 5) == (255, 255, 255)  # index 1 is transparent: white, not its blue


def test_gif_palette_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert discover_images([tmp_path]) == [path]  # a folder's .gif files are found like any other image
    assert px(load_image(path), 0, 0) == (255, 0, 0)


def test_cmyk(tmp_path):
    a = np.zeros((20, 20, 4), np.uint8)  # no ink: white
    a[0, 0] = (255, 0, 0, 0)  # full cyan
    a[0, 1] = (0, 0, 0, 255)  # full black
    img = load_image(save(Image.fromarray(a, "CMYK"), tmp_path / "c.tif"))
    assert px(img, 5, 5) == (255, 255, 255)
    assert px(img, 0, 0) == (0, 255, 255)
    assert px(img, 1, 0) == (0, 0, 0)


def test_cmyk_jpeg(tmp_path):
    img = load_image(save(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), tmp_path / "c.jpg", quality=100))
    r, g, b = px(img, 10, 10)
    assert r > 240 and g < 15 and b < 15  # pure red


def test_16bit_greyscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 30000, 32896, 65535]], np.uint16)
    a = np.repeat(np.repeat(values, 20, axis=0), 4, axis=1)  # 20 x 24
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    path = save(im, tmp_path / "g16.png")
    assert Image.open(path).mode.startswith("I")
    img = load_image(path)
    got = [px(img, 4 * i, 0)[0] for i in range(values.shape[1])]
    assert got == [0, 1, 4, 117, 128, 255]  # round(v / 257); clipping would give 255 for all but 0
    assert px(img, 8, 3) == (4, 4, 4)


def test_16bit_tiff(tmp_path):
    a = np.full((20, 20), 51400, np.uint16)  # 51400 / 257 = 200
    img = load_image(save(Image.fromarray(a), tmp_path / "g16.tif"))
    assert px(img, 0, 0) == (200, 200, 200)


def test_32bit_int_mode_I_in_16bit_range(tmp_path):
    a = np.full((20, 20), 65535, np.int32)
    a[0, 0] = 12850  # -> 50
    im = Image.fromarray(a)
    assert im.mode == "I"
    img = load_image(save(im, tmp_path / "i32.tif"))
    assert px(img, 0, 0) == (50, 50, 50) and px(img, 1, 1) == (255, 255, 255)


def test_mode_I_outside_16bit_range_is_stretched():
    a = np.zeros((20, 20), np.int32)
    a[0, 0] = -1000
    a[0, 1] = 1_000_000
    img = to_rgb(Image.fromarray(a))
    assert px(img, 0, 0) == (0, 0, 0) and px(img, 1, 0) == (255, 255, 255)
    assert px(img, 5, 5)[0] == round(1000 * 255 / 1_001_000)


def test_float_mode_F(tmp_path):
    a = np.full((20, 20), 0.5, np.float32)
    a[0, 0] = 1.0
    img = load_image(save(Image.fromarray(a, "F"), tmp_path / "f.tif"))
    assert px(img, 0, 0) == (255, 255, 255) and px(img, 5, 5) == (128, 128, 128)


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 10, 20))  # blue band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img = load_image(save(im, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=100))
    assert img.size == (20, 40)
    r, g, b = px(img, 10, 2)  # the left band is now at the top
    assert b > 200 and r < 50


# ---------------------------------------------------------------- sha256


def test_file_sha256_streams_and_matches_hashlib(tmp_path):
    data = bytes(RNG.randint(0, 256, 3_000_000, dtype=np.uint8))
    path = tmp_path / "blob.jpg"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(path, chunk_size=7) == hashlib.sha256(data).hexdigest()


def test_file_sha256_missing(tmp_path):
    with pytest.raises(BadImageError, match="missing"):
        file_sha256(tmp_path / "nope.jpg")


# ---------------------------------------------------------------- discovery


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    for name in [
        "b.jpg",
        "a.PNG",
        "c.JpEg",
        "d.webp",
        "e.bmp",
        "f.tif",
        "g.TIFF",
        "notes.txt",
        "x.svg",  # not a raster format: not discovered
        ".hidden.jpg",
        "sub/s1.jpg",
        "sub/deeper/s2.png",
        "sub/readme.md",
    ]:
        (root / name).write_bytes(b"x")


def rel(paths: list[Path], root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in paths]


def test_discover_directory_flat(tmp_path):
    make_tree(tmp_path)
    assert rel(discover_images([tmp_path]), tmp_path) == [
        "a.PNG",
        "b.jpg",
        "c.JpEg",
        "d.webp",
        "e.bmp",
        "f.tif",
        "g.TIFF",
    ]


def test_discover_recursive(tmp_path):
    make_tree(tmp_path)
    assert rel(discover_images([tmp_path], recursive=True), tmp_path) == [
        "a.PNG",
        "b.jpg",
        "c.JpEg",
        "d.webp",
        "e.bmp",
        "f.tif",
        "g.TIFF",
        "sub/deeper/s2.png",
        "sub/s1.jpg",
    ]


def test_discover_is_sorted_and_deduplicated_whatever_the_argument_order(tmp_path):
    make_tree(tmp_path)
    one = discover_images([tmp_path / "sub", tmp_path, tmp_path / "b.jpg"], recursive=True)
    two = discover_images([tmp_path / "b.jpg", tmp_path, tmp_path / "sub"], recursive=True)
    assert one == two
    assert len(one) == len(set(one)) == 9
    assert one == sorted(one, key=str)


def test_discover_explicit_files_are_kept_whatever_they_are(tmp_path):
    make_tree(tmp_path)
    got = discover_images([tmp_path / "notes.txt", tmp_path / "missing.jpg"])
    assert rel(got, tmp_path) == ["missing.jpg", "notes.txt"]  # load_image will report them


def test_discover_directory_symlink_loop_is_reported_not_followed_forever(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)  # sub/loop -> root
    errors: list[BadImageError] = []
    got = discover_images([tmp_path], recursive=True, on_error=errors.append)
    assert len(got) == 9
    assert [e.reason for e in errors] == ["symlink loop"]
    assert "loop" in str(errors[0]) and str(tmp_path) in str(errors[0])


def test_discover_file_symlink_loop_is_listed_for_load_image_to_report(tmp_path):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    (tmp_path / "dir_loop").symlink_to(tmp_path / "dir_loop")
    errors: list[BadImageError] = []
    got = discover_images([tmp_path, tmp_path / "dir_loop"], recursive=True, on_error=errors.append)
    # a.jpg and b.jpg come from the folder scan; dir_loop was named explicitly, so it is kept too
    assert rel(got, tmp_path) == ["a.jpg", "b.jpg", "dir_loop"]
    assert errors == []
    for p in got:
        expect_bad(p, "symlink loop")


def test_discover_unreadable_directory_is_reported(tmp_path, monkeypatch):
    make_tree(tmp_path)
    locked = tmp_path / "sub"
    real_scandir = os.scandir

    def fake_scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    errors: list[BadImageError] = []
    got = discover_images([tmp_path], recursive=True, on_error=errors.append)
    assert len(got) == 7  # the top level still comes through
    assert [e.reason for e in errors] == ["unreadable"]
    assert str(locked) in str(errors[0]) and "cannot list directory" in str(errors[0])


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists any directory whatever its mode")
def test_discover_unreadable_directory_real_permissions(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "sub").chmod(0)
    try:
        errors: list[BadImageError] = []
        assert len(discover_images([tmp_path], recursive=True, on_error=errors.append)) == 7
        assert [e.reason for e in errors] == ["unreadable"]
    finally:
        (tmp_path / "sub").chmod(0o755)


def test_discover_without_on_error_does_not_raise(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)
    assert len(discover_images([tmp_path], recursive=True)) == 9


def test_discover_then_load_mixed_folder(tmp_path):
    """The ingest flow: every file is either loaded or reported with its reason; nothing else stops."""
    save(noise_rgb(), tmp_path / "good1.jpg", "JPEG")
    save(Image.new("LA", (30, 30)), tmp_path / "good2.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    save(Image.new("RGB", (1, 1)), tmp_path / "tiny.png")
    png_header_only(tmp_path / "bomb.png", 10_000, 10_000)
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    ok, bad = [], {}
    for p in discover_images([tmp_path]):
        try:
            load_image(p)
            ok.append(p.name)
        except BadImageError as err:
            bad[p.name] = err.reason
    assert ok == ["good1.jpg", "good2.png"]
    assert bad == {
        "bomb.png": "decompression bomb",
        "empty.jpg": "zero bytes",
        "loop.jpg": "symlink loop",
        "text.jpg": "not an image",
        "tiny.png": "too small",
    }
