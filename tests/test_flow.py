"""nst.media.flow: DIS optical flow, the trusted-pixel mask and warping, on a synthetic pan whose
true flow is known (tests.conftest.panned_frames)."""

import torch

from nst.media.flow import Motion, estimate_flow, flicker, trusted_pixels, warp
from tests.conftest import panned_frames

STEP = (3, 2)  # pixels per frame, (dx, dy)
INTERIOR = (slice(None), slice(None), slice(12, -12), slice(12, -12))


def test_flow_of_a_pan_is_within_half_a_pixel_of_the_truth():
    previous, current = panned_frames(2, STEP, width=128, height=96)
    backward = estimate_flow(current, previous)  # current(x) = previous(x + flow)
    forward = estimate_flow(previous, current)
    truth = torch.tensor(STEP, dtype=torch.float32).view(1, 2, 1, 1)
    assert (backward - truth)[INTERIOR].norm(dim=1).max() < 0.5
    assert (forward + truth)[INTERIOR].norm(dim=1).max() < 0.5


def test_warping_the_previous_frame_reproduces_the_next():
    previous, current = panned_frames(2, STEP, width=128, height=96)
    motion = Motion.between(previous, current)
    carried = motion.carry(previous)
    error = (carried - current).abs()[INTERIOR].mean() * 255
    unmoved = (previous - current).abs()[INTERIOR].mean() * 255
    assert error < 3 and error < unmoved / 5, (error, unmoved)  # 0-255 units; bilinear sampling blurs a little
    assert flicker(previous, current, motion) < 3


def test_mask_trusts_the_interior_and_not_what_enters_the_frame():
    previous, current = panned_frames(2, STEP, width=128, height=96)
    mask = Motion.between(previous, current).mask
    assert mask[INTERIOR].mean() > 0.97
    # the pixels of the right and bottom edges came from outside frame t-1: untrusted
    assert mask[..., :, -2:].mean() < 0.1 and mask[..., -1:, :].mean() < 0.1


def test_mask_drops_inconsistent_flow_and_motion_boundaries():
    backward = torch.zeros(1, 2, 32, 32)
    backward[:, 0, :, 16:] = 4.0  # the right half moves: a motion boundary at x = 16
    forward = -warp(backward, backward)  # consistent everywhere ...
    forward[:, :, 4:8, 4:8] = 5.0  # ... except a patch the forward flow disagrees with: an occlusion
    mask = trusted_pixels(backward, forward)
    assert mask[..., 4:8, 4:8].sum() == 0
    assert mask[..., 10:20, 15].sum() == 0  # the boundary
    assert mask[..., 20:30, 2:10].mean() == 1 and mask[..., 20:30, 18:26].mean() == 1


def test_warp_of_zero_flow_is_the_identity():
    image = panned_frames(1)[0]
    assert torch.allclose(warp(image, torch.zeros(1, 2, *image.shape[-2:])), image, atol=1e-4)
