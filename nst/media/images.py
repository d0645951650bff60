"""Reading, resizing and writing images as 1x3xHxW float tensors with RGB values in [0, 1]."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.functional import pil_to_tensor

from nst.media.decode import (DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, MIN_SIDE, SUPPORTED, open_image,  # noqa: F401 - their home is decode
                              pil_to_array, scaled_size)
from nst.media.formats import encode, format_for, quantise, write_atomically
from nst.media.icc import has_alpha


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


def pil_to_float_tensor(im: Image.Image) -> torch.Tensor:
    """Any PIL mode to 1x3xHxW float RGB in [0, 1] (alpha composited on white)."""
    return torch.from_numpy(pil_to_array(im)).permute(2, 0, 1).unsqueeze(0).contiguous()


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
    write_atomically(path, encode(image, fmt, text, alpha, quality))
    return path
