"""Decoding a picture file into sRGB pixels, without torch (the one-photo command line's fast
path reads it; ``nst.media.images`` turns the result into tensors)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.errors import ImageError
from nst.media.icc import has_alpha, one_line, to_srgb

pillow_heif.register_heif_opener()  # HEIC/HEIF (iPhones' default) through Pillow's own Image.open

# What a folder or glob of photos is searched for, and what the error for an unreadable file lists
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".gif")
SUPPORTED = "JPEG, PNG, WebP, AVIF, HEIC/HEIF, TIFF, BMP, GIF"
DEFAULT_MAX_PIXELS = 200_000_000  # 200 MP: above any camera, below a decompression bomb
MIN_SIDE = 16  # four poolings deep (relu5_x) still leaves one pixel


def open_image(path: str | os.PathLike, what: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """``path`` decoded as a PIL image in sRGB: an embedded ICC profile converted (``nst.media.icc``),
    EXIF orientation honoured. Any format Pillow reads, HEIC/HEIF through ``pillow-heif``. Images
    over ``max_pixels`` pixels (checked from the header, before decoding) or under ``MIN_SIDE``
    pixels on a side are refused. Every problem raises :class:`ImageError` with one line naming it
    and the fix."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ImageError(f"{what} file {path} does not exist. Fix: check the path in the config")
    if path.is_dir():
        raise ImageError(f"{what} {path} is a directory. Fix: give an image file (.jpg, .png)")
    if path.stat().st_size == 0:
        raise ImageError(f"{what} {path} is an empty file. Fix: give a real image file")
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below replaces Pillow's, so it can be raised
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{what} {path} is {width}x{height} = {width * height / 1e6:.0f} MP, over the "
                    f"limit of {max_pixels / 1e6:.0f} MP (a guard against decompression bombs). "
                    "Fix: downscale it, or raise model.max_input_pixels if you trust it"
                )
            if min(width, height) < MIN_SIDE:
                raise ImageError(
                    f"{what} {path} is only {width}x{height} px. Fix: use an image of at least "
                    f"{MIN_SIDE} px on each side"
                )
            im.load()
            oriented = ImageOps.exif_transpose(im)
            return to_srgb(oriented, f"{what} {path}")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(
            f"cannot read {what} {path} ({type(e).__name__}: {one_line(e)}). Fix: re-save it in a supported "
            f"format ({SUPPORTED})"
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with the longest side equal to ``long_side`` and the aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def load_array(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """``path`` decoded (:func:`open_image`) as HxWx3 float32 RGB in [0, 1]."""
    with open_image(path, what) as image:
        return pil_to_array(image)


def pil_to_array(im: Image.Image) -> np.ndarray:
    """Any PIL mode to HxWx3 float32 RGB in [0, 1] (alpha composited on white; 16-bit grey by its range)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.array(im, dtype=np.float32)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.repeat(np.clip(arr / np.float32(top), 0, 1)[..., None], 3, axis=2)
    if has_alpha(im):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / np.float32(255)
