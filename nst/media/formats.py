"""Output formats: an image (1x3xHxW float in [0, 1], optional 1x1xHxW alpha) encoded in memory as
8-bit PNG, 16-bit PNG, 16-bit TIFF, JPEG or WebP, every one tagged sRGB and carrying the run's
configuration where the format can hold it. 16-bit files are quantised from the float image.
Writers (measured on a 2500 px picture, docs/guide/photos-and-formats.md): Pillow for 8-bit PNG, JPEG and
WebP, OpenCV for 16-bit PNG (Pillow has no 16-bit RGB), tifffile for TIFF (OpenCV cannot embed
a profile in TIFF; zlib level 1 with the horizontal predictor: as fast as level 6 without it and
11-21 % smaller)."""

from __future__ import annotations

import io
import json
import os
import tempfile
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, PngImagePlugin

from nst.errors import OutputError, write_failure
from nst.media.icc import SRGB_ICC

OutputFormat = Literal["png", "png16", "tiff16", "jpeg", "webp"]
SUFFIXES = {"png": ".png", "png16": ".png", "tiff16": ".tif", "jpeg": ".jpg", "webp": ".webp"}
BY_SUFFIX = {".png": "png", ".tif": "tiff16", ".tiff": "tiff16", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
DESCRIPTION = 270  # TIFF/EXIF ImageDescription: the configuration as JSON in TIFF, JPEG and WebP


def format_for(path: Path, fmt: str | None = None) -> str:
    """``fmt`` if given, else the format its suffix names (``final.tif``: 16-bit TIFF)."""
    if fmt is None:
        fmt = BY_SUFFIX.get(path.suffix.lower())
    if fmt not in SUFFIXES:
        what = f"format '{fmt}'" if fmt is not None else f"file type '{path.suffix}' ({path.name})"
        raise OutputError(f"unknown output {what}; valid: {', '.join(SUFFIXES)} "
                          f"({', '.join(sorted(set(BY_SUFFIX)))}). Fix: choose one of them")
    return fmt


def quantise(image, alpha, bits: int) -> np.ndarray:
    """HxWx3 (or x4 with alpha) uint8/uint16 from the float image (a tensor or array, 1x3xHxW or
    3xHxW), rounded to nearest."""
    top = (1 << bits) - 1
    image = as_array(image).reshape(3, *image.shape[-2:])
    planes = image if alpha is None else np.concatenate([image, as_array(alpha).reshape(1, *image.shape[-2:])])
    values = np.clip(planes * np.float32(top) + np.float32(0.5), 0, top)
    array = values.astype(np.uint8 if bits == 8 else np.int32).transpose(1, 2, 0)
    return array if bits == 8 else array.astype(np.uint16)


def as_array(image) -> np.ndarray:
    """float32 numpy of a tensor (any device, detached) or an array."""
    if hasattr(image, "detach"):
        image = image.detach().float().cpu().numpy()
    return np.asarray(image, dtype=np.float32)


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` to a temporary file beside ``path``, then renamed: a reader never sees half a file.
    A failed write (disk full, no permission) leaves no partial file and raises ``OutputError``."""
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def encode(image, fmt: str, metadata: dict[str, str], alpha=None,
           quality: int = 95) -> bytes:
    """The file's bytes. JPEG has no alpha: there the RGB (composited on white) is written."""
    if fmt == "png16":
        return encode_png16(quantise(image, alpha, 16), metadata)
    if fmt == "tiff16":
        import tifffile

        buffer = io.BytesIO()
        array = quantise(image, alpha, 16)
        tifffile.imwrite(buffer, array, photometric="rgb", extrasamples=["unassalpha"] if alpha is not None else None,
                         compression="zlib", compressionargs={"level": 1}, predictor=True, iccprofile=SRGB_ICC,
                         description=json.dumps(metadata), metadata=None)
        return buffer.getvalue()
    pil = Image.fromarray(quantise(image, alpha if fmt != "jpeg" else None, 8))
    buffer = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_text(key, value)
        pil.save(buffer, format="PNG", pnginfo=info, icc_profile=SRGB_ICC)
    else:
        exif = Image.Exif()
        exif[DESCRIPTION] = json.dumps(metadata)
        pil.save(buffer, format="JPEG" if fmt == "jpeg" else "WEBP", quality=quality, icc_profile=SRGB_ICC,
                 exif=exif.tobytes())
    return buffer.getvalue()


def encode_png16(array: np.ndarray, metadata: dict[str, str]) -> bytes:
    """16-bit PNG by OpenCV (with the sRGB profile), the configuration added as ``tEXt`` chunks
    after the header, as Pillow writes them for 8-bit PNGs."""
    import cv2

    bgr = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[-1] == 4 else cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencodeWithMetadata(".png", bgr, [cv2.IMAGE_METADATA_ICCP], [np.frombuffer(SRGB_ICC, np.uint8)])
    if not ok:
        raise OutputError("OpenCV could not encode a 16-bit PNG. Fix: --image_saver.format tiff16")
    data = buffer.tobytes()
    header_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    chunks = b"".join(png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
                      for key, value in metadata.items())
    return data[:header_end] + chunks + data[header_end:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The configuration a written image carries (``nst:config``, ``nst:config_sha256``), any format."""
    with Image.open(path) as im:
        if im.format == "PNG":
            return dict(im.text)
        tags = im.tag_v2 if im.format == "TIFF" else im.getexif()
        text = tags.get(DESCRIPTION)
    return json.loads(text) if text else {}
