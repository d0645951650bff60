import pytest
import torch

from nst.losses import ContentLoss, GramLoss, LayerLosses, TVLoss, gram_matrix


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
    from nst.losses.gram import SelfGram

    f = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(SelfGram.apply, (f,))
    weight = torch.randn(2, 5, 5, dtype=torch.float64)
    (ours,) = torch.autograd.grad((SelfGram.apply(f) * weight).sum(), f)
    (reference,) = torch.autograd.grad((torch.bmm(f, f.transpose(1, 2)) * weight).sum(), f)
    torch.testing.assert_close(ours, reference)
