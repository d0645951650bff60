"""Coarse to fine in one run (crowsonkb's style-transfer-pytorch): most steps at low resolution,
where a step costs a fraction of a full-size one, then the image, the Adam moments and a moving
average of the iterates are resized to the next stage. Measured in ``bench/time_to_quality.py``.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F

from nst.config_types import PositiveInt
from nst.errors import ConfigError
from nst.media.images import resize


def stage_sizes(final: int, first: int = 128, ratio: float = math.sqrt(2)) -> list[int]:
    """Long sides from about ``first`` up to ``final``, each ``ratio`` times the one before
    (counted down from ``final``, so the last stage is exactly the run's size)."""
    sizes = [final]
    while sizes[-1] / ratio >= first:
        sizes.append(round(sizes[-1] / ratio))
    return sizes[::-1]


def split_steps(total: int, sizes: Sequence[int], final_share: float) -> list[int]:
    """``total`` steps over the stages: ``final_share`` of them at the last stage, the rest
    shared equally by the coarser ones (each at least one step)."""
    if len(sizes) == 1:
        return [total]
    last = max(1, round(total * final_share))
    coarse = max(total - last, len(sizes) - 1)
    each, extra = divmod(coarse, len(sizes) - 1)
    return [each + (i < extra) for i in range(len(sizes) - 1)] + [last]


def check_sizes(sizes: Sequence[int], what: str) -> None:
    """One rule for coarse-to-fine sizes, stages inside a run (``model.stages``) or scales
    across runs (``scales``): increasing, from 16 px."""
    if not sizes or min(sizes) < 16 or list(sizes) != sorted(sizes):
        raise ConfigError(f"{what} must be increasing sizes >= 16 px, got {list(sizes)}")


def resize_adam_state(state: dict, shape: Sequence[int]) -> None:
    """Carry Adam's moments to an image of ``shape`` (H, W), in place. The losses are means over
    pixels, so a pixel's gradient scales with 1/pixels: the moments are rescaled alike, which
    keeps the size of the next steps (crowsonkb resizes them without rescaling)."""
    for key, power, mode in (("exp_avg", 1, "bicubic"), ("exp_avg_sq", 2, "bilinear")):
        if key not in state:
            continue
        old = state[key]
        ratio = old.shape[-2] * old.shape[-1] / (shape[0] * shape[1])
        new = F.interpolate(old, size=tuple(shape), mode=mode, align_corners=False) * ratio**power
        state[key] = new.clamp_(min=0) if power == 2 else new


class ImageEMA:
    """An exponential moving average of the iterates, bias-corrected (crowsonkb: decay 0.99):
    Adam's last iterates jitter around the optimum; their average sits closer to it."""

    def __init__(self, image: torch.Tensor, decay: float = 0.99):
        self.decay = decay
        self.average = torch.zeros_like(image)
        self.count = 0

    def update(self, image: torch.Tensor) -> None:
        self.count += 1
        self.average.lerp_(image.detach(), 1 - self.decay)

    def get(self) -> torch.Tensor:
        if self.count == 0:
            raise RuntimeError("ImageEMA.get() before any update")
        return self.average / (1 - self.decay**self.count)

    def state_dict(self) -> dict:
        return {"average": self.average, "count": self.count, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint's average, onto this one's device and dtype: Lightning loads checkpoints
        to the CPU (DDP ones are gathered there), and a CPU average cannot follow a GPU image."""
        average = state["average"].to(self.average.device, self.average.dtype)
        self.average, self.count, self.decay = average, state["count"], state["decay"]


Stages = Literal["auto"] | list[PositiveInt] | None


def plan_stages(stages: Stages, final: int, max_steps: int, final_share: float) -> list[tuple[int, int]]:
    """(long side, first step after the stage) for each stage of a run of ``max_steps`` steps at
    ``final`` px. ``auto``: from about 128 px by x sqrt(2) (one stage at 128 px and below);
    ``None``: one stage; a list: those sizes, the last being ``final``."""
    if stages is None:
        return [(final, max_steps)]
    if max_steps < 1:
        raise ConfigError("stages split trainer.max_steps, which is not set. Fix: --trainer.max_steps N, "
                          "or --model.stages null")
    sizes = stage_sizes(final) if stages == "auto" else list(stages)
    if not sizes:
        raise ConfigError(f"stages [] lists no stage. Fix: stages: null (one stage at {final} px), auto, "
                          f"or [..., {final}]")
    if sizes[-1] != final:
        raise ConfigError(f"stages {sizes} must end at the run's size, {final} px. Fix: "
                          f"stages: [..., {final}], or stages: auto (they follow data.size)")
    check_sizes(sizes, "stages")
    steps = split_steps(max_steps, sizes, final_share)
    if min(steps) < 1 or sum(steps) > max_steps:
        raise ConfigError(f"{len(sizes)} stages {sizes} need >= 1 step each, and trainer.max_steps is {max_steps}. "
                          f"Fix: more steps, or fewer stages")
    ends = [sum(steps[: i + 1]) for i in range(len(steps))]
    return list(zip(sizes, ends))


def size_at(plan: list[tuple[int, int]], step: int) -> int:
    """The long side of the stage that step ``step`` (counted from 0) belongs to."""
    return next((size for size, end in plan if step < end), plan[-1][0])


def carry_optimizer_state(optimizer: torch.optim.Optimizer, parameter: torch.Tensor, shape: Sequence[int]) -> None:
    """After ``parameter`` was resized to ``shape``: Adam's moments follow it; L-BFGS's history,
    made of vectors of the old size, is dropped."""
    if isinstance(optimizer, torch.optim.Adam):
        if parameter in optimizer.state:
            resize_adam_state(optimizer.state[parameter], shape)
    else:
        optimizer.state.clear()


def resize_images(images: Sequence[torch.Tensor], shapes: Sequence[Sequence[int]], averages: Sequence[torch.Tensor],
                  optimizer: torch.optim.Optimizer | None) -> None:
    """Each image parameter to its stage's (H, W), in place: from its moving average where
    there is one (the previous stage's output), with the optimiser's state carried along."""
    for g, (image, shape) in enumerate(zip(images, shapes)):
        if tuple(image.shape[-2:]) != tuple(shape):
            source = averages[g] if averages else image.detach()
            image.data = resize(source, tuple(shape)).to(image.device, image.dtype)  # the parameter stays put
            if optimizer is not None:
                carry_optimizer_state(optimizer, image, shape)


ANNEAL_SHARE = 0.25  # lr_schedule anneal: the share of the steps over which the lr falls to 0


def anneal_factor(step: int, max_steps: int, share: float = ANNEAL_SHARE) -> float:
    """The lr's factor at ``step`` (from 0) under ``anneal``: 1, then linear to 0 at the last
    step over the last ``share`` of ``max_steps`` (warm-up, stable, decay without the warm-up)."""
    decay = max(1, round(max_steps * share))
    return min(1.0, (max_steps - step) / decay)


def lr_schedule(adam: torch.optim.Optimizer, schedule: str, max_steps: int, video: bool):
    """What ``configure_optimizers`` returns for Adam under ``model.lr_schedule``: ``anneal``
    keeps lr, then lowers it linearly to 0 at ``max_steps`` over the last quarter of the steps;
    ``cosine`` falls from lr to 0 along a half cosine. Both end on small steps, so a run asked
    for more steps never ends on a spike. ``auto`` is ``anneal`` except for a video (each frame
    has its own few steps, and Adam's moments carry over) or a run without ``max_steps``
    (nothing to fall over): constant there. Measured: docs/parameterisation.md."""
    if schedule == "auto":
        schedule = "constant" if video or max_steps < 1 else "anneal"
    if schedule == "constant":
        return adam
    if max_steps < 1:
        raise ConfigError(f"lr_schedule: {schedule} falls over trainer.max_steps, which is not set. "
                          "Fix: --trainer.max_steps N, or --model.lr_schedule constant")
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=max_steps)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(adam, lambda step: anneal_factor(step, max_steps))
    return {"optimizer": adam, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def start_averages(images: Sequence[torch.Tensor], decay: float, restored: list[dict] | None) -> list[ImageEMA]:
    """A new moving average per image (none for ``decay`` 0), or the ones a checkpoint kept."""
    if not decay:
        return []
    averages = [ImageEMA(image, decay) for image in images]
    for average, state in zip(averages, restored or []):
        if state["average"].shape == average.average.shape:  # else: saved at another stage
            average.load_state_dict(state)
    return averages
