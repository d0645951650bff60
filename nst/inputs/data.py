"""The data of a run: which (content, style) pairs, loaded once per device and handed to the
model. The one owner of the inputs: paths, sizes, colour, masks, start images and sharding."""

from __future__ import annotations

import itertools
from dataclasses import fields, replace
from typing import Literal, Optional, Union

from jsonargparse.typing import NonNegativeFloat
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset

from nst.config_types import (
    ClosedUnitInterval,
    Pixels,
    PositiveFloat,
    PositiveInt,
    Seed,
)
from nst.media.images import DEFAULT_MAX_PIXELS
from nst.inputs.pair import (
    Alpha,
    InputOptions,
    Pair,
    PreserveColor,
    check_inputs,
    make_pairs,
)
from nst.inputs.memory import resolve_auto_size
from nst.inputs.pairs import collect_pairs, shard


class EveryStep(IterableDataset):
    """Yields the step number forever: the pairs live on the model (their targets are computed
    once), so a step's batch carries nothing to copy to the device."""

    def __iter__(self):
        return itertools.count()


class StylePairDataModule(LightningDataModule):
    """Collects the run's pairs, and in ``setup`` loads this device's share (every N-th pair
    under DDP) as :class:`~nst.inputs.pair.Pair` records and hands them to the model.

    Args:
        content: content photo (path), or a folder or glob of photos.
        style: style painting (path), a list of paintings to blend, or a folder or glob of
            paintings (one pair each).
        pairs: a CSV manifest instead: header ``content,style[,name]``, a row per pair.
        size: longest side of the generated image in pixels; ``auto``: the largest that fits
            in the device's free memory (up to the photo's own size; ``nst.inputs.memory``).
        style_size: longest side of the style images (default: ``size * style_scale``).
        style_scale: style image size relative to ``size`` (jcjohnson's -style_scale).
        style_blend_weights: one weight per style image (normalised to sum 1; default equal).
        preserve_color: ``none``, ``luminance`` (style on luminance only, the photo's chroma
            kept), ``histogram`` (the styles recoloured to the photo's mean/covariance) or
            ``neighbour`` (NNST's: the result's lightness, the photo's chroma in the painting's palette).
        content_masks: one mask per style over the photo (white: this style here), ``[auto]``:
            regions found and matched by colour, or ``[subject]``: the subject and the rest
            (GrabCut) of photo and painting (``nst.inputs.automasks``); the style
            loss's statistics are guided by it (Gatys et al. 2017).
        style_masks: one mask per style image (where to take its style from; default all).
        init: ``style_colors`` (the photo in the painting's colours: fewer steps to the same
            loss), ``content``, ``noise``, ``content+noise``, ``style`` or an image path.
        init_noise_ratio: share of noise in the ``content+noise`` start.
        seed: seeds the noise and the losses' random numbers (pair i uses its own offset).
        max_input_pixels: larger input images are refused (decompression-bomb guard).
        frames_folder: ``content`` is a folder (or glob) of one video's frames, in name order.
        frame_stride, max_frames, start_time, end_time: which frames of a content video to
            make (every ``frame_stride``-th, at most ``max_frames``, from ``start_time`` to
            ``end_time`` seconds): for previews. The result keeps the source's duration.
        alpha: ``keep``: a photo with transparency (RGBA, LA, palette) gives results with its
            alpha (resized with it; the optimisation runs on it composited on white); ``drop``:
            opaque results, composited on white.
    """

    def __init__(
        self,
        content: Optional[str] = None,
        style: Union[str, list[str], None] = None,
        pairs: Optional[str] = None,
        size: Union[Pixels, Literal["auto"]] = 400,
        style_size: Optional[Pixels] = None,
        style_scale: PositiveFloat = 1.0,
        style_blend_weights: Optional[list[float]] = None,
        preserve_color: PreserveColor = "none",
        content_masks: Optional[list[str]] = None,
        style_masks: Optional[list[str]] = None,
        init: str = "style_colors",
        init_noise_ratio: ClosedUnitInterval = 0.6,
        seed: Seed = 0,
        max_input_pixels: int = DEFAULT_MAX_PIXELS,
        frames_folder: bool = False,
        frame_stride: PositiveInt = 1,
        max_frames: Optional[PositiveInt] = None,
        start_time: NonNegativeFloat = 0.0,
        end_time: Optional[PositiveFloat] = None,
        alpha: Alpha = "keep",
    ):
        super().__init__()
        self.save_hyperparameters()
        self.specs = collect_pairs(content, style, pairs, frames_folder)
        given = {f.name: self.hparams[f.name] for f in fields(InputOptions)}
        self.options = InputOptions(**{**given, "size": 400 if size == "auto" else size})
        check_inputs(self.specs, self.options)
        self.pairs: list[Pair] | None = None

    def setup(self, stage: str) -> None:
        if self.pairs is None:
            rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
            if self.hparams.size == "auto":
                self.options = self.auto_sized(world)
            self.pairs = make_pairs(self.specs, shard(len(self.specs), rank, world), self.options)
        if self.trainer is not None:
            self.trainer.lightning_module.receive(self.pairs)

    def auto_sized(self, world: int) -> InputOptions:
        """``size: auto`` -> pixels for the training device (``train.py`` resolves it before,
        knowing ``activation_checkpointing``; this is for a data module made in Python)."""
        trainer = self.trainer
        accelerator = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower() if trainer else "cpu"
        size = resolve_auto_size(self.specs[0].content, len(self.specs), world, accelerator,
                                 str(trainer.precision) if trainer else "32-true", False, self.options.max_input_pixels)
        return replace(self.options, size=size)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(EveryStep(), batch_size=None)
