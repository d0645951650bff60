"""Automatic masks (``data.content_masks: [auto]``, ``nst.inputs.automasks``): on tensors, then
one tiny run (random-initialised VGG19 on purpose: see conftest)."""

from __future__ import annotations

import pytest
import torch

import train
from nst.inputs.automasks import auto_masks, regions
from tests.conftest import tiny_args
from tests.test_cli import one_line_error


def blocks(colours: list[tuple[float, float, float]], h: int = 30, w: int = 40) -> torch.Tensor:
    """Horizontal bands of the given colours, top to bottom."""
    image = torch.zeros(1, 3, h, w)
    for i, c in enumerate(colours):
        image[:, :, i * h // len(colours): (i + 1) * h // len(colours)] = torch.tensor(c).view(1, 3, 1, 1)
    return image


def test_regions_follow_the_colours_and_share_every_pixel():
    image = blocks([(0.1, 0.2, 0.8), (0.9, 0.9, 0.8), (0.1, 0.5, 0.1)])
    masks, _ = regions(image, 3)
    assert torch.allclose(masks.sum(0), torch.ones(1, 30, 40), atol=1e-5)
    # the middle of each band belongs to one region, a different one per band
    owners = [int(masks[:, 0, row, 20].argmax()) for row in (5, 15, 25)]
    assert sorted(owners) == [0, 1, 2] and all(masks[o, 0, row, 20] > 0.95 for o, row in zip(owners, (5, 15, 25)))


def test_each_photo_region_takes_the_painting_region_of_its_lightness():
    photo = blocks([(0.05, 0.05, 0.1), (0.5, 0.5, 0.5), (0.95, 0.95, 0.9)])  # dark, mid, light
    painting = blocks([(0.9, 0.8, 0.3), (0.1, 0.1, 0.3), (0.5, 0.3, 0.3)])  # light, dark, mid
    styles, blend, masks = auto_masks(photo, painting)
    assert len(styles) == 3 and sum(blend.values()) == pytest.approx(1)
    from nst.media.color import rgb_to_oklab

    matched = []  # (photo lightness, painting lightness) at the middle of each matched region
    for painting_mask, photo_mask in masks:
        photo_row, painting_row = int(photo_mask[0, 0, :, 20].argmax()), int(painting_mask[0, 0, :, 20].argmax())
        matched.append((float(rgb_to_oklab(photo)[0, 0, photo_row, 20]),
                        float(rgb_to_oklab(painting)[0, 0, painting_row, 20])))
    matched.sort()
    assert [p for _, p in matched] == sorted(p for _, p in matched), matched  # dark to dark, light to light

def test_a_run_with_automatic_masks_makes_a_picture(tmp_path):
    assert train.main(tiny_args(tmp_path, "--data.content_masks", "[auto]", steps=2)) == 0
    assert list((tmp_path / "outputs").rglob("final.png"))


def test_automatic_masks_with_several_paintings_are_refused_in_one_line(tmp_path, capsys):
    from tests.conftest import ASSETS

    args = tiny_args(tmp_path, "--data.content_masks", "[auto]", steps=1)
    args[args.index("--data.style") + 1] = f"[{ASSETS / 'starry_night.jpg'}, {ASSETS / 'fruits.jpg'}]"
    assert train.main(args) == 2
    assert "one painting" in one_line_error(capsys)
