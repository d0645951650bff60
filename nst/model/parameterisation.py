"""How the optimiser sees the image (``model.parameterisation``): the pixels themselves, or the
coefficients of a linear basis from which the pixels are made each step:

* ``pyramid``: a Laplacian pyramid (STROTSS, Kolkin et al. 2019): each level the detail lost by
  halving the one above; a step on a coarse level moves a whole region, so coarse structure
  changes as fast as fine texture.
* ``decorrelated``: colour in a fixed decorrelated basis (Mordvintsev et al., "Differentiable
  Image Parameterizations", Distill 2018: the square root of ImageNet's colour covariance, lucid's
  ``color_correlation_svd_sqrt``), so that a step moves brightness and hue separately.
* ``fourier``: the image's 2-D Fourier coefficients scaled by 1/frequency (the same article): a
  step of the same size in every coefficient is pink noise, the spectrum of photographs, instead
  of pixel-space white noise. Scaled so that a step of ``lr`` in every coefficient moves the
  pixels by the same RMS as in the pixel basis.

Each basis is built from the image it starts at, so step 0 is exactly that image. The pixel
parameters stay the model's (callbacks, checkpoints, stages and the moving average read pixels):
:func:`make_optimizer` puts the optimiser on the coefficients and keeps the pixels in step: the
pixels' gradient is carried back through the basis (a hook as it arrives, so loss scalers see
it), each evaluation of the objective sees the pixels of the current coefficients, and after each
step the pixels are clamped into [0, 1] and the clamp folded back into the coefficients (exact:
every basis is linear and reproduces any pixel image). At a new stage (``model.stages``) the
basis is rebuilt from the resized pixels and the optimiser's moments start over.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F

from nst.errors import ConfigError

Parameterisation = Literal["pixels", "pyramid", "decorrelated", "fourier"]

# lucid's color_correlation_svd_sqrt (RGB rows), divided by its largest column norm
_IMAGENET_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
IMAGENET_COLOURS = _IMAGENET_SQRT / _IMAGENET_SQRT.norm(dim=0).max()


class Basis:
    """A linear, exactly invertible map from coefficients (one tensor) to images of one shape."""

    def __init__(self, shape: Sequence[int]):
        self.shape = tuple(shape)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, coefficients: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Decorrelated(Basis):
    """RGB = C z per pixel, with C the decorrelating colour matrix."""

    def __init__(self, shape: Sequence[int], colours: torch.Tensor = IMAGENET_COLOURS):
        super().__init__(shape)
        self.colours = colours

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        inverse = torch.linalg.inv(self.colours.double()).to(image)
        return torch.einsum("ij,bjhw->bihw", inverse, image)

    def decode(self, coefficients: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,bjhw->bihw", self.colours.to(coefficients), coefficients)


class Pyramid(Basis):
    """STROTSS's Laplacian pyramid (``dec_lap_pyr``/``syn_lap_pyr``, bilinear), its levels
    flattened into one tensor: down to about 16 px, at most ``levels`` + 1 levels."""

    def __init__(self, shape: Sequence[int], levels: int = 5, smallest: int = 16):
        super().__init__(shape)
        sizes = [tuple(shape[-2:])]
        while len(sizes) <= levels and min(sizes[-1]) // 2 >= smallest:
            sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
        self.sizes = sizes  # finest first

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        levels, current = [], image
        for size in self.sizes[1:]:
            smaller = F.interpolate(current, size=size, mode="bilinear", align_corners=False)
            levels.append(current - F.interpolate(smaller, size=current.shape[-2:], mode="bilinear",
                                                  align_corners=False))
            current = smaller
        levels.append(current)
        return torch.cat([level.flatten(1) for level in levels], dim=1)

    def decode(self, coefficients: torch.Tensor) -> torch.Tensor:
        counts = [3 * h * w for h, w in self.sizes]
        levels = [c.view(c.shape[0], 3, *size) for c, size in zip(coefficients.split(counts, dim=1), self.sizes)]
        image = levels[-1]
        for level in levels[-2::-1]:
            image = level + F.interpolate(image, size=level.shape[-2:], mode="bilinear", align_corners=False)
        return image


class Fourier(Basis):
    """image = irfft2(scale * z) (orthonormal FFT), scale = 1 / max(frequency, 1 / long side),
    divided by its RMS; z stored as real pairs (``view_as_real``) so that every optimiser works."""

    def __init__(self, shape: Sequence[int], decay: float = 1.0):
        super().__init__(shape)
        h, w = shape[-2:]
        frequency = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None, :] ** 2)
        scale = 1 / frequency.clamp(min=1 / max(h, w)) ** decay
        self.scale = scale / scale.pow(2).mean().sqrt()

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(image.float(), norm="ortho") / self.scale.to(image.device)
        return torch.view_as_real(spectrum).to(image.dtype).contiguous()

    def decode(self, coefficients: torch.Tensor) -> torch.Tensor:
        spectrum = torch.view_as_complex(coefficients.float().contiguous()) * self.scale.to(coefficients.device)
        return torch.fft.irfft2(spectrum, s=self.shape[-2:], norm="ortho").to(coefficients.dtype)


BASES = {"pyramid": Pyramid, "decorrelated": Decorrelated, "fourier": Fourier}


def basis_for(parameterisation: str, shape: Sequence[int]) -> Basis:
    if parameterisation not in BASES:
        raise ConfigError(f"unknown parameterisation '{parameterisation}'; valid: pixels, {', '.join(BASES)}")
    return BASES[parameterisation](shape)


def check_parameterisation(parameterisation: str, video: bool, tiled: bool) -> None:
    """A basis spans the whole image: tiles exist for images whose whole does not fit, and a
    video's frames each start from the previous result; both stay in pixels."""
    if parameterisation == "pixels":
        return
    if video:
        raise ConfigError(f"parameterisation {parameterisation} with a video: each frame starts from the previous "
                          "one carried by optical flow, in pixels. Fix: --model.parameterisation pixels")
    if tiled:
        raise ConfigError(f"parameterisation {parameterisation} with tiles: a basis spans the whole image, which "
                          "tiles exist not to hold. Fix: --model.parameterisation pixels, or --model.tile_size null")


