"""Fixed evaluation metrics, the same for every run whatever it optimises, so runs compare."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from nst.media.color import luminance
from nst.media.images import resize
from nst.objective.network.features import VGGFeatures
from nst.objective.network.layers import parse_layer_weights
from nst.objective.losses import GramLoss, LayerLosses, SlicedWassersteinLoss, TVLoss, WeightedSum

EVAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
EVAL_SEED = 0


class StyleTransferMetrics(nn.Module):
    """``eval/gram_distance`` (Gatys normalisation, five Gatys layers, equal weights),
    ``eval/sliced_wasserstein`` (same layers, fixed directions), ``eval/ssim_content``
    (SSIM of luminance against the content image) and ``eval/tv`` (mean absolute TV)."""

    def __init__(
        self,
        vgg: VGGFeatures,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        blend: dict[int, float] | None = None,
    ):
        super().__init__()
        missing = set(EVAL_LAYERS) - set(vgg.layers)
        if missing:
            raise ValueError(f"evaluation network lacks layers {sorted(missing)}")
        self.vgg = vgg
        blend = blend or {0: 1.0}
        weights = parse_layer_weights(EVAL_LAYERS)
        grams, sliced = [], []
        for index in blend:
            with torch.no_grad():
                features = vgg(styles[index])
            grams.append(LayerLosses({n: GramLoss(features[n]) for n in weights}, weights))
            sliced.append(LayerLosses(
                {n: SlicedWassersteinLoss(features[n], seed=EVAL_SEED + i, fixed=True)
                 for i, n in enumerate(weights)},
                weights,
            ))
        # several styles: the blend-weighted distance to each
        self.gram = WeightedSum(grams, list(blend.values()))
        self.sliced = WeightedSum(sliced, list(blend.values()))
        self.tv = TVLoss(1)
        self.register_buffer("content_luminance", luminance(content), persistent=False)

    def measured(self, image: torch.Tensor) -> torch.Tensor:
        image = image.float().clamp(0, 1)
        if image.shape[-2:] != self.content_luminance.shape[-2:]:  # a coarse stage (model.stages): measured
            image = resize(image, tuple(self.content_luminance.shape[-2:]))  # at the final size
        return image

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> dict[str, float]:
        image = self.measured(image)
        features = self.vgg(image)
        ssim = structural_similarity_index_measure(
            luminance(image), self.content_luminance.expand(image.shape[0], -1, -1, -1), data_range=1.0
        )
        values = {
            "eval/gram_distance": self.gram(features),
            "eval/sliced_wasserstein": self.sliced(features),
            "eval/ssim_content": ssim,
            "eval/tv": self.tv(image),
        }
        return {k: float(v) for k, v in values.items()}

    @torch.no_grad()
    def sliced_by_layer(self, image: torch.Tensor) -> dict[str, float]:
        """``eval/sliced_wasserstein`` layer by layer: its terms (layer and blend weights applied),
        which sum to it; where a picture's distance to the painting lies."""
        features = self.vgg(self.measured(image))
        terms = dict.fromkeys(EVAL_LAYERS, 0.0)
        for blend_weight, layers in zip(self.sliced.weights, self.sliced.losses):
            for name, loss in layers.losses.items():
                terms[name] += float(blend_weight * layers.weights[name] * loss(features[name]))
        return terms
