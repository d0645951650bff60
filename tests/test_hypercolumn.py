"""The hypercolumn losses (STROTSS's self_similarity and relaxed_emd, NNST's nnst): values on
hand-made cases, float64 gradchecks, guides, and the shared seeded sampling."""

import pytest
import torch

from nst.errors import ConfigError
from nst.objective.losses import (
    NeuralNeighbourLoss,
    RelaxedEMDLoss,
    Samplers,
    SelfSimilarityLoss,
    build_layer_losses,
)
from nst.objective.losses.hypercolumn import HypercolumnSampler, cosine_distances, guided_positions, read_at
from nst.objective.losses.strotss import relaxed_emd
from nst.objective.network.features import VGGFeatures
from nst.objective.network.weights import load_weights
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective
from nst.objective.tiling import check_tileable

LAYERS = {"a": 1.0, "b": 0.5}


def _features(seed, h=6, w=8):
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.rand(1, 3, h, w, generator=g, dtype=torch.float64),
            "b": torch.rand(1, 4, h // 2, w // 2, generator=g, dtype=torch.float64),
            "rgb": torch.rand(1, 3, h, w, generator=g, dtype=torch.float64)}


def test_read_at_pixel_centres_gives_the_pixels():
    fmap = torch.arange(12.0).view(1, 1, 3, 4)
    centres = torch.tensor([[(2 * 1 + 1) / 4 - 1, (2 * 2 + 1) / 3 - 1]])  # column 1, row 2
    assert read_at(fmap, centres).item() == 9.0


def test_relaxed_emd_is_the_larger_one_sided_mean():
    cost = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    # rows' minima 0, 2 (mean 1); columns' minima 0, 1 (mean 0.5)
    assert relaxed_emd(cost).item() == 1.0
    x = torch.rand(1, 5, 3)
    assert relaxed_emd(cosine_distances(x, x)).item() == pytest.approx(0, abs=1e-6)


def test_relaxed_emd_weights_leave_out_points_outside_the_region():
    cost = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    # only the first point counts: its nearest is 0; the style points' nearest among it: 0, 1
    assert relaxed_emd(cost, torch.tensor([1.0, 0.0])).item() == 0.5


def test_self_similarity_is_zero_at_the_photo_and_ignores_feature_scale():
    photo = _features(1)
    loss = SelfSimilarityLoss(photo, LAYERS, samples=16)
    assert loss(photo).item() == pytest.approx(0, abs=1e-9)
    scaled = {k: 3 * v for k, v in photo.items()}
    assert loss(scaled).item() == pytest.approx(0, abs=1e-9)
    assert loss(_features(2)).item() > 1e-3


@pytest.mark.parametrize("make", [
    lambda t: SelfSimilarityLoss(t, LAYERS, samples=8),
    lambda t: RelaxedEMDLoss(t, {**LAYERS, "rgb": 1.0}, samples=8, style_samples=8, color_weight=0.5),
    lambda t: RelaxedEMDLoss(t, LAYERS, samples=8, style_samples=8, moments="mean_var", color_weight=0),
    lambda t: NeuralNeighbourLoss(t, LAYERS, content_features=_features(3), scale=2),
])
def test_gradcheck(make):
    loss = make(_features(1))
    inputs = {k: v.clone().requires_grad_(True) for k, v in _features(2).items()}
    names = list(inputs)
    assert torch.autograd.gradcheck(lambda *xs: loss(dict(zip(names, xs))), tuple(inputs.values()),
                                    eps=1e-6, atol=1e-5)


def test_relaxed_emd_terms_are_options():
    style, x = _features(1), _features(2)
    bare = RelaxedEMDLoss(style, LAYERS, samples=32, moment_weight=0, color_weight=0)
    with_moments = RelaxedEMDLoss(style, LAYERS, samples=32, color_weight=0, feature_scale=1.0)
    assert with_moments(x) > bare(x) > 0
    with pytest.raises(ConfigError, match="add rgb to style_layers"):
        RelaxedEMDLoss(style, LAYERS, color_weight=0.1)


def test_sampler_is_seeded_by_step_and_resumes():
    a, b = HypercolumnSampler(16, seed=4), HypercolumnSampler(16, seed=4)
    for step in range(5):
        a.resample(step)
    b.resample(4)  # a resumed run jumps straight to its step
    assert torch.equal(a.positions, b.positions)
    b.resample(5)
    assert not torch.equal(a.positions, b.positions)
    assert not torch.equal(HypercolumnSampler(16, seed=5).positions, HypercolumnSampler(16, seed=4).positions)


def test_content_and_style_share_the_sampler_of_the_objective():
    definition = LossDefinition.from_config(content_loss="self_similarity", style_loss="relaxed_emd",
                                            content_layers=None)
    vgg = VGGFeatures(load_weights("random"), definition.layers)
    objective = StyleObjective.build(vgg, definition, torch.rand(1, 3, 32, 32), (torch.rand(1, 3, 32, 40),),
                                     LossWeights(1.0, 1.0), seed=3)
    content_sampler = objective.content.loss.sampler
    assert objective.style.losses[0].loss.sampler is content_sampler
    objective.resample(7)
    assert torch.equal(content_sampler.positions, _positions(1024, 3, 7))  # the run's seed and the step


def _positions(samples, seed, step):
    sampler = HypercolumnSampler(samples, seed)
    sampler.resample(step)
    return sampler.positions


