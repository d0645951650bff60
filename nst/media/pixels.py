"""Pixels handed over in memory (a PIL image, an array, a tensor) checked and turned into a PIL image
PNG can hold, with one line for anything that is not a picture. Imports no torch (a tensor is
read through its own methods)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from nst.errors import ConfigError, ImageError


def as_pil(value, what: str) -> Image.Image:
    """A PIL image, an HxW(x3|x4) uint8 (0-255), uint16 (0-65535) or float (0-1) array or a
    (1x)(1|3|4)xHxW tensor -> a PIL image PNG can hold; anything else is a one-line error."""
    if isinstance(value, Image.Image):
        image = value
    else:
        image = Image.fromarray(as_uint8(as_array(value, what), what))
    if image.width < 1 or image.height < 1:
        raise ImageError(f"{what}: the image is {image.width}x{image.height} px, empty. Fix: give a picture")
    if image.mode not in PNG_MODES:  # CMYK, YCbCr, LAB, HSV, F, ...: as RGB (with alpha if it has one)
        try:
            image = image.convert("RGBA" if "A" in image.mode or "a" in image.mode else "RGB")
        except (ValueError, OSError) as e:
            raise ImageError(f"{what}: a PIL image of mode {image.mode} cannot become RGB ({e}). Fix: "
                             "image.convert('RGB') first") from None
    return image


PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")


def as_array(value, what: str) -> np.ndarray:
    """A tensor (channels first, on any CPU-readable device) or array-like as an HxW(xC) array."""
    if hasattr(value, "detach"):  # a torch tensor: channels first
        if value.device.type == "meta" or value.is_complex():
            raise ImageError(f"{what}: a {value.dtype} tensor on {value.device} has no pixels to read. Fix: a "
                             "real-valued tensor with data, e.g. tensor.float().cpu()")
        array = value.detach().to("cpu").float().numpy()
        if array.ndim == 4 and array.shape[0] == 1:
            array = array[0]
        value = array.transpose(1, 2, 0) if array.ndim == 3 else array
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ImageError(f"{what}: {type(value).__name__} is not an image ({e}). Fix: a path, a PIL image, "
                         "an array or a tensor") from None
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ConfigError(f"{what}: an array of shape {array.shape} is not an image. Fix: HxW, HxWx3 or "
                          "HxWx4 (or a 3xHxW tensor)")
    return array


def as_uint8(array: np.ndarray, what: str) -> np.ndarray:
    """uint8 as it is; bool, uint16 (0-65535) and floats in 0..1 scaled to 0-255; others refused."""
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array.astype(np.float64) / 257 + 0.5).astype(np.uint8)
    if kind == "b":
        return array.astype(np.uint8) * 255
    if kind != "f":
        raise ImageError(f"{what}: an array of {array.dtype} is not a picture's type. Fix: uint8 (0-255) or "
                         "float (0-1), e.g. array.astype(np.uint8)")
    if not np.isfinite(array).all():
        raise ImageError(f"{what}: the array holds NaN or infinity. Fix: finite values in 0..1")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if low < -1e-3 or high > 1 + 1e-3:
        raise ImageError(f"{what}: float values span {low:g}..{high:g}, outside 0..1. Fix: scale them to 0..1 "
                         "(e.g. array / 255), or give uint8")
    return (np.clip(array.astype(np.float64), 0, 1) * 255 + 0.5).astype(np.uint8)
