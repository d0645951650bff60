"""The optimisation's half of the LightningModule: each pair's objective evaluated over the
image batches, the optimiser (Adam or L-BFGS, with its learning-rate schedule) and the projection
of the pixels into [0, 1] after every step. ``NeuralStyleTransfer`` mixes it in."""

from __future__ import annotations

import torch

from nst.model.parameterisation import check_parameterisation, make_optimizer
from nst.model.schedule import lr_schedule
from nst.objective.style_objective import LossWeights

DEFAULT_LR = {"adam": 0.03, "lbfgs": 1.0}  # adam 0.03 in pixel units (docs/performance/time-to-quality.md)


class ImageOptimisation:
    """Needs ``images`` (the parameters), ``batches`` (their pairs), ``vgg``, ``averages`` and
    ``hparams`` (``optimizer``, ``lr``, ``lbfgs_max_iter``, ``lr_schedule``, ``parameterisation``)
    from the module; the optimiser steps the pixels or a basis's coefficients
    (``nst.model.parameterisation``)."""

    def forward(self, with_tv: bool = True) -> list[tuple[LossWeights, dict[str, torch.Tensor]]]:
        """Each pair's (α, β, γ) and unweighted terms; each batch of images goes through VGG once."""
        out = []
        for image, batch in zip(self.images, self.batches):
            if batch[0].objective.tiles(image):  # tile by tile, image by image (``nst.objective.tiling``)
                rows = [image] if len(batch) == 1 else image.split(1)  # a slice's backward costs a copy
                out += [(p.objective.weights, p.objective.tiled.terms(row)) for row, p in zip(rows, batch)]
                continue
            features = self.vgg(image)
            for row, pair in enumerate(batch):
                own = {k: f[row: row + 1] for k, f in features.items()} if len(batch) > 1 else features
                out.append((pair.objective.weights, pair.objective.terms(own, image[row: row + 1], tv=with_tv)))
        return out

    def losses(self, with_tv: bool = True) -> dict[str, torch.Tensor]:
        """``total`` = Σ over pairs of α·content + β·style + γ·tv (+ a video frame's temporal
        term; each image gets the gradient of its own run); the terms: means over the pairs,
        for the logs."""
        per_pair = self(with_tv)
        total = torch.stack([w.total(t) for w, t in per_pair])
        losses = {k: torch.stack([t[k] for _, t in per_pair]).mean() for k in ("content", "style", "tv")}
        losses["total"] = total.sum() + (self.ddp_anchor.sum() if hasattr(self, "ddp_anchor") else 0)
        return losses

    def logging_step(self) -> bool:
        """Log on the steps the Trainer writes (``log_every_n_steps``) only: logging costs host
        work every step, and on GPU a sync per value. L-BFGS evaluates the objective several
        times a step (inner iterations, line search): only the first is logged, so that the
        value at step k is, for every optimiser, the loss of the image step k starts from."""
        every, first = self.trainer.log_every_n_steps, self._first_evaluation
        self._first_evaluation = False
        return first and every > 0 and (self.global_step + 1) % every == 0

    def optimizer_step(self, *args, **kwargs) -> None:
        """Keep pixels valid: project into [0, 1] right after every step (before any callback
        sees or checkpoints the image)."""
        super().optimizer_step(*args, **kwargs)
        with torch.no_grad():
            for image in self.images:
                image.clamp_(0, 1)
        for image, average in zip(self.images, self.averages):
            average.update(image)

    def configure_optimizers(self):
        h = self.hparams
        lr = h.lr if h.lr is not None else DEFAULT_LR[h.optimizer]
        check_parameterisation(h.parameterisation, self.makes_video, self.tiling is not None)
        if h.optimizer == "lbfgs":
            return make_optimizer(torch.optim.LBFGS, self.images, h.parameterisation, lr=lr,
                                  max_iter=h.lbfgs_max_iter, history_size=100, line_search_fn="strong_wolfe")
        adam = make_optimizer(torch.optim.Adam, self.images, h.parameterisation, lr=lr)
        return lr_schedule(adam, h.lr_schedule, self.trainer.max_steps, self.makes_video)