def test_guided_style_samples_come_from_the_region():
    guide = torch.zeros(1, 1, 8, 8)
    guide[..., :, 4:] = 1  # right half: x > 0
    positions = guided_positions(64, 0, guide)
    assert len(positions) == 64 and (positions[:, 0] > 0).all()
    with pytest.raises(ConfigError, match="region"):
        guided_positions(8, 0, torch.zeros(1, 1, 8, 8))


def test_relaxed_emd_all_ones_guide_changes_nothing():
    style, x = _features(1), _features(2)
    ones = torch.ones(1, 1, 6, 8, dtype=torch.float64)
    samplers = Samplers(0)
    plain = RelaxedEMDLoss(style, LAYERS, samplers, samples=16, color_weight=0)
    guided = RelaxedEMDLoss(style, LAYERS, samplers, samples=16, color_weight=0, input_guide=ones)
    torch.testing.assert_close(guided(x), plain(x))


def test_nnst_target_is_the_nearest_style_vector():
    style = {"a": torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(1))}
    # the photo is the painting mirrored: every photo vector has an exact match in the painting
    photo = {"a": style["a"].flip(-1)}
    loss = NeuralNeighbourLoss(style, {"a": 1.0}, content_features=photo, scale=1)
    torch.testing.assert_close(loss.target, photo["a"])
    assert loss(photo).item() == pytest.approx(0, abs=1e-6)
    assert loss(style).item() > 1e-3


def test_nnst_guides_restrict_the_neighbours_and_the_positions():
    style = {"a": torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(1))}
    photo = {"a": torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(2))}
    right = torch.zeros(1, 1, 4, 4)
    right[..., 2:] = 1
    loss = NeuralNeighbourLoss(style, {"a": 1.0}, content_features=photo, scale=1, target_guide=right,
                               input_guide=1 - right)
    allowed = style["a"][..., 2:].flatten(2)[0].t()
    chosen = loss.target.flatten(2)[0].t()
    assert all((allowed == v).all(-1).any() for v in chosen)
    changed = {"a": photo["a"].clone()}
    changed["a"][..., 2:] += 5  # outside the input guide: no effect
    assert loss(changed).item() == pytest.approx(loss(photo).item())


def test_nnst_alpha_searches_the_neighbours_of_the_image_as_it_stands():
    style = {"a": torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(1))}
    photo = {"a": torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(2))}
    image = {"a": style["a"].flip(-1)}  # every vector of the image has an exact match in the painting
    fixed = NeuralNeighbourLoss(style, {"a": 1.0}, content_features=photo, scale=1)
    moving = NeuralNeighbourLoss(style, {"a": 1.0}, content_features=photo, scale=1, alpha=1.0, refresh_every=5)
    photo_target = fixed.target.clone()
    torch.testing.assert_close(moving.target, photo_target)  # made of the photo at first, as alpha 0
    for step in range(5):  # step 0 keeps the photo's target; no search before refresh_every steps
        fixed.resample(step), moving.resample(step)
        assert moving(image).item() == pytest.approx(fixed(image).item())
    moving.resample(5)
    assert moving(image).item() == pytest.approx(0, abs=1e-6)  # alpha 1: the neighbours of the image itself
    torch.testing.assert_close(moving.target, image["a"])
    fixed.resample(5)
    fixed(image)
    torch.testing.assert_close(fixed.target, photo_target)


def test_nnst_alpha_searches_at_the_first_step_of_a_later_stage():
    style = {"a": torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(1))}
    photo = {"a": torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(2))}
    image = {"a": style["a"].flip(-2)}
    half = NeuralNeighbourLoss(style, {"a": 1.0}, content_features=photo, scale=1, alpha=0.5)
    half.resample(120)  # built at a stage's first step: searched at once, then kept (no refresh_every)
    half(image)
    query = 0.5 * photo["a"] + 0.5 * image["a"]
    expected = NeuralNeighbourLoss(style, {"a": 1.0}, content_features={"a": query}, scale=1)
    torch.testing.assert_close(half.target, expected.target)
    half.resample(500)
    half({"a": photo["a"]})
    torch.testing.assert_close(half.target, expected.target)
    with pytest.raises(ConfigError, match="alpha"):
        NeuralNeighbourLoss(style, {"a": 1.0}, content_features=photo, alpha=1.5)


def test_nnst_needs_the_photo():
    with pytest.raises(ConfigError, match="photo"):
        build_layer_losses("style", "nnst", None, _features(1), LAYERS)


def test_untileable_losses_refuse_in_one_line():
    for content, style in (("self_similarity", "gram"), ("mse", "relaxed_emd"), ("mse", "nnst")):
        with pytest.raises(ConfigError, match="cannot be tiled") as error:
            check_tileable(style, content)
        assert "\n" not in str(error.value) and "tile_size: null" in str(error.value)


def test_hypercolumn_losses_refuse_gradient_normalisation():
    with pytest.raises(ConfigError, match="normalize_gradients"):
        build_layer_losses("style", "relaxed_emd", {"color_weight": 0}, _features(1), LAYERS,
                           normalize_gradients=True)


def test_video_refuses_a_style_target_made_from_the_photo():
    from nst.objective.style_objective import check_video

    check_video(LossDefinition.from_config(content_loss="self_similarity", style_loss="relaxed_emd"))
    with pytest.raises(ConfigError, match="every frame") as error:
        check_video(LossDefinition.from_config(style_loss="nnst"))
    assert "\n" not in str(error.value) and "Fix:" in str(error.value)
