"""Robust image discovery and loading for the CLIs. Pure: nothing is printed.

`load_image` either returns an upright 8-bit RGB `PIL.Image.Image` or raises `BadImageError` whose
message is one line, ``"<path>: <reason> (<detail>)"``; the exception also carries ``.path`` and
``.reason`` (one of `REASONS`) so callers can count failures by reason.

Decisions:
- The whole image is decoded (``img.load()``) with Pillow's ``LOAD_TRUNCATED_IMAGES`` off, so truncated
  data is an error, never a grey band.  PNG files must end with their IEND chunk and WebP files must be
  as long as their RIFF header says.
- Decompression bombs: more than ``max_pixels`` pixels (default 64 MP) is refused from the header,
  before any pixel is decoded.  Pillow's own limit (``Image.MAX_IMAGE_PIXELS``) still applies as well,
  and its ``DecompressionBombWarning`` is treated as an error like ``DecompressionBombError``.
- Transparency (RGBA, LA, PA, palette with a transparent index) is composited onto white: transparent
  pixels become white, half-transparent ones are blended, as a viewer shows them on a white page.
  Dropping alpha instead would expose whatever colour the transparent pixels happen to store.
- 16-bit greyscale (``I;16*``) is scaled to 8 bits by v/257, rounded (65535 -> 255), not clipped.
  32-bit integer ``I`` images are treated the same when their values lie in 0..65535 (how 16-bit PNG
  and TIFF data arrive there), else stretched min..max.  Float ``F`` images in [0, 1] are scaled by 255,
  else stretched min..max.
- Greyscale, bilevel, palette, CMYK (Pillow's plain conversion, no ICC), YCbCr and LAB become RGB via
  Pillow.  The EXIF orientation is applied, so phone photos come out upright.  Multi-frame files
  (GIF, TIFF, WebP) give their first frame; a folder's `.gif` files are discovered like the others.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import BadImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
DEFAULT_MAX_PIXELS = 64_000_000
DEFAULT_MIN_SIDE = 16

REASONS = (
    "missing",  # no such file or directory (a dangling symlink included)
    "unreadable",  # permission denied or another OS error while reading
    "symlink loop",
    "not a file",  # a directory or a device given where an image file was expected
    "zero bytes",
    "not an image",
    "truncated",
    "corrupt",  # decodes partly, fails for a reason other than missing data
    "decompression bomb",
    "too small",
    "unsupported",  # a pixel format with no sensible RGB conversion
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_pillow_lock = threading.Lock()


def bad_image(path: str | os.PathLike, reason: str, detail: str | None = None) -> BadImageError:
    """A `BadImageError` with a one-line message naming the file and the reason."""
    assert reason in REASONS, reason
    message = f"{path}: {reason}" + (f" ({detail})" if detail else "")
    err = BadImageError(" ".join(message.split()))
    err.path = Path(path)  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _os_error(path: str | os.PathLike, exc: OSError) -> BadImageError:
    if exc.errno == errno.ELOOP:
        return bad_image(path, "symlink loop")
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(path):
            return bad_image(path, "missing", f"dangling symlink to {os.readlink(path)}")
        return bad_image(path, "missing", "no such file or directory")
    if isinstance(exc, PermissionError):
        return bad_image(path, "unreadable", "permission denied")
    if isinstance(exc, IsADirectoryError):
        return bad_image(path, "not a file", "it is a directory")
    return bad_image(path, "unreadable", exc.strerror or str(exc))


# ---------------------------------------------------------------- discovery


def has_image_extension(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def discover_images(
    paths: Iterable[str | os.PathLike],
    recursive: bool = False,
    *,
    on_error: Callable[[BadImageError], None] | None = None,
) -> list[Path]:
    """Image files named by `paths` (files or directories), sorted, without duplicates.

    - A path given as a file is returned whatever its name or state (missing, unreadable, a symlink
      loop): `load_image` then reports it in one line.  A directory contributes its files with an image
      extension (case-insensitive), hidden names (starting with ".") excepted; with `recursive`, its
      subdirectories too (symlinked ones followed, each real directory visited once).
    - Problems found while listing (an unreadable directory, a symlink loop among directories) are
      passed to `on_error` as `BadImageError`s and the rest goes on; without `on_error` they are skipped.
      Files inside directories whose state is bad (dangling or looping symlinks with an image name) are
      returned so that `load_image` reports them.
    """
    report = on_error or (lambda _err: None)
    found: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # e.g. ELOOP on some platforms
            report(_os_error(path, exc))
            continue
        if is_dir:
            for f in _scan_dir(path, recursive, report):
                found.setdefault(os.path.normpath(os.path.abspath(f)), f)
        else:
            found.setdefault(os.path.normpath(os.path.abspath(path)), path)
    return sorted(found.values(), key=lambda p: str(p))


def _scan_dir(root: Path, recursive: bool, report: Callable[[BadImageError], None]) -> list[Path]:
    out: list[Path] = []
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            st = d.stat()
        except OSError as exc:
            report(_os_error(d, exc))
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            report(bad_image(d, "symlink loop", f"directory already visited as {os.path.realpath(d)}"))
            continue
        visited.add(key)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            err = _os_error(d, exc)
            if err.reason == "unreadable":  # type: ignore[attr-defined]
                err = bad_image(d, "unreadable", f"cannot list directory: {exc.strerror or exc}")
            report(err)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            p = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks; False for dangling or looping links
            except OSError:
                is_dir = False
            if is_dir:
                if recursive:
                    stack.append(p)
            elif has_image_extension(entry.name):
                out.append(p)
    return out


# ---------------------------------------------------------------- loading


def load_image(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> Image.Image:
    """Decode `path` fully and return it as upright 8-bit RGB, or raise `BadImageError`."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise _os_error(path, exc) from None
    if not path.is_file():
        raise bad_image(path, "not a file", "it is a directory" if path.is_dir() else "not a regular file")
    if st.st_size == 0:
        raise bad_image(path, "zero bytes")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            short = _container_truncated(f, head, st.st_size)
            f.seek(0)
            img = _open(path, f, short)
            w, h = img.size
            if max_pixels is not None and w * h > max_pixels:
                raise bad_image(
                    path,
                    "decompression bomb",
                    f"{w}x{h} = {w * h / 1e6:.1f} MP, limit {max_pixels / 1e6:g} MP",
                )
            if w < min_side or h < min_side:
                raise bad_image(path, "too small", f"{w}x{h} px, each side must be >= {min_side} px")
            if short:
                raise bad_image(path, "truncated", short)
            _decode(path, img)
    except OSError as exc:  # the file went away or became unreadable between stat and read
        raise _os_error(path, exc) from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block is no reason to refuse the pixels
        pass
    return to_rgb(img, path)


