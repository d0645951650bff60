"""Video style transfer without flicker (Ruder, Dosovitskiy & Brox 2016), frame by frame in one
fit: which frame a training step works on, and how a frame is set up from the one before it.

Frame t (after the first) starts from the previous result carried onto it by the optical flow
of the content frames (the photo where the flow cannot be trusted), and its objective adds
``temporal_weight`` x the masked squared difference to that carried result. With
``video_init: content`` and ``temporal_weight: 0`` every frame is made on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Optional

import torch

from nst.media.flow import Motion
from nst.inputs.pair import Pair
from nst.objective.losses import TemporalLoss
from nst.objective.style_objective import LossDefinition

VideoInit = Literal["warped", "content"]


@dataclass(frozen=True)
class FrameSchedule:
    """``first`` steps for frame 0, then ``per_frame`` steps for each of the other frames."""

    first: int
    per_frame: int
    frames: int

    @property
    def total_steps(self) -> int:
        return self.first + (self.frames - 1) * self.per_frame

    def frame_at(self, step: int) -> int:
        """The frame that step number ``step`` (counted from 0) works on."""
        return 0 if step < self.first else 1 + (step - self.first) // self.per_frame

    def finished_at(self, steps_done: int) -> Optional[int]:
        """The frame that is finished once ``steps_done`` steps are done, if one is."""
        if steps_done < self.first or (steps_done - self.first) % self.per_frame:
            return None
        return (steps_done - self.first) // self.per_frame


def set_frame(pair: Pair, index: int, definition: LossDefinition, previous: Optional[torch.Tensor],
              motion: Optional[Motion], temporal_weight: float, video_init: VideoInit) -> torch.Tensor:
    """Make frame ``index`` the one ``pair`` optimises: its photo becomes the content target
    and, after frame 0, the previous result (``previous``, as optimised) carried by ``motion``
    becomes the temporal target. Returns the frame's start image (on the objective's device)."""
    pair.content = pair.clip.frame(index)
    objective = pair.objective
    device = objective.vgg.mean.device
    objective.retarget(definition, pair.target_content, pair.seed)
    photo = pair.target_content.to(device)
    if previous is None or motion is None:
        objective.temporal = None
        return photo
    carried, mask = motion.carry(previous.to(device)), motion.mask.to(device)
    if temporal_weight > 0:
        objective.temporal = TemporalLoss(carried, mask)
        objective.weights = replace(objective.weights, temporal=temporal_weight)
    else:
        objective.temporal = None
    if video_init == "content":
        return photo
    return mask * carried + (1 - mask) * photo