class Reparameterised:
    """In front of a torch optimiser class (see :func:`make_optimizer`): the optimiser steps
    the coefficients; ``images`` (the model's pixel parameters) follow them."""

    def __init__(self, images: Sequence[torch.Tensor], parameterisation: str, **options):
        self.images = list(images)
        self.parameterisation = parameterisation
        self.bases = [basis_for(parameterisation, image.shape) for image in self.images]
        self.coefficients = [basis.encode(image.detach()).requires_grad_(True)
                             for basis, image in zip(self.bases, self.images)]
        super().__init__(self.coefficients, **options)
        for g, image in enumerate(self.images):
            if hasattr(image, "nst_basis_hook"):  # an earlier optimiser's
                image.nst_basis_hook.remove()
            image.nst_basis_hook = image.register_post_accumulate_grad_hook(lambda image, g=g: self.pull_gradient(g))

    def follow_shape(self, g: int) -> None:
        """After a stage resized image ``g``: a basis of its new shape, its moments dropped."""
        image, z = self.images[g], self.coefficients[g]
        if tuple(image.shape) != self.bases[g].shape:
            self.bases[g] = basis_for(self.parameterisation, image.shape)
            z.data = self.bases[g].encode(image.detach())
            if isinstance(self, torch.optim.LBFGS):
                self.state.clear()  # its history: vectors over all the coefficients
            else:
                self.state.pop(z, None)

    @torch.no_grad()
    def pull_gradient(self, g: int) -> None:
        """The coefficients' gradient from the pixels' (the basis's adjoint, by autograd)."""
        self.follow_shape(g)
        z = self.coefficients[g]
        with torch.enable_grad(), torch.autocast(z.device.type, enabled=False):
            leaf = z.detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(self.bases[g].decode(leaf), leaf, self.images[g].grad.to(z.dtype))
        z.grad = gradient

    @torch.no_grad()
    def push_pixels(self, clamp: bool) -> None:
        for g, (image, z) in enumerate(zip(self.images, self.coefficients)):
            self.follow_shape(g)
            basis = self.bases[g]
            pixels = basis.decode(z)
            if clamp:
                clamped = pixels.clamp(0, 1)
                z.add_(basis.encode(clamped - pixels))  # exact: decode(encode(r)) == r
                pixels = clamped
            image.copy_(pixels)

    def step(self, closure=None):
        def evaluate():
            self.push_pixels(clamp=False)  # L-BFGS evaluates at coefficients it moved in place
            return closure()

        loss = super().step(None if closure is None else evaluate)
        self.push_pixels(clamp=True)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for image in self.images:
            image.grad = None

    def state_dict(self) -> dict:
        return {**super().state_dict(), "nst_coefficients": [z.detach().clone() for z in self.coefficients]}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get("nst_coefficients")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "nst_coefficients"})
        for g, (z, s) in enumerate(zip(self.coefficients, saved or [])):
            if s.shape == z.shape:  # else saved at another stage: the pixels' encoding stays
                z.data = s.to(z)
        self.push_pixels(clamp=True)


_CLASSES: dict[type, type] = {}


def make_optimizer(cls: type[torch.optim.Optimizer], images: Sequence[torch.Tensor], parameterisation: str = "pixels",
                   **options) -> torch.optim.Optimizer:
    """``cls(images, **options)``, stepping ``images`` in ``parameterisation``'s basis."""
    if parameterisation == "pixels":
        return cls(list(images), **options)
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Reparameterised{cls.__name__}", (Reparameterised, cls), {})
    return _CLASSES[cls](images, parameterisation, **options)

