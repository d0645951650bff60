"""Tiles of an image, for running VGG19 on one part at a time (``model.tile_size``).

A tile is a *core* (the pixels whose features it contributes; the cores partition the image)
plus a *halo* around it (context the convolutions read, whose own features are dropped). Core
and tile edges lie on a 16 px grid, the pooling grid of relu5_1, so every pooling window of a
tile is a pooling window of the whole image and a core's features sit at whole positions of the
whole image's feature maps. With a halo as wide as the receptive field the core's features are
the untiled ones; ``bench/tiling.py`` measures the error of narrower halos. The grid moves by a
random multiple of 16 px every step, so no tile edge stays in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from nst.objective.network.layers import VGG19_LAYERS, layer_index
from nst.objective.losses.moments import Moments
from nst.seeds import derive_seed

ALIGN = 16  # px: four 2x2 poolings before relu5_1
DEFAULT_HALO = 80  # px: the narrowest with exact features up to relu5_1 (bench/tiling.py, docs/performance/benchmarks.md)


def stride(layer: str) -> int:
    """Pixels per feature position at ``layer`` (2 ** poolings before it)."""
    return 2 ** sum(name.startswith("pool") for name in VGG19_LAYERS[: max(layer_index(layer), 0)])


def round_up(n: int, multiple: int = ALIGN) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Tile:
    """``core`` and ``box`` (core plus halo, clipped to the image) as (y0, y1, x0, x1) in pixels."""

    core: tuple[int, int, int, int]
    box: tuple[int, int, int, int]
    size: tuple[int, int]  # the whole image's (H, W)

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        y0, y1, x0, x1 = self.box
        return image[..., y0:y1, x0:x1]

    def where(self, layer_stride: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """The core's positions in a feature map of stride ``layer_stride``: (in the tile's map,
        in the whole image's map) as (rows, columns) slices."""
        inside, whole = [], []
        for a0, a1, t0, n in ((self.core[0], self.core[1], self.box[0], self.size[0]),
                              (self.core[2], self.core[3], self.box[2], self.size[1])):
            g0, g1 = a0 // layer_stride, (n if a1 == n else a1) // layer_stride
            offset = t0 // layer_stride
            inside.append(slice(g0 - offset, g1 - offset))
            whole.append(slice(g0, g1))
        return (inside[0], inside[1]), (whole[0], whole[1])

    def core_features(self, features: torch.Tensor, layer: str) -> torch.Tensor:
        rows, cols = self.where(stride(layer))[0]
        return features[..., rows, cols]


def cuts(n: int, tile: int, offset: int) -> list[int]:
    """Core edges along one axis of ``n`` px: every ``tile`` px, the first at ``offset``."""
    return [0, *range(offset or tile, n, tile), n]


def tile_grid(size: tuple[int, int], tile: int, halo: int, offset: tuple[int, int] = (0, 0)) -> list[Tile]:
    """The tiles of an image of ``size`` (H, W): cores of ``tile`` px (the first row and column
    shortened by ``offset``), each with ``halo`` px of context inside the image."""
    h, w = size
    rows, cols = cuts(h, tile, offset[0]), cuts(w, tile, offset[1])
    tiles = []
    for y0, y1 in zip(rows, rows[1:]):
        for x0, x1 in zip(cols, cols[1:]):
            box = (max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo))
            tiles.append(Tile((y0, y1, x0, x1), box, (h, w)))
    return tiles


class Tiling:
    """How a run tiles its images: ``tile`` px cores with ``halo`` px of context on ``vgg``, on a
    grid moved at random (from ``seed`` and the step) every step. ``progress``: show the tiles
    of a step in a progress bar."""

    def __init__(self, vgg, tile: int, halo: int = DEFAULT_HALO, seed: int = 0, progress: bool = False):
        self.vgg, self.tile, self.halo, self.seed, self.progress = vgg, round_up(tile), round_up(halo), seed, progress

    def applies(self, image: torch.Tensor) -> bool:
        """Larger than one tile: smaller images run untiled (bit for bit as without tiling)."""
        return max(image.shape[-2:]) > self.tile

    def grid(self, size: tuple[int, int], step: Optional[int] = None) -> list[Tile]:
        """The tiles of ``step`` (its random offset; ``None``: no offset)."""
        offset = (0, 0)
        if step is not None:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, step))
            offset = tuple(int(v) * ALIGN for v in torch.randint(0, self.tile // ALIGN, (2,), generator=generator))
        return tile_grid(size, self.tile, self.halo, offset)

    @torch.no_grad()
    def moments(self, image: torch.Tensor, layers, guide: Optional[torch.Tensor] = None) -> dict[str, Moments]:
        """Each layer's moments of the whole ``image`` (weighted by a guide's m^2), tile by tile."""
        weights = {layer: guide_weight(guide, image, layer) for layer in layers}
        sums: dict[str, Moments] = {}
        for tile in self.grid(tuple(image.shape[-2:])):
            features = self.vgg(tile.crop(image))
            for layer in layers:
                part = tile_moments(tile, features[layer], layer, weights[layer]).to(torch.float64)
                sums[layer] = part if layer not in sums else sums[layer] + part
        return {layer: m.to(torch.float32) for layer, m in sums.items()}

    @torch.no_grad()
    def features(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """Each layer's whole feature map of ``image``, assembled from the tiles' cores."""
        h, w = image.shape[-2:]
        out: dict[str, torch.Tensor] = {}
        for tile in self.grid((h, w)):
            features = self.vgg(tile.crop(image))
            for layer in layers:
                s = stride(layer)
                if layer not in out:
                    f = features[layer]
                    out[layer] = f.new_zeros(f.shape[0], f.shape[1], h // s, w // s)
                inside, whole = tile.where(s)
                out[layer][..., whole[0], whole[1]] = features[layer][..., inside[0], inside[1]]
        return out


def guide_weight(guide: Optional[torch.Tensor], image: torch.Tensor, layer: str) -> Optional[torch.Tensor]:
    """A guide's pixel weights m^2 at ``layer``'s resolution of the whole image (as
    ``nst.objective.losses.guides`` computes them untiled), or ``None``."""
    if guide is None:
        return None
    s = stride(layer)
    size = (image.shape[-2] // s, image.shape[-1] // s)
    return F.adaptive_avg_pool2d(guide.to(image.device, torch.float32), size).pow(2)


def tile_moments(tile: Tile, features: torch.Tensor, layer: str, weight: Optional[torch.Tensor]) -> Moments:
    """The moments of the core of ``tile`` in its ``features`` at ``layer``."""
    inside, whole = tile.where(stride(layer))
    core = features[..., inside[0], inside[1]]
    return Moments.of(core, None if weight is None else weight[..., whole[0], whole[1]])


def seam_ratio(image: np.ndarray, every: int = ALIGN) -> float:
    """Mean |difference of neighbouring pixels| of an H x W x C image across the lines where tile
    edges can lie (every 16 px) over its mean elsewhere: 1 where tiles leave no seam."""
    dx = np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))  # between column x and x + 1
    dy = np.abs(np.diff(image, axis=0)).mean(axis=(1, 2))
    on = [d[i] for d in (dx, dy) for i in range(every - 1, len(d), every)]
    off = [d[i] for d in (dx, dy) for i in range(len(d)) if i % every != every - 1]
    return float(np.mean(on) / np.mean(off))
