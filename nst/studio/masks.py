"""Brush strokes on the photo become ``content_masks``: layer *i* of the mask editor is where
painting *i* goes (white = "this painting here", as in ``configs/masks.yaml``)."""

from __future__ import annotations

import numpy as np
from PIL import Image

EDITOR_SIDE = 768  # the photo is drawn on at most this size; masks are scaled back to the photo
PAINTED = 8  # alpha above this counts as a stroke (antialiased edges are faint)


def editor_background(photo: Image.Image) -> Image.Image:
    """A copy of the photo small enough to draw on in a browser."""
    scale = EDITOR_SIDE / max(photo.size)
    if scale >= 1:
        return photo.convert("RGB")
    return photo.convert("RGB").resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)


def stroke_mask(layer: Image.Image | None) -> np.ndarray | None:
    """A layer's painted pixels as a boolean array, or None when nothing is painted on it."""
    if layer is None:
        return None
    alpha = np.asarray(layer.convert("RGBA"))[..., 3]
    painted = alpha > PAINTED
    return painted if painted.any() else None


def content_masks(layers: list[Image.Image | None], paintings: int, size: tuple[int, int]) -> list[Image.Image] | None:
    """One "L" mask per painting at the photo's ``size`` (width, height), or None when nothing
    is drawn. Paintings without a layer of their own share what no layer covers, so two
    paintings and one drawn region mean "the first here, the second elsewhere"; one painting
    and one region mean "style here only"."""
    strokes = [stroke_mask(layer) for layer in layers[:paintings]]
    drawn = [s for s in strokes if s is not None]
    if not drawn:
        return None
    shape = drawn[0].shape
    covered = np.zeros(shape, bool)
    for s in drawn:
        covered |= s if s.shape == shape else np.asarray(Image.fromarray(s).resize(shape[::-1])) > 0
    rest = ~covered
    masks = []
    for i in range(paintings):
        stroke = strokes[i] if i < len(strokes) else None
        region = stroke if stroke is not None else rest
        masks.append(Image.fromarray((region * 255).astype(np.uint8), "L").resize(size, Image.BILINEAR))
    return masks
