"""Every registered loss: its value on a hand-computed case, a float64 gradcheck, invariances,
guides; and the helpers they are made of."""

import pytest
import torch

from nst.errors import ConfigError
from nst.objective.losses import (
    CONTENT_LOSSES,
    STYLE_LOSSES,
    ContentLoss,
    CosineContentLoss,
    GramLoss,
    HistogramLoss,
    LayerLosses,
    MeanStdLoss,
    MRFLoss,
    SlicedWassersteinLoss,
    TVLoss,
    Wasserstein2Loss,
    build_layer_losses,
    gram_matrix,
)
from nst.objective.style_objective import LossDefinition


def fmap(rows):
    """Channels x pixels -> a 1 x C x 1 x N feature map."""
    t = torch.tensor(rows, dtype=torch.float64)
    return t.view(1, t.shape[0], 1, t.shape[1])


STYLE = fmap([[1.0, 2.0], [3.0, 4.0]])  # per-pixel Gram [[5, 11], [11, 25]] / 2
IDENTITY = fmap([[1.0, 0.0], [0.0, 1.0]])  # per-pixel Gram [[1, 0], [0, 1]] / 2


@pytest.mark.parametrize(
    "normalization, expected",
    [("gatys", 834 / 16), ("coursera", 834 / 64), ("none", 834.0)],
)
def test_gram_normalizations(normalization, expected):
    # D = ([[5,11],[11,25]] - I) / 2; sum of D^2 = 834/4; C = 2, H W = 2
    assert GramLoss(STYLE, normalization)(IDENTITY).item() == pytest.approx(expected)


def test_mean_std_value():
    # channel means (1.5, 3.5) vs (0.5, 0.5); all deviations 0.5
    assert MeanStdLoss(STYLE, eps=0.0)(IDENTITY).item() == pytest.approx((1 + 9) / 2)


def test_wasserstein2_value_of_one_dimensional_gaussians():
    # N(2, 1) vs N(7, 4): W2^2 = (7 - 2)^2 + (2 - 1)^2 = 26
    loss = Wasserstein2Loss(fmap([[1.0, 3.0]]), eps=0.0)
    assert loss(fmap([[5.0, 9.0]])).item() == pytest.approx(26.0)
    assert loss(fmap([[3.0, 1.0]])).item() == pytest.approx(0.0, abs=1e-6)


def test_sliced_wasserstein_value_in_one_dimension():
    # the only unit directions are +-1: sorted (5, 9) vs (1, 3) -> mean(4^2, 6^2) = 26
    loss = SlicedWassersteinLoss(fmap([[1.0, 3.0]]), projections=4)
    assert loss(fmap([[9.0, 5.0]])).item() == pytest.approx(26.0)


def test_histogram_is_gram_plus_sorted_channel_matching():
    loss = HistogramLoss(fmap([[1.0, 3.0]]), histogram_weight=2.0)
    generated = fmap([[9.0, 5.0]])
    assert loss.histogram(generated).item() == pytest.approx(26.0)
    expected = GramLoss(fmap([[1.0, 3.0]]))(generated).item() + 2.0 * 26.0
    assert loss(generated).item() == pytest.approx(expected)


def test_histogram_target_resampled_once_per_pixel_count():
    loss = HistogramLoss(fmap([[1.0, 3.0]]), histogram_weight=1.0)
    # 4 pixels against 2: the target's quantiles interpolated to (1, 5/3, 7/3, 3)
    assert loss.histogram(fmap([[1.0, 5 / 3, 7 / 3, 3.0]])).item() == pytest.approx(0.0, abs=1e-12)
    kept = loss.target_at(4)
    assert loss.target_at(4) is kept  # the same crop size every step: interpolated once
    assert loss.histogram(fmap([[9.0, 5.0]])).item() == pytest.approx(26.0)  # another size: anew


def test_mrf_matches_nearest_patch_by_correlation():
    loss = MRFLoss(fmap([[1.0, 0.0], [0.0, 2.0]]), patch_size=1)
    # (3, .1) is nearest (1, 0); (.1, 1) is nearest (0, 2)
    generated = fmap([[3.0, 0.1], [0.1, 1.0]])
    assert loss(generated).item() == pytest.approx((4 + 0.01 + 0.01 + 1) / 4)


@pytest.mark.parametrize(
    "normalization, expected", [("mean", 7.5), ("gatys", 15.0), ("coursera", 30 / 16), ("none", 30.0)]
)
def test_content_mse_normalizations(normalization, expected):
    target = torch.zeros(1, 2, 1, 2, dtype=torch.float64)
    features = fmap([[1.0, 2.0], [3.0, 4.0]])
    assert ContentLoss(target, normalization)(features).item() == pytest.approx(expected)


