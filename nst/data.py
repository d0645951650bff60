"""The data of a style-transfer run: one (content, style) image pair, served every step."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset

from nst.errors import ConfigError, ImageError
from nst.images import DEFAULT_MAX_PIXELS, MIN_SIDE, load_image, resize_long_side


class StylePair(NamedTuple):
    """Content and style images, 1x3xHxW float RGB in [0, 1], already at their working size."""

    content: torch.Tensor
    style: torch.Tensor


def load_pair(
    content: str,
    style: str,
    size: int,
    style_size: int | None = None,
    max_input_pixels: int = DEFAULT_MAX_PIXELS,
) -> StylePair:
    """Load and resize the pair: content to ``size`` px on its long side, style to ``style_size``."""
    for name, value in (("size", size), ("style_size", style_size)):
        if value is not None and not (MIN_SIDE <= value <= 16384):
            raise ConfigError(f"{name}={value} is out of range; use {MIN_SIDE}..16384 pixels")
    content_image = resize_long_side(load_image(content, "content image", max_input_pixels), size)
    style_image = resize_long_side(load_image(style, "style image", max_input_pixels), style_size or size)
    for what, image in (("content", content_image), ("style", style_image)):
        if min(image.shape[-2:]) < MIN_SIDE:
            raise ImageError(
                f"the {what} image is {image.shape[-1]}x{image.shape[-2]} px at this size; VGG19 "
                f"needs at least {MIN_SIDE} px on the short side. Fix: raise `size` or crop it"
            )
    return StylePair(content_image, style_image)


class RepeatedPair(IterableDataset):
    """Yields the same pair forever: each optimisation step sees the whole (tiny) dataset."""

    def __init__(self, pair: StylePair):
        self.pair = pair

    def __iter__(self):
        return itertools.repeat(self.pair)


class StylePairDataModule(LightningDataModule):
    """Loads the (content, style) pair once and serves it to every training step."""

    def __init__(
        self,
        content: str,
        style: str,
        size: int = 400,
        style_size: int | None = None,
        max_input_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        super().__init__()
        self.content, self.style, self.size, self.style_size = content, style, size, style_size
        self.max_input_pixels = max_input_pixels
        self.pair: StylePair | None = None

    def setup(self, stage: str) -> None:
        if self.pair is None:
            self.pair = load_pair(
                self.content, self.style, self.size, self.style_size, self.max_input_pixels
            )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RepeatedPair(self.pair), batch_size=None)
