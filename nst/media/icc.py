"""Colour management with Pillow's ``ImageCms`` (LittleCMS): a photo tagged with an ICC profile
(Adobe RGB from a camera, Display P3 from a phone, a scanner's profile) is converted to sRGB on
load, the space VGG19 was trained in and the one every output is tagged with. Read without it,
an Adobe RGB photo comes back 16 % less saturated."""

from __future__ import annotations

import io

from PIL import Image, ImageCms

from nst.errors import ImageError

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SRGB_ICC = SRGB.tobytes()  # embedded in every output
# Relative colorimetric (with black-point compensation): what browsers and Photoshop's default
# photo settings do; colours inside sRGB stay exact, those outside are clipped to its gamut.
# Matrix profiles (Adobe RGB, Display P3) have no perceptual tables, so "perceptual" would be
# the same transform.
INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC
FLAGS = ImageCms.Flags.BLACKPOINTCOMPENSATION
MODES = {"RGB": ("RGB", "RGBA", "RGBX", "P", "PA"), "GRAY": ("L", "LA", "1"), "CMYK": ("CMYK",)}
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def one_line(error: BaseException) -> str:
    """A library's message (libheif's, LittleCMS's span lines) as one line."""
    return " ".join(str(error).split()).rstrip(".")


def has_alpha(im: Image.Image) -> bool:
    return im.mode in ALPHA_MODES or (im.mode == "P" and "transparency" in im.info)


def to_srgb(im: Image.Image, where: str) -> Image.Image:
    """``im`` converted from its embedded ICC profile to sRGB (RGB, or RGBA with its alpha kept);
    untagged images are returned as they are (taken to be sRGB). 16-bit and float images keep
    their values (LittleCMS transforms through Pillow are 8-bit). A profile that cannot be read,
    or that is not for this kind of image, raises one line."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode.startswith(("I", "F")):
        return im
    fix = "Fix: re-save it without the profile (or with a valid one), e.g. in an image editor"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = source.profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError, ValueError) as e:
        raise ImageError(f"{where} has a broken ICC colour profile ({one_line(e)}). {fix}") from None
    if im.mode not in MODES.get(space, ()):
        raise ImageError(f"{where} is a {im.mode} image with an ICC profile for {space or 'unknown'} colours. {fix}")
    alpha = im.convert("RGBA").getchannel("A") if has_alpha(im) else None
    colour = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}[space]
    try:
        out = ImageCms.profileToProfile(im.convert(colour), source, SRGB, renderingIntent=INTENT,
                                        outputMode="RGB", flags=FLAGS)
    except (OSError, ImageCms.PyCMSError, ValueError) as e:
        raise ImageError(f"{where} has an ICC colour profile that cannot be applied ({one_line(e)}). {fix}") from None
    if alpha is not None:
        out.putalpha(alpha)
    return out
