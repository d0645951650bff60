"""Automatic masks (``data.content_masks: [auto]``): the photo and the painting each cut into
``REGIONS`` regions by k-means on their OkLab colours, and each region of the photo given the
style of the painting's region most like it (lightness first, then hue), so that the sky takes
the painting's sky and the dark ground its dark ground instead of one style statistic for all.

The regions become ordinary guides (``nst.objective.losses.guides``): the painting listed once
per region, each copy with (its region, the photo's matched region) as masks and the photo
region's area as blend weight. The borders are softened by a blur of about 2 % of the long side.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from nst.media.color import rgb_to_oklab

AUTO = "auto"
REGIONS = 3
FIT_SIDE = 64  # k-means is fitted on the image at this long side, then every pixel labelled
LIGHTNESS_WEIGHT = 2.0  # in matching: a difference of lightness counts twice one of colour


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
    hard = F.one_hot(labels, k).permute(2, 0, 1)[:, None].float()
    sigma = max(1.0, 0.02 * max(h, w))
    radius = int(3 * sigma)
    kernel = torch.exp(-(torch.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    soft = F.conv2d(F.pad(hard, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    soft = F.conv2d(F.pad(soft, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return soft / soft.sum(0, keepdim=True).clamp(min=1e-8), centres


def match(photo_centres: torch.Tensor, painting_centres: torch.Tensor) -> tuple[int, ...]:
    """For each photo region, the painting region it takes its style from: the permutation
    with the least total distance (lightness weighted by ``LIGHTNESS_WEIGHT``)."""
    scale = torch.tensor([LIGHTNESS_WEIGHT, 1.0, 1.0])
    cost = torch.cdist(photo_centres * scale, painting_centres * scale)
    k = len(photo_centres)
    return min(itertools.permutations(range(k)), key=lambda p: float(sum(cost[i, p[i]] for i in range(k))))


def auto_masks(content: torch.Tensor, style: torch.Tensor, k: int = REGIONS, seed: int = 0):
    """(styles, blend, masks) for a pair of one painting: the painting once per region, each
    region's area share of the photo as its weight, and (painting region, photo region) masks."""
    photo_masks, photo_centres = regions(content, k, seed)
    painting_masks, painting_centres = regions(style, k, seed)
    order = match(photo_centres, painting_centres)
    area = photo_masks.mean((1, 2, 3))
    masks = [(painting_masks[order[i]][None], photo_masks[i][None]) for i in range(k)]
    blend = {i: float(area[i] / area.sum()) for i in range(k)}
    return (style,) * k, blend, masks
