"""Automatic masks (``data.content_masks: [auto]``): the photo and the painting each cut into
``REGIONS`` regions by k-means on their OkLab colours, and each region of the photo given the
style of the painting's region most like it (lightness first, then hue), so that the sky takes
the painting's sky and the dark ground its dark ground instead of one style statistic for all.

``data.content_masks: [subject]`` instead cuts each image into its subject and the rest with
GrabCut (Rother et al. 2004, OpenCV's ``cv2.grabCut``, started from the frame minus a margin
of ``SUBJECT_MARGIN``): the photo's subject takes the style of the painting's subject, its
background the painting's background, which keeps a portrait's face apart from the sky.

The regions become ordinary guides (``nst.objective.losses.guides``): the painting listed once
per region, each copy with (its region, the photo's matched region) as masks and the photo
region's area as blend weight. The borders are softened by a blur of about 2 % of the long side.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from nst.errors import ConfigError
from nst.media.color import rgb_to_oklab

AUTO = "auto"
SUBJECT = "subject"
KINDS = (AUTO, SUBJECT)
REGIONS = 3
FIT_SIDE = 64  # k-means is fitted on the image at this long side, then every pixel labelled
LIGHTNESS_WEIGHT = 2.0  # in matching: a difference of lightness counts twice one of colour
GRABCUT_SIDE = 256  # GrabCut runs on the image at this long side, its mask then scaled up
SUBJECT_MARGIN = 0.08  # GrabCut's first guess: the subject lies inside the frame minus this share per side
GRABCUT_ITERATIONS = 5


def kmeans(points: torch.Tensor, k: int, seed: int = 0, iterations: int = 25) -> torch.Tensor:
    """Centres (k x D) of ``points`` (N x D): k-means++ seeding, then Lloyd's iterations."""
    g = torch.Generator().manual_seed(seed)
    centres = points[torch.randint(len(points), (1,), generator=g)]
    while len(centres) < k:
        d = torch.cdist(points, centres).min(1).values.pow(2)
        centres = torch.cat([centres, points[torch.multinomial(d + 1e-12, 1, generator=g)]])
    for _ in range(iterations):
        labels = torch.cdist(points, centres).argmin(1)
        for j in range(k):
            if (labels == j).any():
                centres[j] = points[labels == j].mean(0)
    return centres


def regions(image: torch.Tensor, k: int = REGIONS, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(soft masks k x 1 x H x W summing to 1 at every pixel, the regions' OkLab centres k x 3)."""
    lab = rgb_to_oklab(image.float())
    h, w = image.shape[-2:]
    fit = (max(1, round(h * FIT_SIDE / max(h, w))), max(1, round(w * FIT_SIDE / max(h, w))))
    small = F.interpolate(lab, size=fit, mode="area") if max(h, w) > FIT_SIDE else lab
    centres = kmeans(small[0].flatten(1).T.contiguous(), k, seed)
    labels = torch.cdist(lab[0].flatten(1).T, centres).argmin(1).view(h, w)
    return soften(F.one_hot(labels, k).permute(2, 0, 1)[:, None].float()), centres


def soften(hard: torch.Tensor) -> torch.Tensor:
    """k x 1 x H x W hard regions, their borders blurred by ~2 % of the long side, summing to 1."""
    h, w = hard.shape[-2:]
    sigma = max(1.0, 0.02 * max(h, w))
    radius = int(3 * sigma)
    kernel = torch.exp(-(torch.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    soft = F.conv2d(F.pad(hard, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    soft = F.conv2d(F.pad(soft, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return soft / soft.sum(0, keepdim=True).clamp(min=1e-8)


def subject(image: torch.Tensor, what: str) -> torch.Tensor:
    """Soft masks 2 x 1 x H x W (the subject, the rest) found by GrabCut from a centred frame."""
    import cv2
    import numpy as np

    h, w = image.shape[-2:]
    side = (max(1, round(h * GRABCUT_SIDE / max(h, w))), max(1, round(w * GRABCUT_SIDE / max(h, w))))
    small = F.interpolate(image.float(), size=side, mode="area" if max(h, w) > GRABCUT_SIDE else "bilinear")
    pixels = (small[0].clamp(0, 1).permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8)
    sh, sw = pixels.shape[:2]
    rect = (round(SUBJECT_MARGIN * sw), round(SUBJECT_MARGIN * sh),
            max(1, round((1 - 2 * SUBJECT_MARGIN) * sw)), max(1, round((1 - 2 * SUBJECT_MARGIN) * sh)))
    mask = np.zeros((sh, sw), np.uint8)
    cv2.setRNGSeed(0)  # GrabCut's colour models start from k-means: the same masks every run
    cv2.grabCut(np.ascontiguousarray(pixels), mask, rect, np.zeros((1, 65)), np.zeros((1, 65)),
                GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    front = torch.from_numpy(((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32))
    share = float(front.mean())
    if not 0.01 <= share <= 0.99:
        raise ConfigError(f"content_masks [subject]: GrabCut found no subject in the {what} ({share:.0%} of it). "
                          "Fix: content_masks [auto] (regions by colour) or mask files")
    front = F.interpolate(front[None, None], size=(h, w), mode="nearest")[0]
    return soften(torch.stack([front, 1 - front]))


def match(photo_centres: torch.Tensor, painting_centres: torch.Tensor) -> tuple[int, ...]:
    """For each photo region, the painting region it takes its style from: the permutation
    with the least total distance (lightness weighted by ``LIGHTNESS_WEIGHT``)."""
    scale = torch.tensor([LIGHTNESS_WEIGHT, 1.0, 1.0])
    cost = torch.cdist(photo_centres * scale, painting_centres * scale)
    k = len(photo_centres)
    return min(itertools.permutations(range(k)), key=lambda p: float(sum(cost[i, p[i]] for i in range(k))))


def auto_masks(content: torch.Tensor, style: torch.Tensor, k: int = REGIONS, seed: int = 0, kind: str = AUTO):
    """(styles, blend, masks) for a pair of one painting: the painting once per region, each
    region's area share of the photo as its weight, and (painting region, photo region) masks.
    ``kind``: ``auto`` (k colour regions, matched by colour) or ``subject`` (GrabCut's two)."""
    if kind == SUBJECT:
        photo_masks, painting_masks = subject(content, "photo"), subject(style, "painting")
        k, order = 2, (0, 1)
    else:
        photo_masks, photo_centres = regions(content, k, seed)
        painting_masks, painting_centres = regions(style, k, seed)
        order = match(photo_centres, painting_centres)
    area = photo_masks.mean((1, 2, 3))
    masks = [(painting_masks[order[i]][None], photo_masks[i][None]) for i in range(k)]
    blend = {i: float(area[i] / area.sum()) for i in range(k)}
    return (style,) * k, blend, masks
