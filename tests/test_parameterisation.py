"""Image parameterisations (``nst.model.parameterisation``): on tensors, then one tiny run each
(random-initialised VGG19 on purpose: see conftest)."""

from __future__ import annotations

import pytest
import torch

import train
from nst.model.parameterisation import BASES, basis_for, make_optimizer
from tests.conftest import tiny_args
from tests.test_cli import one_line_error

KINDS = list(BASES)
SHAPES = [(1, 3, 32, 48), (2, 3, 37, 50)]  # odd sides: the pyramid's halving and the FFT's Nyquist


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_each_basis_reproduces_the_image_it_was_built_from(kind, shape):
    image = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    basis = basis_for(kind, shape)
    assert (basis.decode(basis.encode(image)) - image).abs().max() < 1e-5  # float32 round trip


@pytest.mark.parametrize("kind", KINDS)
def test_the_gradient_reaches_every_pixel(kind):
    """A loss that touches every pixel gives the coefficients a gradient, and a step along it
    moves every pixel of every channel."""
    g = torch.Generator().manual_seed(1)
    image, target = torch.rand(1, 3, 33, 40, generator=g), torch.rand(1, 3, 33, 40, generator=g)
    basis = basis_for(kind, image.shape)
    z = basis.encode(image).requires_grad_(True)
    ((basis.decode(z) - target) ** 2).sum().backward()
    assert z.grad.abs().sum() > 0
    with torch.no_grad():
        moved = basis.decode(z - 1e-2 * z.grad) - basis.decode(z)
    assert (moved.abs() > 1e-7).all()


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_optimiser_steps_the_coefficients_and_the_pixels_follow(kind, optimizer):
    """Through :func:`make_optimizer`: the pixels' gradient reaches the coefficients, the loss
    falls, the pixels stay in [0, 1] and are the decoding of the coefficients after each step."""
    g = torch.Generator().manual_seed(2)
    start, target = torch.rand(1, 3, 24, 30, generator=g), torch.rand(1, 3, 24, 30, generator=g)
    image = torch.nn.Parameter(start.clone())
    options = dict(lr=0.05) if optimizer == "adam" else dict(lr=1.0, max_iter=5, line_search_fn="strong_wolfe")
    opt = make_optimizer(torch.optim.Adam if optimizer == "adam" else torch.optim.LBFGS, [image], kind, **options)
    assert torch.equal(image.detach(), start)  # step 0 is the start

    def closure():
        opt.zero_grad()
        loss = ((image - target) ** 2).mean()
        loss.backward()
        return loss

    first = float(closure().detach())
    for _ in range(20):
        opt.step(closure)
    assert float(closure().detach()) < 0.5 * first
    assert 0 <= image.min() and image.max() <= 1
    basis, z = opt.bases[0], opt.coefficients[0]
    assert (basis.decode(z.detach()) - image.detach()).abs().max() < 1e-5


def test_a_resized_image_gets_a_basis_of_its_size():
    """A stage resizes the pixels in place: the coefficients are rebuilt from them, and the
    moments start over."""
    image = torch.nn.Parameter(torch.rand(1, 3, 16, 16))
    opt = make_optimizer(torch.optim.Adam, [image], "fourier", lr=0.01)
    image.sum().backward()
    opt.step()
    image.data = torch.rand(1, 3, 32, 24)
    opt.zero_grad()
    (image ** 2).sum().backward()
    assert opt.coefficients[0].shape == opt.bases[0].encode(image.detach()).shape
    assert opt.state[opt.coefficients[0]] == {}  # pulled after the resize: no old moments
    opt.step()
    assert image.shape == (1, 3, 32, 24)


def run_curve(tmp_path, *extra, steps=6, size=32) -> list[float]:
    from tests.test_golden import loss_curves

    assert train.main(tiny_args(tmp_path, *extra, steps=steps, size=size)) == 0
    (events,) = (tmp_path / "outputs").rglob("events.out.tfevents.*")
    return loss_curves(events.parent)["loss/total"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_in_another_basis_starts_at_the_start_and_lowers_the_loss(tmp_path, kind):
    """Through the CLI: the loss at step 0 is the pixel run's (the same start), and it falls."""
    pixels = run_curve(tmp_path / "pixels")
    curve = run_curve(tmp_path / kind, "--model.parameterisation", kind)
    assert curve[0] == pytest.approx(pixels[0], rel=1e-5)
    assert min(curve[1:]) < curve[0]


def test_the_basis_follows_the_stages(tmp_path):
    """A pyramid of two levels at both stages: a run across a resize ends with an image of the
    final size, and the last stage lowers its loss."""
    curve = run_curve(tmp_path, "--model.parameterisation", "pyramid", "--model.stages", "[48, 64]",
                      "--model.final_stage_share", "0.5", steps=8, size=64)
    (final,) = (tmp_path / "outputs").rglob("final.png")
    from nst.media.images import load_image

    assert max(load_image(final).shape[-2:]) == 64
    assert min(curve[5:]) < curve[4]


@pytest.mark.parametrize("extra, words", [
    (["--model.tile_size", "16"], "with tiles"),
    (["--model.parameterisation", "wavelets"], "parameterisation"),
])
def test_where_a_basis_makes_no_sense_it_is_refused_in_one_line(tmp_path, capsys, extra, words):
    args = tiny_args(tmp_path, *(["--model.parameterisation", "pyramid"] if "tile_size" in extra[0] else []),
                     *extra, steps=1)
    assert train.main(args) == 2
    assert words in one_line_error(capsys)
