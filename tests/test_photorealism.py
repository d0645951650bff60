"""Luan et al.'s photorealism regulariser (``nst.objective.losses.matting``), on tensors."""

from __future__ import annotations

import torch

from nst.objective.losses.matting import MattingLaplacian, matting_terms, windows
from tests.conftest import tiny_pair


def photo(size: int = 40) -> torch.Tensor:
    return tiny_pair(size=size).content


def dense_laplacian(image: torch.Tensor, eps: float) -> torch.Tensor:
    """Levin et al.'s L entry by entry (their (12)), as a dense N x N matrix: the reference."""
    h, w = image.shape[-2:]
    centred, inverse = (t.double() for t in matting_terms(image, eps))
    index = windows(torch.arange(h * w, dtype=torch.float64).view(1, 1, h, w))[0, 0].long()  # K x 9
    block = torch.eye(9, dtype=torch.float64) - (1 + centred @ inverse @ centred.transpose(1, 2)) / 9
    laplacian = torch.zeros(h * w, h * w, dtype=torch.float64)
    laplacian.index_put_((index[:, :, None].expand(-1, -1, 9), index[:, None, :].expand(-1, 9, -1)), block,
                         accumulate=True)
    return laplacian


def test_the_windowed_form_is_the_matting_laplacians_quadratic_form():
    image = photo(24)[..., :12, :14]
    other = torch.rand(1, 3, *image.shape[-2:], generator=torch.Generator().manual_seed(0))
    laplacian = dense_laplacian(image, 1e-4)
    v = other.double().flatten(2)[0]  # 3 x N
    expected = float(torch.einsum("cn,nm,cm->", v, laplacian, v)) / v.shape[1]
    got = float(MattingLaplacian(image, 1e-4)(other))
    assert abs(got - expected) < 1e-3 * abs(expected)


def test_a_locally_affine_recolouring_of_the_photo_costs_almost_nothing_and_a_distortion_costs_more():
    image = photo()
    term = MattingLaplacian(image)
    mix = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.5, 0.1], [0.3, 0.0, 0.6]])
    recoloured = torch.einsum("ij,bjhw->bihw", mix, image) + torch.tensor([0.05, -0.02, 0.1]).view(1, 3, 1, 1)
    shifted = torch.roll(image, shifts=(2, 3), dims=(-2, -1))  # the photo's edges in the wrong place
    noisy = image + 0.05 * torch.randn(image.shape, generator=torch.Generator().manual_seed(1))
    cost = {name: float(term(x)) for name, x in
            [("photo", image), ("recoloured", recoloured), ("shifted", shifted), ("noisy", noisy)]}
    assert cost["photo"] < 1e-4 * cost["shifted"] and cost["recoloured"] < 1e-3 * cost["shifted"], cost
    assert cost["recoloured"] < 1e-3 * cost["noisy"], cost


def test_its_gradient_pulls_a_distorted_image_back_towards_an_affine_one():
    image = photo(32)
    term = MattingLaplacian(image)
    x = (image + 0.05 * torch.randn(image.shape, generator=torch.Generator().manual_seed(2))).requires_grad_(True)
    loss = term(x)
    loss.backward()
    before = float(loss.detach())
    with torch.no_grad():
        after = float(term(x - 0.1 * x.grad / x.grad.abs().max()))
    assert after < before
