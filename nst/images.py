"""Reading, resizing and writing images as 1x3xHxW float tensors with RGB values in [0, 1]."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError
from torchvision.transforms.functional import pil_to_tensor

from nst.errors import ImageError

def load_image(path: str | os.PathLike, what: str = "image") -> torch.Tensor:
    """Load ``path`` as 1x3xHxW float RGB in [0, 1].

    EXIF orientation is honoured; grayscale, palette, CMYK and 16-bit images are converted to
    RGB; transparency is composited on white. Problems raise :class:`ImageError` in one line.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ImageError(f"{what} file {path} does not exist. Fix: check the path in the config")
    if path.is_dir():
        raise ImageError(f"{what} {path} is a directory. Fix: give an image file (.jpg, .png)")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
            return pil_to_float_tensor(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageError(
            f"cannot read {what} {path} ({type(e).__name__}: {e}). Fix: re-save it as PNG or JPEG"
        ) from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{what} {path} is too large ({e}). Fix: downscale it first") from None


def pil_to_float_tensor(im: Image.Image) -> torch.Tensor:
    """Any PIL mode to 1x3xHxW float RGB in [0, 1] (alpha composited on white)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale by the format's range rather than clipping at 255.
        arr = torch.from_numpy(np.array(im, dtype=np.float32))
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = (arr / top).clamp(0, 1)
        return gray.expand(3, -1, -1).unsqueeze(0).contiguous()
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    im = im.convert("RGB")
    return pil_to_tensor(im).unsqueeze(0).float().div_(255)


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
    return image.detach().float().mul(255).add_(0.5).clamp_(0, 255).to("cpu", torch.uint8)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(image: torch.Tensor, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``image`` as PNG atomically (temp file + rename), with ``metadata`` as text chunks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy(), mode="RGB")
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(key, value if isinstance(value, str) else json.dumps(value, default=str))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".png.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pil.save(f, format="PNG", pnginfo=info)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
