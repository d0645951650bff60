"""Coarse to fine inside one fit, and the moving average of the iterates, as the model's mixin
(``nst.model.schedule`` holds the pieces: stage sizes, resizing, the average)."""

from __future__ import annotations

import torch

from nst.media.images import scaled_size
from nst.inputs.pair import Pair
from nst.objective.losses.normalize import follow_loss_scale
from nst.model.schedule import plan_stages, resize_images, size_at, start_averages
from nst.model.strength import build_objectives, stage_side


class StagedImages:
    """The LightningModule's image parameters across stages: which size each stage works at,
    resizing the images and the optimiser's state between stages, the objectives at each size,
    and the images as a user sees them (the moving averages, where kept)."""

    @property
    def final_size(self) -> int:
        return max(self.pairs[0].content.shape[-2:])

    @property
    def makes_video(self) -> bool:
        """Whether any of this device's pairs is a video (its frames are made one by one)."""
        return any(pair.clip is not None for pair in self.pairs)

    def on_fit_start(self) -> None:
        """The stages; each one's objectives are built when its first step starts (on a resume,
        the step is known only then). Without a Trainer (scripts): one stage, entered now."""
        steps = self.trainer.max_steps if self._trainer is not None else 1
        self.stage_plan = plan_stages(self.hparams.stages if self._trainer is not None else None,
                                      self.final_size, steps, self.hparams.final_stage_share)
        self.stage_size = None
        if self._trainer is None:
            self.enter_stage(0)

    def enter_stage(self, step: int) -> None:
        """The stage of step ``step``: the images (and the optimiser's state) resized to it, and
        every pair's objective built at its size, once per stage on the training device."""
        size = size_at(self.stage_plan, step)
        if size == self.stage_size:
            return
        optimizer = self.trainer.optimizers[0] if self._trainer is not None and self.trainer.optimizers else None
        shapes = [scaled_size(*batch[0].content.shape[-2:], stage_side(batch[0], size / self.final_size))
                  for batch in self.batches]
        resize_images(self.images, shapes, [a.get() for a in self.averages], optimizer)
        decay = 0.0 if self.makes_video else self.hparams.ema_decay  # frames: the temporal loss steadies them
        self.averages = start_averages(self.images, decay, self.restored_averages)
        self.restored_averages = None
        reference = self.hparams.strength_reference_size or (self.final_size if size != self.final_size else None)
        build_objectives(self.pairs, size / self.final_size, self.vgg, self.definition, self.loss_weights, reference,
                         self.tiling)
        if self.definition.normalize_gradients:  # under 16-mixed the gradients arrive scaled
            scaler = getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer is not None else None
            for pair in self.pairs:
                follow_loss_scale(pair.objective, scaler)
        self.stage_size = size

    def output_images(self, images=None) -> list[tuple[Pair, torch.Tensor]]:
        """(pair, image) for each of this device's pairs as a user sees it: 1x3xHxW in
        [0, 1], detached, finished by the pair (``Pair.finish``). ``images``: copies of
        ``self.images`` to show instead (the NaN guard's last good ones)."""
        if images is None:
            images = [a.get() for a in self.averages] if self.averages and self.averages[0].count else self.images
        return [(pair, pair.finish(image[row: row + 1].detach().float().clamp(0, 1)))
                for image, batch in zip(images, self.batches)
                for row, pair in enumerate(batch)]
