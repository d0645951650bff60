"""Automatic masks (``data.content_masks: [auto]`` and ``[subject]``, ``nst.inputs.automasks``): on tensors, then
one tiny run (random-initialised VGG19 on purpose: see conftest)."""

from __future__ import annotations

import pytest
import torch

import train
from nst.inputs.automasks import auto_masks, regions, subject
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

def disc(h: int = 90, w: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A red disc in the middle of a noisy green-blue field, and the disc's own 0/1 mask."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, h, w, generator=g) * 0.3 + torch.tensor([0.1, 0.5, 0.5]).view(1, 3, 1, 1)
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    inside = ((y - h / 2) ** 2 + (x - w / 2) ** 2 < (0.3 * h) ** 2).float()
    image = image * (1 - inside) + inside * (torch.rand(1, 3, h, w, generator=g) * 0.2 +
                                            torch.tensor([0.8, 0.15, 0.1]).view(1, 3, 1, 1))
    return image, inside


def test_grabcut_finds_the_subject_and_its_style_stays_the_subjects():
    photo, inside = disc()
    masks = subject(photo, "photo")
    assert masks.shape == (2, 1, 90, 120) and torch.allclose(masks.sum(0), torch.ones(1, 90, 120), atol=1e-5)
    front = masks[0, 0] > 0.5
    iou = float((front & (inside > 0)).sum() / (front | (inside > 0)).sum())
    assert iou > 0.85, iou
    painting, painting_inside = disc(60, 60, seed=1)
    styles, blend, pairs = auto_masks(photo, painting, kind="subject")
    assert len(styles) == 2 and blend[0] == pytest.approx(float(inside.mean()), abs=0.05)
    painting_front, photo_front = pairs[0]
    assert float((painting_front[0, 0] * painting_inside).sum() / painting_front.sum()) > 0.85  # subject to subject
    assert torch.equal(photo_front, masks[0:1])


def test_grabcut_on_a_flat_picture_says_so_in_one_line():
    from nst.errors import ConfigError

    with pytest.raises(ConfigError, match=r"GrabCut found no subject in the painting.*Fix: content_masks \[auto\]"):
        subject(torch.full((1, 3, 40, 40), 0.5), "painting")


@pytest.mark.parametrize("kind", ["auto", "subject"])
def test_a_run_with_automatic_masks_makes_a_picture(tmp_path, kind):
    assert train.main(tiny_args(tmp_path, "--data.content_masks", f"[{kind}]", steps=2)) == 0
    assert list((tmp_path / "outputs").rglob("final.png"))


def test_automatic_masks_with_several_paintings_are_refused_in_one_line(tmp_path, capsys):
    from tests.conftest import ASSETS

    args = tiny_args(tmp_path, "--data.content_masks", "[auto]", steps=1)
    args[args.index("--data.style") + 1] = f"[{ASSETS / 'starry_night.jpg'}, {ASSETS / 'fruits.jpg'}]"
    assert train.main(args) == 2
    assert "one painting" in one_line_error(capsys)
