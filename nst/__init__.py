"""nst: neural style transfer with PyTorch Lightning.

    import nst
    picture = nst.stylize("photo.jpg", "painting.jpg", size=512, style_weight=2e-3)

The public names load on first use (``import nst`` stays fast): the API (``stylize``,
``save``, ``command_line``, ``warm_up``, ``Progress``), the objective on tensors (``StyleObjective``,
``VGGFeatures``, ``load_weights``), the Lightning pieces (``NeuralStyleTransfer``,
``StylePairDataModule``) and the errors. The layers, bottom to top: shared modules, ``media``,
``inputs``, ``objective``, ``model``, ``runs`` (with ``callbacks``), then ``api``.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "stylize": "nst.api", "command_line": "nst.api", "warm_up": "nst.api", "save": "nst.api",
    "Progress": "nst.callbacks.watch", "load_style": "nst.realtime.apply",
    "StyleObjective": "nst.objective.style_objective", "LossDefinition": "nst.objective.style_objective",
    "LossWeights": "nst.objective.style_objective",
    "VGGFeatures": "nst.objective.network.features", "load_weights": "nst.objective.network.weights",
    "NeuralStyleTransfer": "nst.model.module", "StylePairDataModule": "nst.inputs.data",
    "Pair": "nst.inputs.pair", "load_image": "nst.media.images", "save_image": "nst.media.images",
    "NSTError": "nst.errors", "ConfigError": "nst.errors", "ImageError": "nst.errors", "WeightsError": "nst.errors",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from nst.runs.main import version

        return version()
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nst' has no attribute {name!r}")
