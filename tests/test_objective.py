"""StyleObjective on plain tensors: no Trainer, no CLI (a random VGG19 on purpose, see conftest)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nst.errors import ConfigError
from nst.objective.network.features import VGGFeatures
from nst.inputs.pair import load_mask
from nst.objective.losses import CONTENT_LOSSES, STYLE_LOSSES, GramLoss
from nst.objective.style_objective import (
    GATYS_STYLE_LAYERS,
    LossDefinition,
    LossWeights,
    StyleObjective,
)
from nst.model.strength import balance, strength_factor
from tests.conftest import tiny_pair

GATYS = LossDefinition.from_config()


def vgg_for(weights, definition: LossDefinition = GATYS) -> VGGFeatures:
    return VGGFeatures(weights, definition.layers)


def objective_for(weights, pair, definition: LossDefinition = GATYS, loss_weights=LossWeights(1.0, 1e4)):
    return StyleObjective.build(vgg_for(weights, definition), definition, pair.target_content, pair.target_styles,
                                loss_weights, pair.blend, pair.masks, pair.seed)


def descend(objective: StyleObjective, image: torch.Tensor, steps: int, lr: float = 0.02) -> list[float]:
    """A plain Adam loop on the pixels, as the LightningModule does; returns the totals."""
    image = image.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)
    totals = []
    for step in range(steps):
        objective.resample(step)
        optimizer.zero_grad()
        total = objective(image)["total"]
        total.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        totals.append(total.item())
    return totals


def test_definition_defaults_and_errors():
    assert list(GATYS.style_layers) == list(GATYS_STYLE_LAYERS) and GATYS.content_layers == {"relu4_2": 1.0}
    assert GATYS.default_weights() == (1.0, 1e-3)
    assert list(LossDefinition.from_config(style_loss="mrf").style_layers) == ["relu3_1", "relu4_1"]
    with pytest.raises(ConfigError, match="valid: gram, histogram, mean_std"):
        LossDefinition.from_config(style_loss="fancy")
    with pytest.raises(ConfigError, match="unknown normalization 'x'; valid: gatys, coursera, none"):
        LossDefinition.from_config(style_loss_options={"normalization": "x"})


def test_value_is_the_weighted_sum_of_named_terms(random_weights):
    pair = tiny_pair()
    definition = LossDefinition.from_config(tv_p=1)
    objective = objective_for(random_weights, pair, definition, LossWeights(2.0, 3.0, 5.0))
    image = torch.rand_like(pair.content)
    losses = objective(image)
    assert set(losses) == {"content", "style", "tv", "total"}
    expected = 2 * losses["content"] + 3 * losses["style"] + 5 * losses["tv"]
    torch.testing.assert_close(losses["total"], expected)
    torch.testing.assert_close(objective(pair.content)["content"], torch.tensor(0.0))  # the photo itself
    assert losses["tv"].item() == pytest.approx(objective.tv(image).item())


def test_gradient_reaches_the_pixels_and_tv_is_skipped_at_zero_weight(random_weights):
    pair = tiny_pair()
    objective = objective_for(random_weights, pair)
    image = torch.rand_like(pair.content).requires_grad_(True)
    terms = objective.terms(objective.vgg(image), image, tv=False)
    assert terms["tv"].item() == 0.0  # γ = 0 and not asked for: not computed
    objective.weights.total(terms).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(STYLE_LOSSES))
def test_every_style_loss_falls_in_a_plain_loop(random_weights, name):
    # a random network needs larger weights than the calibrated, vgg19-caffe defaults
    weight = 1e4 if name in ("gram", "histogram") else 30.0
    pair = tiny_pair(init="content+noise")
    definition = LossDefinition.from_config(style_loss=name)
    totals = descend(objective_for(random_weights, pair, definition, LossWeights(1.0, weight)), pair.start, 15)
    assert totals[-1] < 0.8 * totals[0], totals


@pytest.mark.parametrize("name", sorted(CONTENT_LOSSES))
def test_every_content_loss_falls_in_a_plain_loop(random_weights, name):
    pair = tiny_pair(init="noise")
    definition = LossDefinition.from_config(content_loss=name)
    totals = descend(objective_for(random_weights, pair, definition, LossWeights(1.0, 0.0)), pair.start, 15)
    assert totals[-1] < 0.8 * totals[0], totals


def test_blend_with_weights_one_and_zero_is_the_single_style(random_weights):
    single, blended = tiny_pair(), tiny_pair("starry_night.jpg|fruits.jpg", style_blend_weights=[1, 0])
    image = torch.rand_like(single.content)
    one, two = objective_for(random_weights, single), objective_for(random_weights, blended)
    torch.testing.assert_close(one(image)["style"], two(image)["style"])
    half = objective_for(random_weights, tiny_pair("starry_night.jpg|fruits.jpg"))
    assert len(half.style.losses) == 2 and half.style.weights == [0.5, 0.5]
    assert not torch.allclose(one(image)["style"], half(image)["style"])


def half_masks(folder, width: int = 64, height: int = 48) -> tuple[str, str]:
    left = np.zeros((height, width), np.uint8)
    left[:, : width // 2] = 255
    Image.fromarray(left, "L").save(folder / "left.png")
    Image.fromarray(255 - left, "L").save(folder / "right.png")
    return str(folder / "left.png"), str(folder / "right.png")


@pytest.mark.parametrize("name", ["gram", "mean_std", "wasserstein2", "sliced_wasserstein", "histogram"])
def test_a_guided_style_has_no_gradient_outside_its_mask(random_weights, tmp_path, name):
    left, _ = half_masks(tmp_path)
    pair = tiny_pair(size=64, content_masks=[left])
    definition = LossDefinition.from_config(style_loss=name, style_layers=["relu1_1"])
    objective = objective_for(random_weights, pair, definition)
    image = torch.rand_like(pair.content).requires_grad_(True)
    objective.style(objective.vgg(image)).backward()
    assert image.grad[..., 33:].abs().max() == 0 and image.grad[..., :31].abs().max() > 0


def test_guided_relaxed_emd_has_no_gradient_past_the_receptive_field(random_weights, tmp_path):
    """Exact with shallow layers (colour term included): with STROTSS's deep layers at 64 px,
    every pixel is in the receptive field of a guided position, so only a ratio can be asked."""
    left, _ = half_masks(tmp_path)
    pair = tiny_pair(size=64, content_masks=[left])
    definition = LossDefinition.from_config(style_loss="relaxed_emd", style_layers=["rgb", "relu1_1", "relu2_1"],
                                            style_loss_options={"color_weight": 1.0})
    objective = objective_for(random_weights, pair, definition)
    image = torch.rand_like(pair.content).requires_grad_(True)
    objective.style(objective.vgg(image)).backward()
    assert image.grad[..., 40:].abs().max() == 0 and image.grad[..., :28].abs().min(-1).values.max() > 0


@pytest.mark.parametrize("style_loss, options", [("mrf", None), ("nnst", None),
                                                 ("relaxed_emd", {"color_weight": 0.1})])
def test_the_patch_and_hypercolumn_losses_take_masks(random_weights, tmp_path, style_loss, options):
    left, _ = half_masks(tmp_path)
    pair = tiny_pair(size=64, content_masks=[left])
    definition = LossDefinition.from_config(style_loss=style_loss, style_loss_options=options)
    objective = objective_for(random_weights, pair, definition)
    image = torch.rand_like(pair.content).requires_grad_(True)
    objective.style(objective.vgg(image)).backward()
    ratio = 5 if style_loss == "relaxed_emd" else 10  # its relu5_3 sees the whole 64 px image: 6.2 measured
    assert image.grad[..., :24].abs().sum() > ratio * image.grad[..., 40:].abs().sum()


def test_two_mask_regions_each_take_their_own_style(random_weights, tmp_path):
    left, right = half_masks(tmp_path)
    pair = tiny_pair("starry_night.jpg|fruits.jpg", size=64, content_masks=[left, right], init="noise")
    objective = objective_for(random_weights, pair, loss_weights=LossWeights(0.0, 1e4))
    image = pair.start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.02)
    for _ in range(40):
        optimizer.zero_grad()
        objective(image)["total"].backward()
        optimizer.step()
    features = objective.vgg(image.detach())["relu2_1"]
    for region, (own, other) in ((0, (0, 1)), (1, (1, 0))):
        content_mask = pair.masks[region][1]
        distance = {s: GramLoss(objective.vgg(pair.styles[s])["relu2_1"], target_guide=pair.masks[s][0],
                                input_guide=content_mask)(features).item() for s in (own, other)}
        assert distance[own] < distance[other], (region, distance)


def test_mask_files_are_luminance_weights(tmp_path):
    left, _ = half_masks(tmp_path)
    mask = load_mask(left, (24, 32))
    assert mask.shape == (1, 1, 24, 32) and mask[..., :15].min() == 1 and mask[..., 17:].max() == 0


def test_strength_factor_gives_the_reference_sizes_balance(random_weights):
    """The weighted style/content gradient ratio at 96 px, with the factor, is that of 32 px."""
    small, large = tiny_pair(size=32), tiny_pair(size=96)
    vgg = vgg_for(random_weights)
    at_small, at_large = (StyleObjective.build(vgg, GATYS, p.content, p.styles, LossWeights(1, 1e4)) for p in (small, large))
    reference = balance(at_small, small.content, 0)
    factor = strength_factor(at_large, GATYS, large, 32)
    assert abs(factor * balance(at_large, large.content, 0) / reference - 1) < 0.01
    assert abs(balance(at_large, large.content, 0) / reference - 1) > 0.05  # without it the balance drifts


def test_the_reference_balance_is_kept_on_disk_for_the_next_run_of_the_same_inputs(random_weights, monkeypatch):
    """A second run of the same photo, painting and definition skips the pass at the reference
    size (a 64 px preview of starry.yaml spent most of its time there); other inputs measure."""
    import nst.model.strength as strength

    measured, real = [], strength.balance
    monkeypatch.setattr(strength, "balance", lambda o, content, seed: measured.append(max(content.shape[-2:])) or
                        real(o, content, seed))
    vgg = vgg_for(random_weights)
    factors = []
    for style in ("starry_night.jpg", "starry_night.jpg", "fruits.jpg"):
        pair = tiny_pair(style, size=32)
        objective = StyleObjective.build(vgg, GATYS, pair.content, pair.styles, LossWeights(1, 1e4))
        factors.append(strength_factor(objective, GATYS, pair, 48))
    assert measured == [48, 32, 32, 48, 32]  # the second run: its own size only
    assert factors[0] == factors[1] and factors[2] != factors[0]
    assert len(strength.read_balances()) == 2


def test_strength_calibration_skips_what_would_cost_more_than_the_preview(random_weights, capsys):
    """mrf's cost grows with the square of the pixels: a 32 px preview does not measure at 400 px
    (that took 188 s for starry.yaml at 96 px before); gram's pass at 400 px is cheap and done."""
    from nst.model.strength import keep_balance_of

    for name, scaled in (("mrf", False), ("gram", True)):
        definition = LossDefinition.from_config(style_loss=name, style_layers=["relu1_1", "relu2_1"])
        pair = tiny_pair()
        pair.objective = objective_for(random_weights, pair, definition)
        before = pair.objective.weights.style
        keep_balance_of(400 if name == "mrf" else 48, pair, definition)
        assert (pair.objective.weights.style != before) == scaled, name
