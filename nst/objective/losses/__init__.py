"""Content, style and total-variation losses, each a small module with its target as a buffer,
registered by name (``style_loss: gram``) so that a config can swap them; the statistics
losses take guides (masks)."""

from nst.objective.losses.combine import LayerLosses, WeightedSum, WholeLoss, build_layer_losses
from nst.objective.losses.content import ContentLoss, CosineContentLoss
from nst.objective.losses.gram import GramLoss, gram_matrix, pixel_gram
from nst.objective.losses.hypercolumn import HypercolumnSampler, Samplers
from nst.objective.losses.matting import MattingLaplacian, PhotorealisticLoss
from nst.objective.losses.mrf import MRFLoss
from nst.objective.losses.nnst import NeuralNeighbourLoss
from nst.objective.losses.registry import (
    CONTENT_LOSSES,
    STYLE_LOSSES,
    accepted_options,
    check_options,
    lookup,
    register_content_loss,
    register_style_loss,
)
from nst.objective.losses.sliced import HistogramLoss, SlicedWassersteinLoss
from nst.objective.losses.statistics import MeanStdLoss, Wasserstein2Loss
from nst.objective.losses.strotss import RelaxedEMDLoss, SelfSimilarityLoss
from nst.objective.losses.temporal import TemporalLoss
from nst.objective.losses.tv import TVLoss

__all__ = [
    "CONTENT_LOSSES", "STYLE_LOSSES", "ContentLoss", "CosineContentLoss", "GramLoss", "HistogramLoss",
    "HypercolumnSampler", "LayerLosses", "MRFLoss", "MattingLaplacian", "PhotorealisticLoss", "MeanStdLoss", "NeuralNeighbourLoss", "RelaxedEMDLoss",
    "Samplers", "SelfSimilarityLoss", "SlicedWassersteinLoss", "TVLoss", "TemporalLoss", "Wasserstein2Loss",
    "WeightedSum", "WholeLoss", "accepted_options", "build_layer_losses", "check_options", "gram_matrix", "lookup",
    "pixel_gram", "register_content_loss", "register_style_loss",
]