def _container_truncated(f, head: bytes, size: int) -> str | None:
    """Truncation that Pillow does not notice by itself: PNG without IEND, WebP shorter than its header."""
    if head.startswith(_PNG_SIGNATURE):
        f.seek(max(0, size - 4096))
        tail = f.read()
        if not tail.endswith(_PNG_IEND) and _PNG_IEND[:8] not in tail:
            return "PNG ends before its IEND chunk"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = int.from_bytes(head[4:8], "little") + 8
        if size < declared:
            return f"file has {size} of the {declared} bytes its header declares"
    return None


def _open(path: Path, f, short: str | None) -> Image.Image:
    with _pillow_lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(f)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise bad_image(path, "decompression bomb", str(exc).split(".")[0]) from None
        except UnidentifiedImageError:
            if short:
                raise bad_image(path, "truncated", short) from None
            raise bad_image(path, "not an image", "no known image format") from None
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... on broken headers
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a real I/O error, reported by the caller
            text = _detail(exc)
            if short or "truncated" in text.lower() or isinstance(exc, EOFError):
                raise bad_image(path, "truncated", short or text) from None
            raise bad_image(path, "corrupt", text) from None


def _decode(path: Path, img: Image.Image) -> None:
    def load() -> None:
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise bad_image(path, "decompression bomb", str(exc).split(".")[0]) from None
        except Exception as exc:
            text = _detail(exc)
            if "truncated" in text.lower() or isinstance(exc, EOFError):
                # Pillow says "image file is truncated (N bytes not processed)": keep the numbers only
                rest = text.replace("image file is truncated", "").strip(" ()")
                raise bad_image(path, "truncated", rest or None) from None
            if isinstance(exc, ValueError) and "too large" in text.lower():  # huge PNG text/ICC chunks
                raise bad_image(path, "decompression bomb", text) from None
            raise bad_image(path, "corrupt", text) from None

    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone relaxed it process-wide: be strict for this decode
        with _pillow_lock:
            saved, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
            try:
                load()
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = saved
    else:
        load()


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# ---------------------------------------------------------------- conversion


def to_rgb(img: Image.Image, path: str | os.PathLike = "<image>") -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (see the module docstring for the rules)."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode.startswith("I;16") or mode == "I":
        return _gray_to_rgb(_scale_int(np.asarray(img), 16 if mode.startswith("I;16") else 32))
    if mode == "F":
        return _gray_to_rgb(_scale_float(np.asarray(img, dtype=np.float64)))
    if (
        mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or (mode == "P" and "transparency" in img.info)
        or (mode in ("L", "RGB") and "transparency" in img.info)
    ):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise bad_image(path, "unsupported", f"pixel mode {mode}: {_detail(exc)}") from None


def _scale_int(a: np.ndarray, bits: int) -> np.ndarray:
    a = a.astype(np.float64)
    if bits == 16 or (a.size and a.min() >= 0 and a.max() <= 65535):
        return a / 257.0  # 65535 / 257 == 255 exactly
    return _stretch(a)


def _scale_float(a: np.ndarray) -> np.ndarray:
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    if a.size and a.min() >= 0.0 and a.max() <= 1.0:
        return a * 255.0
    return _stretch(a)


def _stretch(a: np.ndarray) -> np.ndarray:
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    return (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)


def _gray_to_rgb(v: np.ndarray) -> Image.Image:
    g = np.clip(np.rint(v), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([g, g, g], axis=-1), "RGB")


# ---------------------------------------------------------------- identity


def file_sha256(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of the file's bytes, read in chunks (the image id); `BadImageError` if unreadable."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk_size):
                h.update(block)
    except OSError as exc:
        raise _os_error(path, exc) from None
    return h.hexdigest()
