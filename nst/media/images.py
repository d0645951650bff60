"""Reading, resizing and writing images as 1x3xHxW float tensors with RGB values in [0, 1]."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pillow_heif
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.functional import pil_to_tensor

from nst.errors import ImageError, write_failure
from nst.media.formats import encode, format_for, quantise
from nst.media.icc import has_alpha, one_line, to_srgb

pillow_heif.register_heif_opener()  # HEIC/HEIF (iPhones' default) through Pillow's own Image.open

# What a folder or glob of photos is searched for, and what the error for an unreadable file lists
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".gif")
SUPPORTED = "JPEG, PNG, WebP, AVIF, HEIC/HEIF, TIFF, BMP, GIF"
DEFAULT_MAX_PIXELS = 200_000_000  # 200 MP: above any camera, below a decompression bomb
MIN_SIDE = 16  # four poolings deep (relu5_x) still leaves one pixel


def load_image(
    path: str | os.PathLike, what: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """Load ``path`` as 1x3xHxW float sRGB in [0, 1] (see :func:`open_image`); transparency
    is composited on white."""
    with open_image(path, what, max_pixels) as im:
        return pil_to_float_tensor(im)


def load_image_alpha(
    path: str | os.PathLike, what: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(the image as :func:`load_image` gives it, its alpha as 1x1xHxW in [0, 1] or ``None``)."""
    with open_image(path, what, max_pixels) as im:
        alpha = None
        if has_alpha(im):
            alpha = pil_to_tensor(im.convert("RGBA").getchannel("A")).unsqueeze(0).float().div_(255)
        return pil_to_float_tensor(im), alpha


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


def pil_to_float_tensor(im: Image.Image) -> torch.Tensor:
    """Any PIL mode to 1x3xHxW float RGB in [0, 1] (alpha composited on white)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale by the format's range rather than clipping at 255.
        arr = torch.from_numpy(np.array(im, dtype=np.float32))
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = (arr / top).clamp(0, 1)
        return gray.expand(3, -1, -1).unsqueeze(0).contiguous()
    if has_alpha(im):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    im = im.convert("RGB")
    return pil_to_tensor(im).unsqueeze(0).float().div_(255)


def header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(h, w) of an image file from its header (EXIF rotation honoured), without decoding it;
    ``None`` where it cannot be read (``load_image`` says why when the run loads it)."""
    try:
        with Image.open(Path(path).expanduser()) as im:
            width, height = im.size
            rotated = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientation: a quarter turn
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None
    return (width, height) if rotated else (height, width)


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with the longest side equal to ``long_side`` and the aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of a 1x3xHxW image to ``size`` = (h, w), clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp_(0, 1)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    return resize(image, scaled_size(image.shape[-2], image.shape[-1], long_side))


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """3xHxW or 1x3xHxW float in [0, 1] to 3xHxW uint8, rounding to nearest like save_image."""
    if image.dim() == 4:
        image = image[0]
    return torch.from_numpy(quantise(image, None, 8)).permute(2, 0, 1).contiguous()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(image: torch.Tensor, path: str | os.PathLike, metadata: dict | None = None,
               alpha: torch.Tensor | None = None, format: str | None = None, quality: int = 95) -> Path:
    """Write ``image`` (1x3xHxW or 3xHxW) atomically (temp file + rename), tagged sRGB, with ``metadata`` (text chunks
    in PNG, ImageDescription in TIFF, JPEG and WebP). ``format``: one of ``nst.media.formats``
    (default: from the suffix, ``.png`` 8-bit); ``alpha``: 1x1xhxw, resized to the image. A failed
    write (disk full, no permission) leaves no partial file and raises ``OutputError``."""
    path = Path(path)
    fmt = format_for(path, format)
    if alpha is not None:
        alpha = resize(alpha.float(), tuple(image.shape[-2:]))
    text = {key: value if isinstance(value, str) else json.dumps(value, default=str)
            for key, value in (metadata or {}).items()}
    data = encode(image, fmt, text, alpha, quality)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=f"{path.suffix}.tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failure(e, path, "the images written before it are kept") from None
        raise
    return path