def test_cosine_content_value():
    target = fmap([[1.0, 1.0], [0.0, 0.0]])  # both pixels point along channel 0
    assert CosineContentLoss(target)(IDENTITY).item() == pytest.approx(0.5)


def test_tv_l1_value():
    image = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    assert TVLoss(1)(image).item() == pytest.approx(1.0)


def _random(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


ALL_LOSSES = {
    "gram": lambda t: GramLoss(t),
    "gram_coursera": lambda t: GramLoss(t, "coursera"),
    "mean_std": lambda t: MeanStdLoss(t),
    "wasserstein2": lambda t: Wasserstein2Loss(t),
    "sliced_wasserstein": lambda t: SlicedWassersteinLoss(t, projections=5),
    "histogram": lambda t: HistogramLoss(t, histogram_weight=0.5),
    "mrf": lambda t: MRFLoss(t, patch_size=2),
    "mse": lambda t: ContentLoss(t),
    "cosine": lambda t: CosineContentLoss(t),
}


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_gradcheck(name):
    loss = ALL_LOSSES[name](_random(1, 3, 4, 5, seed=1))
    x = _random(1, 3, 4, 5, seed=2).requires_grad_(True)
    assert torch.autograd.gradcheck(loss, (x,), eps=1e-6, atol=1e-5)


def test_gradcheck_tv():
    x = _random(1, 3, 4, 5).requires_grad_(True)
    assert torch.autograd.gradcheck(TVLoss(2), (x,))
    assert torch.autograd.gradcheck(TVLoss(1), (x,))


@pytest.mark.parametrize("name", ["gram", "mean_std", "wasserstein2", "sliced_wasserstein", "histogram"])
def test_distribution_losses_ignore_pixel_order(name):
    loss = ALL_LOSSES[name](_random(1, 3, 4, 5, seed=1))
    x = _random(1, 3, 4, 5, seed=2)
    shuffled = x.flatten(2)[..., torch.randperm(20)].view_as(x)
    torch.testing.assert_close(loss(x), loss(shuffled))


@pytest.mark.parametrize("name", ["mrf", "mse", "cosine"])
def test_spatial_losses_see_pixel_order(name):
    loss = ALL_LOSSES[name](_random(1, 3, 4, 5, seed=1))
    x = _random(1, 3, 4, 5, seed=2)
    shuffled = x.flatten(2)[..., torch.randperm(20)].view_as(x)
    assert not torch.allclose(loss(x), loss(shuffled))


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_zero_at_the_target(name):
    target = _random(1, 3, 4, 5, seed=1)
    assert ALL_LOSSES[name](target)(target).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_float32_and_finite_under_bf16_autocast(name):
    loss = ALL_LOSSES[name](torch.rand(1, 8, 6, 6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(torch.rand(1, 8, 6, 6).to(torch.bfloat16))
    assert value.dtype == torch.float32 and torch.isfinite(value)


def test_sliced_projections_change_each_step_reproducibly():
    target, x = _random(1, 6, 4, 4, seed=1), _random(1, 6, 4, 4, seed=2)
    a, b = SlicedWassersteinLoss(target, seed=3), SlicedWassersteinLoss(target, seed=3)
    a.resample(5), b.resample(5)
    assert a(x).item() == b(x).item()
    b.resample(6)
    assert a(x).item() != b(x).item()


def test_sizes_may_differ_between_style_and_generated():
    target = _random(1, 3, 8, 8, seed=1)
    for name in ("gram", "mean_std", "wasserstein2", "sliced_wasserstein", "histogram", "mrf"):
        value = ALL_LOSSES[name](target)(_random(1, 3, 5, 7, seed=2))
        assert torch.isfinite(value) and value > 0, name


def test_registry_names_and_option_errors():
    assert set(STYLE_LOSSES) == {"gram", "mean_std", "wasserstein2", "sliced_wasserstein", "histogram", "mrf",
                                 "relaxed_emd", "nnst"}
    assert set(CONTENT_LOSSES) == {"mse", "cosine", "self_similarity", "photorealistic"}
    feats = {"relu1_1": torch.rand(1, 3, 4, 4)}
    with pytest.raises(ConfigError, match="valid: gram, histogram, mean_std, mrf"):
        build_layer_losses("style", "fancy", None, feats, {"relu1_1": 1.0})
    with pytest.raises(ConfigError, match="its options: normalization"):
        LossDefinition.from_config(style_loss_options={"normalisation": "gatys"})
    with pytest.raises(ConfigError, match="valid: gatys, coursera, none"):
        LossDefinition.from_config(style_loss_options={"normalization": "x"})
    with pytest.raises(ConfigError, match="valid: mean, gatys, coursera, none"):
        LossDefinition.from_config(content_loss_options={"normalization": "x"})


def test_seeded_losses_get_a_seed_per_layer():
    feats = {"a": torch.rand(1, 4, 4, 4), "b": torch.rand(1, 4, 4, 4)}
    losses = build_layer_losses("style", "sliced_wasserstein", None, feats, {"a": 1, "b": 1}, seed=7)
    seeds = [m.seed for m in losses.losses.values()]
    assert len(set(seeds)) == 2


def test_sorted_matching_without_gradient_is_chunked_but_equal():
    from nst.objective.losses.common import sorted_matching_loss

    values = torch.randn(2, 19, 300)
    target = torch.randn(1, 19, 250).sort(dim=-1).values
    chunked = sorted_matching_loss(values, target)
    whole = sorted_matching_loss(values.clone().requires_grad_(True), target)
    torch.testing.assert_close(chunked, whole.detach())


def test_fixed_sliced_wasserstein_keeps_its_directions_and_drops_the_raw_target():
    from nst.objective.losses import SlicedWassersteinLoss

    target = torch.rand(1, 4, 6, 6)
    fixed = SlicedWassersteinLoss(target, seed=3, fixed=True)
    moving = SlicedWassersteinLoss(target, seed=3)
    directions = fixed.directions.clone()
    fixed.resample(5)
    moving.resample(5)
    assert torch.equal(fixed.directions, directions) and not torch.equal(moving.directions, directions)
    assert fixed.target.numel() == 0
    x = torch.rand(1, 4, 6, 6)
    assert torch.isclose(fixed(x), SlicedWassersteinLoss(target, seed=3)(x))


GUIDED = ["gram", "mean_std", "wasserstein2", "sliced_wasserstein", "histogram", "mrf"]
GUIDED_LOSSES = {"sliced_wasserstein": lambda t, **g: SlicedWassersteinLoss(t, projections=5, seed=1, **g),
                 "histogram": lambda t, **g: HistogramLoss(t, histogram_weight=0.5, **g),
                 "mrf": lambda t, **g: MRFLoss(t, patch_size=2, **g)}


@pytest.mark.parametrize("name", GUIDED)
def test_an_all_ones_guide_changes_nothing(name):
    cls = GUIDED_LOSSES.get(name, STYLE_LOSSES[name].cls)
    target, x = _random(1, 3, 4, 5, seed=1), _random(1, 3, 4, 5, seed=2)
    ones = torch.ones(1, 1, 4, 5, dtype=torch.float64)
    guided = cls(target, target_guide=ones, input_guide=ones)
    torch.testing.assert_close(guided(x), cls(target)(x))


@pytest.mark.parametrize("name", GUIDED)
def test_a_binary_guide_sees_only_its_region(name):
    """Guided statistics (sorted values, patches) of a half equal those of that half cut out."""
    cls = GUIDED_LOSSES.get(name, STYLE_LOSSES[name].cls)
    target, x = _random(1, 3, 4, 6, seed=1), _random(1, 3, 4, 6, seed=2)
    left = torch.zeros(1, 1, 4, 6, dtype=torch.float64)
    left[..., :3] = 1
    guided = cls(target, target_guide=1 - left, input_guide=left)
    torch.testing.assert_close(guided(x), cls(target[..., 3:])(x[..., :3]))


@pytest.mark.parametrize("name", GUIDED)
def test_gradcheck_guided(name):
    guide = torch.rand(1, 1, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    loss = GUIDED_LOSSES.get(name, STYLE_LOSSES[name].cls)(_random(1, 3, 4, 5, seed=1), target_guide=guide, input_guide=guide)
    x = _random(1, 3, 4, 5, seed=2).requires_grad_(True)
    assert torch.autograd.gradcheck(loss, (x,), eps=1e-6, atol=1e-5)


def test_which_losses_take_guides():
    assert sorted(n for n, e in STYLE_LOSSES.items() if e.takes_guides) == sorted(GUIDED + ["relaxed_emd", "nnst"])


def test_gram_of_known_tensor():
    # F = [[1, 2], [3, 4]] (C=2 channels, H=1, W=2): F F^T = [[5, 11], [11, 25]], / (C*H*W = 4)
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    torch.testing.assert_close(gram_matrix(f)[0], expected)


def test_gram_is_float32_under_bf16_autocast():
    f = torch.randn(1, 8, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram_matrix(f.to(torch.bfloat16))
    assert g.dtype == torch.float32


def test_content_loss_is_mean_squared_difference():
    target = torch.zeros(1, 2, 1, 2)
    features = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 2, 1, 2)
    assert ContentLoss(target)(features).item() == pytest.approx((1 + 4 + 9 + 16) / 4)


def test_gram_loss_is_squared_frobenius_distance():
    style = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # Gram [[5,11],[11,25]]/4
    generated = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)  # Gram [[1,0],[0,1]]/4
    diff = torch.tensor([[4.0, 11.0], [11.0, 24.0]]) / 4
    assert GramLoss(style)(generated).item() == pytest.approx(diff.pow(2).sum().item())
    assert GramLoss(style)(style).item() == 0.0


def test_gram_loss_ignores_pixel_order():
    style = torch.randn(1, 4, 5, 6)
    generated = torch.randn(1, 4, 5, 6)
    shuffled = generated.flatten(2)[..., torch.randperm(30)].view(1, 4, 5, 6)
    loss = GramLoss(style)
    torch.testing.assert_close(loss(generated), loss(shuffled))


def test_tv_loss_values():
    image = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    assert TVLoss(2)(image).item() == pytest.approx(1.0)  # dy all 0, dx all 1
    assert TVLoss(1)(torch.full((1, 3, 4, 4), 0.5)).item() == 0.0


def test_layer_losses_weighted_sum():
    feats = {"a": torch.ones(1, 1, 1, 2), "b": torch.ones(1, 1, 1, 2)}
    losses = LayerLosses(
        {"a": ContentLoss(torch.zeros(1, 1, 1, 2)), "b": ContentLoss(torch.full((1, 1, 1, 2), 3.0))},
        {"a": 0.5, "b": 2.0},
    )
    assert losses(feats).item() == pytest.approx(0.5 * 1 + 2.0 * 4)


def test_targets_are_buffers():
    loss = GramLoss(torch.randn(1, 3, 4, 4))
    assert "target" in dict(loss.named_buffers())
    assert list(loss.parameters()) == []


def test_self_gram_backward_matches_autograd_of_two_operands():
    from nst.objective.losses.gram import SelfGram

    f = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(SelfGram.apply, (f,))
    weight = torch.randn(2, 5, 5, dtype=torch.float64)
    (ours,) = torch.autograd.grad((SelfGram.apply(f) * weight).sum(), f)
    (reference,) = torch.autograd.grad((torch.bmm(f, f.transpose(1, 2)) * weight).sum(), f)
    torch.testing.assert_close(ours, reference)


def test_sliced_directions_are_drawn_on_the_features_device(monkeypatch):
    """A CPU generator and a copy per layer per step is a host sync on a GPU: the directions are
    drawn by a generator on the features' device (the same numbers as before on the CPU)."""
    devices = []
    real = torch.Generator

    def recording(device="cpu"):
        devices.append(torch.device(device))
        return real(device="cpu")  # this machine has only a CPU to draw on

    before = SlicedWassersteinLoss(torch.rand(1, 4, 5, 5, generator=real().manual_seed(1)), projections=3)
    monkeypatch.setattr(torch, "Generator", recording)
    target = torch.rand(1, 4, 5, 5, generator=real().manual_seed(1))
    loss = SlicedWassersteinLoss(target, projections=3)
    torch.testing.assert_close(loss.directions, before.directions, rtol=0, atol=0)
    loss.target = loss.target.to("meta")  # as if on another device: the generator must follow
    devices.clear()
    try:
        loss.resample(1)
    except (NotImplementedError, RuntimeError):
        pass  # meta tensors cannot be drawn into or sorted; the generator's device is what counts
    assert devices and devices[0].type == "meta"


def test_wasserstein2_eigenvalues_on_a_gpu_are_float32_with_a_float64_fallback(monkeypatch):
    """float64 runs at 1/32-1/64 of float32's speed on consumer GPUs: there eigvalsh runs in
    float32, and in float64 only where float32 fails to converge (many equal zero eigenvalues);
    on the CPU it stays float64 (the same pictures as before). A fake CUDA tensor stands in."""
    from nst.linalg import eigvalsh_psd
    from tests.helpers import fake_cuda

    calls, real = [], torch.linalg.eigvalsh

    def eigvalsh(matrix):
        calls.append(matrix.dtype)
        if matrix.dtype == torch.float32:
            raise torch.linalg.LinAlgError("linalg.eigh: the algorithm failed to converge")
        return real(matrix)

    monkeypatch.setattr(torch.linalg, "eigvalsh", eigvalsh)
    with fake_cuda():
        values = eigvalsh_psd(torch.rand(2, 8, 8, device="cuda"))
        assert values.device.type == "cuda" and values.dtype == torch.float32
    assert calls == [torch.float32, torch.float64]
    calls.clear()
    eigvalsh_psd(torch.eye(3))
    assert calls == [torch.float64]
