"""An objective's terms over tiles, with the style statistics of the whole image.

Peak memory follows the tile, not the image: VGG19 never sees more than one tile (core + halo)
at a time. Two passes per evaluation (:class:`TiledPass`, an autograd function, so automatic
optimisation, Adam and L-BFGS closures, the NaN guard and checkpoints see an ordinary loss):

1. forward, without gradients: each tile's core adds its feature moments (``nst.objective.losses.moments``)
   per style layer; content and TV add their local shares. The style loss is then computed once
   from the whole image's moments, and autograd gives its gradient dL/dM with respect to them.
2. backward: each tile is run again with gradients, and <dL/dM, M_tile> (+ the content and TV
   shares) is back-propagated into the tile, halo included; the tiles' gradients add up.

The moments of the cores add up to the whole image's, so for ``gram``, ``mean_std`` and
``wasserstein2`` the style value and gradient are those of the untiled image up to the halo's
error on the features (none with the default halo: ``nst.objective.tiles``).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from tqdm import tqdm

from nst.errors import ConfigError
from nst.objective.losses.moments import Moments
from nst.objective.tiles import Tile, Tiling, guide_weight, stride, tile_moments

TILED_STYLE_LOSSES = ("gram", "mean_std", "wasserstein2")
TILED_CONTENT_LOSSES = ("mse", "cosine")  # those with a ``partial`` (the share of a tile's pixels)


def check_tileable(style_loss: str, content_loss: str = "mse") -> None:
    """Tiles add up moments and local content shares: a loss that needs every position at once
    (sampled hypercolumns, patches, sorted projections, nearest neighbours) cannot be tiled."""
    if content_loss not in TILED_CONTENT_LOSSES:
        raise ConfigError(f"content_loss '{content_loss}' cannot be tiled: it compares positions across the whole "
                          f"image. Fix: content_loss: one of {', '.join(TILED_CONTENT_LOSSES)}, or tile_size: null")
    if style_loss not in TILED_STYLE_LOSSES:
        raise ConfigError(f"style_loss '{style_loss}' cannot be tiled: it needs every pixel's features at "
                          f"once. Fix: style_loss: one of {', '.join(TILED_STYLE_LOSSES)}, or tile_size: null")


class TiledObjective:
    """The terms of ``objective`` (a :class:`~nst.objective.style_objective.StyleObjective`) computed on the
    tiles of ``tiling``; ``step`` (set by ``resample``) picks the grid's random offset."""

    def __init__(self, objective, tiling: Tiling):
        self.objective, self.tiling, self.step = objective, tiling, 0
        self.style_slots = []  # (weight, layer, loss): style image weight x layer weight
        for blend_weight, layer_losses in zip(objective.style.weights, objective.style.losses):
            for layer, loss in layer_losses.losses.items():
                self.style_slots.append((blend_weight * layer_losses.weights[layer], layer, loss))

    @property
    def content_slots(self) -> list:
        """(weight, layer, loss) of the objective's content term now (a video's frame retargets it)."""
        content = self.objective.content
        return [(content.weights[layer], layer, loss) for layer, loss in content.losses.items()]

    def terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """``content``, ``style``, ``tv`` of a 1x3xHxW image, differentiable with respect to it
        (and a video frame's ``temporal``, a pixel term that needs no tiles)."""
        content, style, tv = TiledPass.apply(image, self)
        out = {"content": content, "style": style, "tv": tv}
        if self.objective.temporal is not None:
            out["temporal"] = self.objective.temporal(image)
        return out

    # ------------------------------------------------------------------ per-tile pieces
    def weights(self, image: torch.Tensor) -> dict:
        """Each style loss's guide weights at its layer's resolution (``None`` unguided)."""
        return {id(loss): guide_weight(loss.input_guide, image, layer) for _, layer, loss in self.style_slots}

    def tile_moments(self, tile: Tile, features: dict, weights: dict) -> dict[int, Moments]:
        """The tile core's moments for every style loss (shared by losses with the same layer and guide)."""
        shared, out = {}, {}
        for _, layer, loss in self.style_slots:
            weight = weights[id(loss)]
            key = (layer, id(loss.input_guide) if weight is not None else None)
            if key not in shared:
                shared[key] = tile_moments(tile, features[layer], layer, weight)
            out[id(loss)] = shared[key]
        return out

    def content_part(self, tile: Tile, features: dict) -> torch.Tensor:
        return sum(w * loss.partial(tile.core_features(features[layer], layer), tile_where(tile, layer))
                   for w, layer, loss in self.content_slots)

    def tv_part(self, tile: Tile, crop: torch.Tensor) -> torch.Tensor:
        """The TV share of the core, from ``crop = tv_box(tile)`` of the image."""
        y0, y1, x0, x1 = tile.core
        return self.objective.tv.partial(crop, (y1 - y0, x1 - x0), tile.size)

    def style_from(self, moments: dict[int, Moments]) -> torch.Tensor:
        return sum(w * loss.from_moments(moments[id(loss)]) for w, _, loss in self.style_slots)

    def progress(self, tiles: list, what: str):
        show = self.tiling.progress and len(tiles) >= 4
        return tqdm(tiles, desc=f"tiles ({what})", leave=False, disable=not show, dynamic_ncols=True)


