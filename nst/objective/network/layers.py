"""VGG19 layer names (``conv1_1`` ... ``relu5_4``, ``pool1`` ... ``pool5``) and their indices.

The names follow Gatys et al. and jcjohnson's neural-style; the indices are positions in
``torchvision.models.vgg19().features``. Per-layer weights can be given as a list of names
(equal weights), a ``{name: weight}`` mapping, or a list of ``(name, weight)`` pairs.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Union

from nst.errors import ConfigError

# Convolutions per block in VGG19 (configuration "E" of Simonyan & Zisserman).
VGG19_BLOCKS = (2, 2, 4, 4, 4)


def _vgg19_layer_names() -> tuple[str, ...]:
    names = []
    for block, convs in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


VGG19_LAYERS: tuple[str, ...] = _vgg19_layer_names()
# ``rgb``: the image itself (in [0, 1], before the network's normalisation), before layer 0:
# STROTSS's hypercolumns and colour term read the pixels beside the features
RGB = "rgb"
LAYER_INDEX: dict[str, int] = {RGB: -1, **{name: i for i, name in enumerate(VGG19_LAYERS)}}

LayerWeights = Union[Sequence[str], Mapping[str, float], Sequence[Sequence]]


def layer_index(name: str) -> int:
    """Index of ``name`` in ``vgg19().features``; unknown names list the valid ones."""
    try:
        return LAYER_INDEX[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), LAYER_INDEX, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown VGG19 layer '{name}'.{hint} Valid names: {RGB}, {', '.join(VGG19_LAYERS)}"
        ) from None


def parse_layer_weights(spec: LayerWeights, what: str = "layers") -> dict[str, float]:
    """Normalise a layer spec to an ordered ``{name: weight}`` dict.

    A plain list of names gets equal weights summing to 1 (Gatys' w_l = 1/L); a mapping or a
    list of ``(name, weight)`` pairs keeps the weights as given.
    """
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    if isinstance(spec, Mapping):
        items = [(name, weight) for name, weight in spec.items()]
    else:
        spec = list(spec)
        if not spec:
            raise ConfigError(f"{what}: at least one layer is needed, e.g. [relu4_2]")
        if all(isinstance(s, str) for s in spec):
            items = [(name, 1.0 / len(spec)) for name in spec]
        else:
            items = []
            for entry in spec:
                if isinstance(entry, str) or len(entry) != 2:
                    raise ConfigError(
                        f"{what}: mix of names and pairs in {spec!r}; use all names, "
                        "all (layer, weight) pairs, or a {layer: weight} mapping"
                    )
                items.append((entry[0], entry[1]))
    weights: dict[str, float] = {}
    for name, weight in items:
        layer_index(name)
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ConfigError(f"{what}: weight of {name} must be a number, got {weight!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{what}: weight of {name} must be finite and >= 0, got {weight}")
        if name in weights:
            raise ConfigError(f"{what}: layer {name} is listed twice")
        weights[name] = weight
    if not weights:
        raise ConfigError(f"{what}: at least one layer is needed, e.g. [relu4_2]")
    return weights


def truncation_index(names) -> int:
    """Number of ``features`` modules to keep so that every layer in ``names`` is computed."""
    return max(layer_index(n) for n in names) + 1


def poolings_through(name: str) -> int:
    """How many 2x2 poolings an image has been through at ``name`` (``name`` itself included)."""
    return sum(layer.startswith("pool") for layer in VGG19_LAYERS[: layer_index(name) + 1])


def min_side(names, patch: int = 1) -> tuple[int, str]:
    """(the smallest image side, in px, at which each layer of ``names`` still has a map of
    ``patch`` x ``patch`` positions, the layer that needs it): a 2x2 pooling of a 1-px map has
    nothing to pool (relu5_1 needs 16 px, pool5 32)."""
    deepest = max(names, key=poolings_through)
    return patch * 2 ** poolings_through(deepest), deepest
