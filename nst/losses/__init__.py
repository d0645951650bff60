"""Content, style and total-variation losses, each a small module with its target as a buffer,
registered by name (``style_loss: gram``) so that a config can swap them; the statistics
losses take guides (masks)."""

from nst.losses.combine import LayerLosses, WeightedSum, build_layer_losses
from nst.losses.content import ContentLoss, CosineContentLoss
from nst.losses.gram import GramLoss, gram_matrix, pixel_gram
from nst.losses.mrf import MRFLoss
from nst.losses.registry import (
    CONTENT_LOSSES,
    STYLE_LOSSES,
    accepted_options,
    check_options,
    lookup,
    register_content_loss,
    register_style_loss,
)
from nst.losses.sliced import HistogramLoss, SlicedWassersteinLoss
from nst.losses.statistics import MeanStdLoss, Wasserstein2Loss
from nst.losses.temporal import TemporalLoss
from nst.losses.tv import TVLoss

__all__ = [
    "CONTENT_LOSSES", "STYLE_LOSSES", "ContentLoss", "CosineContentLoss", "GramLoss", "HistogramLoss",
    "LayerLosses", "MRFLoss", "MeanStdLoss", "SlicedWassersteinLoss", "TVLoss", "TemporalLoss", "Wasserstein2Loss",
    "WeightedSum", "accepted_options", "build_layer_losses", "check_options", "gram_matrix", "lookup",
    "pixel_gram", "register_content_loss", "register_style_loss",
]