def tile_where(tile: Tile, layer: str) -> tuple[slice, slice]:
    return tile.where(stride(layer))[1]


def tv_box(tile: Tile) -> tuple[slice, slice]:
    """The core and one more row and column (where the image has them): its TV differences."""
    y0, y1, x0, x1 = tile.core
    h, w = tile.size
    return slice(y0, min(y1 + 1, h)), slice(x0, min(x1 + 1, w))


class TiledPass(torch.autograd.Function):
    """(content, style, tv) of an image from its tiles; see the module docstring."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, tiled: TiledObjective):
        tiles = tiled.tiling.grid(tuple(image.shape[-2:]), tiled.step)
        weights = tiled.weights(image)
        sums: dict[int, Moments] = {}
        content, tv = image.new_zeros((), dtype=torch.float32), image.new_zeros((), dtype=torch.float32)
        for tile in tiled.progress(tiles, "statistics"):
            features = tiled.tiling.vgg(tile.crop(image))
            for key, part in tiled.tile_moments(tile, features, weights).items():
                part = part.to(torch.float64)
                sums[key] = part if key not in sums else sums[key] + part
            content += tiled.content_part(tile, features)
            rows, cols = tv_box(tile)
            tv += tiled.tv_part(tile, image[..., rows, cols])
        with torch.enable_grad():
            leaves = {key: m.to(torch.float32).leaves() for key, m in sums.items()}
            style = tiled.style_from(leaves)
            inputs = [t for m in leaves.values() for t in (m.first, m.second)]
            grads = torch.autograd.grad(style, inputs, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads)]
        ctx.dstyle = {key: Moments(m.mass, first, second, m.pixels)
                      for (key, m), first, second in zip(leaves.items(), grads[0::2], grads[1::2])}
        ctx.tiled, ctx.tiles, ctx.weights = tiled, tiles, weights
        ctx.autocast = autocast_state(image)
        ctx.save_for_backward(image)
        ctx.set_materialize_grads(False)  # an unused term's gradient is None: known without asking the device
        return content, style.detach(), tv

    @staticmethod
    def backward(ctx, d_content, d_style, d_tv):
        (image,) = ctx.saved_tensors
        tiled: TiledObjective = ctx.tiled
        grad = torch.zeros_like(image)
        for tile in tiled.progress(ctx.tiles, "gradients"):
            if d_style is not None or d_content is not None:
                x = tile.crop(image).detach().requires_grad_(True)
                with torch.enable_grad(), ctx.autocast():
                    features = tiled.tiling.vgg(x)
                    surrogate = 0
                    if d_style is not None:
                        moments = tiled.tile_moments(tile, features, ctx.weights)
                        surrogate = d_style * sum(ctx.dstyle[key].dot(m) for key, m in moments.items())
                    if d_content is not None:
                        surrogate = surrogate + d_content * tiled.content_part(tile, features)
                (part,) = torch.autograd.grad(surrogate, x)
                y0, y1, x0, x1 = tile.box
                grad[..., y0:y1, x0:x1] += part
            if d_tv is not None:
                rows, cols = tv_box(tile)
                crop = image[..., rows, cols].detach().requires_grad_(True)
                with torch.enable_grad():
                    (part,) = torch.autograd.grad(d_tv * tiled.tv_part(tile, crop), crop)
                grad[..., rows, cols] += part
        return grad, None


def autocast_state(image: torch.Tensor):
    """The autocast of the forward pass, to re-enter in the backward pass (which runs outside it)."""
    device = image.device.type
    if not torch.is_autocast_enabled(device):
        return nullcontext
    dtype = torch.get_autocast_dtype(device)
    return lambda: torch.autocast(device_type=device, dtype=dtype)


def resolve_tiling(model, style_loss: str, content_loss: str = "mse") -> Tiling | None:
    """The model's tiling from its ``tile_size`` and ``tile_halo`` (``auto``: the largest tile
    that fits the free memory beside the images, ``nst.inputs.memory``), or ``None``."""
    h = model.hparams
    if h.tile_size is None:
        return None
    check_tileable(style_loss, content_loss)
    tile = h.tile_size
    trainer = model._trainer
    if tile == "auto":
        from nst.inputs.memory import auto_tile

        pixels = sum(image.numel() // 3 for image in model.images) or sum(
            pair.start[0, 0].numel() for pair in model.pairs)
        precision = str(trainer.precision) if trainer is not None else "32-true"
        tile = auto_tile(pixels, str(model.device), precision, h.activation_checkpointing, h.tile_halo)
    progress = trainer is not None and trainer.progress_bar_callback is not None
    seed = model.pairs[0].seed if model.pairs else 0
    return Tiling(model.vgg, tile, h.tile_halo, seed, progress)
