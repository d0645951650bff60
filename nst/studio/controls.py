"""The studio's controls in the words artists use, each turned into the config key it sets.

The page shows *strength*, *stroke size*, *colours*, *smoothness*; ``stylize`` takes
``style_weight``, ``style_scale``, ``preserve_color``, ``tv_weight``. This module is the one
place that says which word sets which key and how (a log scale for the weights), so the page,
the reproduce box and the tests agree; and how the same words set the instant picture's
controls (``nst.stylize(..., model="instant")``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from nst.errors import ConfigError

# One line each on what the cost lab's losses match (docs/cost-lab.md).
STYLE_LOSS_LINES = {
    "gram": "gram: the painting's feature correlations (Gatys): brush texture everywhere, the photo kept",
    "mean_std": "mean_std: each feature's mean and spread (AdaIN): softer, no channel correlations",
    "wasserstein2": "wasserstein2: mean and covariance as a distribution: the painting takes over",
    "sliced_wasserstein": "sliced_wasserstein: whole feature distributions, by random projections: swirls",
    "histogram": "histogram: Gram plus each feature's histogram: the painting's contrast",
    "mrf": "mrf: the painting's own patches, nearest neighbour (slow, not tiled)",
}
COLOURS = {  # what the page says -> preserve_color
    "the painting's": "none",
    "the photo's (luminance only)": "luminance",
    "the photo's palette on the painting": "histogram",
}
# The quality presets: steps of the default run (docs/performance/time-to-quality.md). Every preset
# keeps the balance of the 400 px demo at any size (strength_reference_size).
PRESETS = {"preview": 60, "default": 200, "final": 500}
STRENGTH_RANGE = (-2.0, 2.0)  # decades around the chosen loss's calibrated weight
PRINT_CHAIN_STEPS = (60, 10)  # steps of the print chain's stages above the picture's own size


@dataclass
class Settings:
    """Everything the controls say about one picture."""

    size: int = 400
    preset: str = "default"
    strength: float = 0.0  # log10 of the style weight relative to the loss's calibrated default
    stroke_size: float = 1.0  # style_scale
    colours: str = "the painting's"
    style_loss: str = "gram"
    smoothness: float = 0.0  # 0: off; k: tv_weight 10^(k+2)
    seed: int = 0
    blend: list[float] = field(default_factory=list)  # one weight per painting; empty: equal

    def caption(self) -> str:
        return (f"{self.size} px · {self.preset} · strength {self.strength:+.1f} · strokes "
                f"{self.stroke_size:.2f} · colours {COLOURS.get(self.colours, self.colours)} · "
                f"{self.style_loss} · smooth {self.smoothness:g} · seed {self.seed}")

    def as_dict(self) -> dict:
        return asdict(self)


def loss_default_weight(style_loss: str) -> float:
    """The calibrated weight of a style loss (``bench/calibrate_losses.py``), the strength's 0."""
    from nst.objective.losses.registry import STYLE_LOSSES

    import nst.objective.losses  # noqa: F401  (registers the losses)

    if style_loss not in STYLE_LOSSES:
        raise ConfigError(f"unknown style loss {style_loss}; valid: {', '.join(sorted(STYLE_LOSSES))}. "
                          "Fix: choose one from the list")
    return STYLE_LOSSES[style_loss].default_weight


def style_weight(strength: float, style_loss: str) -> float:
    """Strength 0 is the loss's calibrated weight; each unit is ten times more (or less)."""
    low, high = STRENGTH_RANGE
    if not low <= strength <= high:
        raise ConfigError(f"strength {strength} is outside {low}..{high}. Fix: move the slider back")
    return float(f"{loss_default_weight(style_loss) * 10 ** strength:.4g}")


def tv_weight(smoothness: float) -> float:
    """0 switches total variation off; 1..4 are 1e3..1e6 (1e5 suits vgg19-caffe)."""
    if smoothness < 0:
        raise ConfigError(f"smoothness {smoothness} is negative. Fix: 0 (off) or more")
    return 0.0 if smoothness == 0 else float(f"{10 ** (smoothness + 2):.4g}")


def parse_blend(text: str, paintings: int) -> list[float]:
    """``"0.7, 0.3"`` -> [0.7, 0.3]; empty: equal weights. One weight per painting."""
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        return []
    try:
        weights = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"blend weights '{text}' are not numbers. Fix: e.g. 0.7, 0.3 "
                          "(one per painting)") from None
    if len(weights) != paintings:
        raise ConfigError(f"{len(weights)} blend weights for {paintings} painting(s). Fix: one weight "
                          "per painting, or leave it empty for equal weights")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError("blend weights must be >= 0 with a positive sum. Fix: e.g. 0.7, 0.3")
    return weights


def options(settings: Settings, paintings: int) -> dict:
    """The ``stylize`` options of the controls (the keys ``command_line`` writes too)."""
    if settings.preset not in PRESETS:
        raise ConfigError(f"unknown quality {settings.preset}; valid: {', '.join(PRESETS)}. Fix: pick one")
    if settings.colours not in COLOURS:
        raise ConfigError(f"unknown colours {settings.colours}. Fix: pick one of the list")
    out = {
        "size": int(settings.size),
        "steps": PRESETS[settings.preset],
        "style_loss": settings.style_loss,
        "style_weight": style_weight(settings.strength, settings.style_loss),
        "style_scale": float(settings.stroke_size),
        "preserve_color": COLOURS[settings.colours],
        "tv_weight": tv_weight(settings.smoothness),
        "seed": int(settings.seed),
        "strength_reference_size": 400,
    }
    if paintings > 1 and settings.blend:
        out["style_blend_weights"] = list(settings.blend)
    return out


def print_chain(picture: str, size: int, target: int, tile_size: int | str = 512) -> dict:
    """The options that take a finished picture of ``size`` px up to ``target`` px: coarse to fine
    from the picture itself (its own size is not run again), tiled where an image is larger than
    a tile (docs/guide/print-size.md)."""
    if target <= size:
        raise ConfigError(f"print size {target} px is not above the picture's {size} px. Fix: a larger "
                          "print size, or a smaller picture size")
    scales = [target] if target <= 2 * size else [(size + target) // 2, target]
    steps = list(PRINT_CHAIN_STEPS[: len(scales)])
    return {"init": picture, "scales": scales, "steps_per_scale": steps, "tile_size": tile_size}


def instant_strength(strength: float) -> float:
    """The page's strength as the instant network's (the painting's style vector moved toward the
    photo's own, 0..1): 0 and above is the painting's style (1: the network paints no stronger);
    below, linear down to the photo's own style at -2 (-1: half-way)."""
    low, high = STRENGTH_RANGE
    if not low <= strength <= high:
        raise ConfigError(f"strength {strength} is outside {low}..{high}. Fix: move the slider back")
    return min(1.0, (strength - low) / -low)


def instant_options(settings: Settings, paintings: int) -> dict:
    """The instant picture's options of the controls: size, strength (:func:`instant_strength`),
    stroke size, colours and blend weights mean what they mean for the optimisation."""
    if settings.colours not in COLOURS:
        raise ConfigError(f"unknown colours {settings.colours}. Fix: pick one of the list")
    out = {
        "size": int(settings.size),
        "strength": instant_strength(settings.strength),
        "style_scale": float(settings.stroke_size),
        "preserve_color": COLOURS[settings.colours],
    }
    if paintings > 1 and settings.blend:
        out["style_blend_weights"] = list(settings.blend)
    return out
