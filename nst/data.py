"""The data of a style-transfer run: one (content, style) image pair, served every step."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Literal, NamedTuple, Optional, Union

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset

from nst.color import luminance
from nst.errors import ConfigError, ImageError
from nst.images import DEFAULT_MAX_PIXELS, MIN_SIDE, load_image, resize, resize_long_side
from nst.pairs import PairSpec, collect_pairs, shard


class StylePair(NamedTuple):
    """The content image and one or more style images, 1x3xHxW float RGB in [0, 1], already at
    their working sizes."""

    content: torch.Tensor
    styles: tuple[torch.Tensor, ...]


def style_paths(style: str | Sequence[str]) -> list[str]:
    paths = [style] if isinstance(style, (str, os.PathLike)) else list(style)
    if not paths:
        raise ConfigError("style: give at least one style image")
    return [str(p) for p in paths]


def style_long_side(size: int, style_size: int | None, style_scale: float) -> int:
    """``style_size`` if given, else ``size * style_scale`` (jcjohnson's -style_scale)."""
    if not style_scale > 0:
        raise ConfigError(f"style_scale must be > 0, got {style_scale}")
    return style_size if style_size is not None else round(size * style_scale)


def load_pair(
    content: str,
    style: str | Sequence[str],
    size: int,
    style_size: int | None = None,
    max_input_pixels: int = DEFAULT_MAX_PIXELS,
    style_scale: float = 1.0,
) -> StylePair:
    """Load and resize: content to ``size`` px on its long side, every style image to
    ``style_size`` (or ``size * style_scale``) px on its long side."""
    long_side = style_long_side(size, style_size, style_scale)
    for name, value in (("size", size), ("style size", long_side)):
        if not (MIN_SIDE <= value <= 16384):
            raise ConfigError(f"{name}={value} is out of range; use {MIN_SIDE}..16384 pixels")
    content_image = resize_long_side(load_image(content, "content image", max_input_pixels), size)
    styles = tuple(
        resize_long_side(load_image(path, "style image", max_input_pixels), long_side)
        for path in style_paths(style)
    )
    for what, image in (("content", content_image), *(("style", s) for s in styles)):
        if min(image.shape[-2:]) < MIN_SIDE:
            raise ImageError(
                f"the {what} image is {image.shape[-1]}x{image.shape[-2]} px at this size; VGG19 "
                f"needs at least {MIN_SIDE} px on the short side. Fix: raise `size` or crop it"
            )
    return StylePair(content_image, styles)


def load_pairs(
    specs: Sequence[PairSpec],
    ids: Sequence[int],
    size: int,
    style_size: int | None,
    max_input_pixels: int,
    style_scale: float,
) -> list[StylePair]:
    """The pairs ``specs[i]`` for ``i`` in ``ids`` (one device's share), loaded as :func:`load_pair`."""
    return [load_pair(specs[i].content, specs[i].styles, size, style_size, max_input_pixels, style_scale)
            for i in ids]


def load_mask(path: str, size: tuple[int, int], max_input_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """A mask image as 1x1xHxW weights in [0, 1] (its luminance: white = 1), resized to ``size``."""
    image = resize(load_image(path, "mask image", max_input_pixels), size)
    return luminance(image).clamp(0, 1)


class EveryStep(IterableDataset):
    """Yields the step number forever: the pairs live on the model (their targets are computed
    once), so a step's batch carries nothing to copy to the device."""

    def __iter__(self):
        return itertools.count()


class StylePairDataModule(LightningDataModule):
    """Loads this device's (content, style) pairs once (every N-th of the run's pairs under
    DDP; ``nst.pairs``); the model takes them from here."""

    def __init__(
        self,
        content: Optional[str] = None,
        style: Union[str, list[str], None] = None,
        pairs: Optional[str] = None,
        size: Union[int, Literal["auto"]] = 400,
        style_size: Optional[int] = None,
        max_input_pixels: int = DEFAULT_MAX_PIXELS,
        style_scale: float = 1.0,
    ):
        super().__init__()
        self.content, self.style, self.manifest, self.size = content, style, pairs, size
        self.style_size, self.max_input_pixels, self.style_scale = style_size, max_input_pixels, style_scale
        self.pairs: list[StylePair] | None = None
        self.pair_ids: list[int] | None = None

    def setup(self, stage: str) -> None:
        if self.pairs is None:
            specs = collect_pairs(self.content, self.style, self.manifest)
            rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
            self.pair_ids = shard(len(specs), rank, world)
            self.pairs = load_pairs(specs, self.pair_ids, self.size, self.style_size,
                                    self.max_input_pixels, self.style_scale)

    @property
    def pair(self) -> StylePair | None:
        return self.pairs[0] if self.pairs else None

    def train_dataloader(self) -> DataLoader:
        return DataLoader(EveryStep(), batch_size=None)
