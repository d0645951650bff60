"""Every tensor a run starts from, made in one place: images loaded and resized, styles
recoloured, masks loaded, blend weights normalised and the starting image drawn, into one
:class:`Pair` record per (content, style) pair. The data module calls this; nothing else
loads or resizes images."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Optional

import torch

from nst.media.color import (
    luminance,
    luminance_image,
    match_color_histogram,
    match_luminance,
    neighbour_color_correction,
    with_chroma_of,
)
from nst.errors import ConfigError, ImageError
from nst.media.images import (
    DEFAULT_MAX_PIXELS,
    MIN_SIDE,
    load_image,
    load_image_alpha,
    resize,
    resize_long_side,
)
from nst.inputs.automasks import KINDS, auto_masks
from nst.inputs.pairs import PairSpec, expand_images
from nst.media.video import Clip, ClipOptions, is_video_file, read_clip, read_frames_folder

INITS = ("content", "noise", "content+noise", "style", "style_colors")
PreserveColor = Literal["none", "luminance", "histogram", "neighbour"]
Alpha = Literal["keep", "drop"]


@dataclass(frozen=True)
class InputOptions:
    """How a pair's images become tensors: the data module's arguments, minus the paths (their
    types, checked by the command line, are on the data module)."""

    size: int = 400
    style_size: Optional[int] = None
    style_scale: float = 1.0
    style_blend_weights: Optional[Sequence[float]] = None
    preserve_color: PreserveColor = "none"
    content_masks: Optional[Sequence[str]] = None
    style_masks: Optional[Sequence[str]] = None
    init: str = "style_colors"
    init_noise_ratio: float = 0.6
    seed: int = 0
    max_input_pixels: int = DEFAULT_MAX_PIXELS
    frames_folder: bool = False
    frame_stride: int = 1
    max_frames: Optional[int] = None
    start_time: float = 0.0
    end_time: Optional[float] = None
    alpha: Alpha = "keep"

    def __post_init__(self) -> None:
        if self.init not in INITS and not os.path.splitext(self.init)[1]:  # a str: no type says this
            raise ConfigError(f"unknown init '{self.init}'; valid: {', '.join(INITS)} or an image path")

    @property
    def style_long_side(self) -> int:
        """``style_size`` if given, else ``size * style_scale`` (jcjohnson's -style_scale)."""
        return self.style_size if self.style_size is not None else round(self.size * self.style_scale)


@dataclass(eq=False)
class Pair:
    """One pair, ready to optimise: everything the objective and the outputs need.

    ``content``/``styles`` are the images as loaded (styles recoloured for ``histogram``);
    ``target_content``/``target_styles`` are what VGG compares (their luminance under
    ``preserve_color: luminance``, else the same tensors); ``start`` is the initial image.
    """

    name: str
    index: int  # position in the run: shards depend on it, not on batching
    content: torch.Tensor
    styles: tuple[torch.Tensor, ...]
    blend: dict[int, float]  # style index -> weight (normalised; zero weights left out)
    start: torch.Tensor
    seed: int  # the run's seed + index: pair i makes what a one-pair run with seed + i makes
    folder: str = ""  # where its outputs go in the run's folder ("" for a one-pair run)
    keep_chroma: bool = False  # preserve_color: luminance
    correct_color: bool = False  # preserve_color: neighbour (NNST's colour correction of the result)
    masks: Optional[list[tuple[torch.Tensor, torch.Tensor]]] = None  # (over style, over content)
    objective: Optional[torch.nn.Module] = None  # its StyleObjective, made by the model at fit start
    clip: Optional[Clip] = None  # a video pair's frames (``content`` is the frame being made)
    alpha: Optional[torch.Tensor] = None  # the photo's transparency (1x1xHxW), given to its outputs (data.alpha)
    balances: dict = field(default_factory=dict, repr=False)  # reference size -> style/content balance there,
                                                               # measured once (``nst.model.strength``); shared by resized copies

    @property
    def target_content(self) -> torch.Tensor:
        return luminance_image(self.content) if self.keep_chroma else self.content

    @property
    def target_styles(self) -> tuple[torch.Tensor, ...]:
        if not self.keep_chroma:
            return self.styles
        return tuple(match_luminance(s, self.content) for s in self.styles)

    def finish(self, image: torch.Tensor) -> torch.Tensor:
        """What the user sees of an optimised image: the photo's chroma under ``luminance``; under
        ``neighbour``, the photo's chroma in the painting's palette (NNST's correction)."""
        if self.correct_color:
            content = resize(self.content, tuple(image.shape[-2:])).to(image.device)
            return torch.cat([neighbour_color_correction(row, content, self.styles[0].to(image.device))
                              for row in image.split(1)])
        if not self.keep_chroma:
            return image
        return with_chroma_of(image, resize(self.content, tuple(image.shape[-2:])).to(image.device))

    def resized(self, long_side: int) -> Pair:
        """The targets at another size (styles scaled alike), for measuring at that size."""
        content, styles = self.target_content, self.target_styles
        scale = long_side / max(content.shape[-2:])
        styles = tuple(resize_long_side(s, max(16, round(max(s.shape[-2:]) * scale))) for s in styles)
        return replace(self, content=resize_long_side(content, long_side), styles=styles, keep_chroma=False)


def blend_weights(styles: Sequence[str], weights: Optional[Sequence[float]]) -> dict[int, float]:
    """``{style index: weight}`` normalised to sum 1; styles with weight 0 are left out."""
    if weights is None:
        weights = [1.0] * len(styles)
    if len(weights) != len(styles):
        raise ConfigError(
            f"style_blend_weights has {len(weights)} values for {len(styles)} style images; give one each"
        )
    if any(not (w >= 0) or w == float("inf") for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"style_blend_weights must be finite, >= 0 and not all 0, got {list(weights)}")
    total = float(sum(weights))
    return {i: w / total for i, w in enumerate(weights) if w > 0}


def check_inputs(specs: Sequence[PairSpec], options: InputOptions) -> None:
    """What can be refused before any image is loaded: blend weights and masks that do not fit
    the pairs (the data module asks at once, so no run folder is made for them)."""
    for spec in specs:
        blend_weights(spec.styles, options.style_blend_weights)
        check_video(spec, options)
    if len({is_clip(spec.content, options) for spec in specs}) > 1:
        raise ConfigError("a run of both videos and photos as content: their frames and steps differ. "
                          "Fix: run the videos and the photos separately")
    if options.content_masks is None:
        if options.style_masks is not None:
            raise ConfigError("style_masks need content_masks (which region gets each style)")
        return
    if len(specs) > 1:
        raise ConfigError(f"{len(specs)} pairs with content_masks: masks belong to one "
                          "photo. Fix: run one pair at a time with masks")
    styles = len(specs[0].styles)
    if is_auto(options.content_masks):
        if styles != 1 or options.style_masks is not None:
            raise ConfigError(f"content_masks [{options.content_masks[0]}] cuts one painting into regions; got {styles} style images"
                              f"{' and style_masks' if options.style_masks is not None else ''}. Fix: one "
                              "data.style and no style_masks, or mask files")
        return
    for name, masks in (("content_masks", options.content_masks), ("style_masks", options.style_masks)):
        if masks is not None and len(masks) != styles:
            raise ConfigError(f"{name} has {len(masks)} masks for {styles} style images; give one each")


def is_auto(content_masks) -> bool:
    """``[auto]`` or ``[subject]``: masks found, not files (``nst.inputs.automasks``)."""
    return bool(content_masks) and len(content_masks) == 1 and content_masks[0] in KINDS


def is_clip(content: str, options: InputOptions) -> bool:
    """A video file, or with ``frames_folder`` a folder or glob of frames."""
    return options.frames_folder or is_video_file(content)


def check_video(spec: PairSpec, options: InputOptions) -> None:
    """A video as a style, and frame choices that select nothing, are refused before loading."""
    for style in spec.styles:
        if is_video_file(style):
            raise ConfigError(f"style {style} is a video; a style is one painting. Fix: give an image, e.g. a frame "
                              "saved as PNG (the video goes in data.content)")
    if options.frame_stride < 1 or (options.max_frames is not None and options.max_frames < 1):
        raise ConfigError(f"frame_stride {options.frame_stride} and max_frames {options.max_frames} must be >= 1. "
                          "Fix: give positive numbers")
    if options.start_time < 0 or (options.end_time is not None and options.end_time <= options.start_time):
        raise ConfigError(f"start_time {options.start_time} and end_time {options.end_time} select no frames. "
                          "Fix: 0 <= start_time < end_time (seconds)")


def load_clip(content: str, options: InputOptions) -> Clip:
    """A video pair's frames at ``size`` (a folder of frames: every ``frame_stride``-th)."""
    def fit(image: torch.Tensor) -> torch.Tensor:
        return resize_long_side(image, options.size)

    if is_video_file(content):
        choice = ClipOptions(options.frame_stride, options.max_frames, options.start_time, options.end_time)
        return read_clip(content, fit, choice, options.max_input_pixels)
    paths = expand_images(content, "content frames")[::options.frame_stride][:options.max_frames]
    return read_frames_folder(paths, lambda p: fit(load_image(p, "content frame", options.max_input_pixels)))


def load_content(content: str, options: InputOptions) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The photo at ``size`` (transparency composited on white: what is optimised) and, with
    ``alpha: keep``, its alpha resized alike (``None`` for an opaque format or ``alpha: drop``)."""
    image, alpha = load_image_alpha(content, "content image", options.max_input_pixels)
    image = resize_long_side(image, options.size)
    if alpha is None or options.alpha == "drop":
        return image, None
    return image, resize(alpha, tuple(image.shape[-2:]))


def load_pair(content: str, styles: Sequence[str], options: InputOptions,
              content_image: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, tuple]:
    """Load and resize: content to ``size`` px on its long side (unless given: a video's first
    frame), every style image to the style long side (``style_size``, or ``size * style_scale``)."""
    long_side = options.style_long_side
    for name, value in (("size", options.size), ("style size", long_side)):
        if not (MIN_SIDE <= value <= 16384):
            raise ConfigError(f"{name}={value} is out of range; use {MIN_SIDE}..16384 pixels")
    if content_image is None:
        content_image = resize_long_side(load_image(content, "content image", options.max_input_pixels), options.size)
    style_images = tuple(resize_long_side(load_image(p, "style image", options.max_input_pixels), long_side)
                         for p in styles)
    for what, image in (("content", content_image), *(("style", s) for s in style_images)):
        if min(image.shape[-2:]) < MIN_SIDE:
            raise ImageError(
                f"the {what} image is {image.shape[-1]}x{image.shape[-2]} px at this size; VGG19 "
                f"needs at least {MIN_SIDE} px on the short side. Fix: raise `size` or crop it"
            )
    return content_image, style_images


def load_mask(path: str, size: tuple[int, int], max_input_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """A mask image as 1x1xHxW weights in [0, 1] (its luminance: white = 1), resized to ``size``."""
    image = resize(load_image(path, "mask image", max_input_pixels), size)
    return luminance(image).clamp(0, 1)


def load_masks(content: torch.Tensor, styles: Sequence[torch.Tensor], options: InputOptions):
    """(mask over the style image, mask over the content) for every style image."""
    masks = []
    for i, style in enumerate(styles):
        style_mask = (load_mask(options.style_masks[i], tuple(style.shape[-2:]), options.max_input_pixels)
                      if options.style_masks else torch.ones_like(style[:, :1]))
        content_mask = load_mask(options.content_masks[i], tuple(content.shape[-2:]), options.max_input_pixels)
        masks.append((style_mask, content_mask))
    return masks


def start_image(content: torch.Tensor, style: torch.Tensor, seed: int, options: InputOptions) -> torch.Tensor:
    """The initial image; its noise is seeded by the pair's own seed, so that it does not
    depend on how pairs are batched or sharded."""
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(seed))
    init = options.init
    if init == "content":
        return content.clone()
    if init == "style_colors":  # the photo in the painting's colours: fewer steps to the same loss
        return match_color_histogram(content, style)
    if init == "noise":
        return noise
    if init == "content+noise":
        return torch.lerp(content, noise, options.init_noise_ratio)
    if init == "style":
        return resize(style, tuple(content.shape[-2:]))
    return resize(load_image(init, "init image", options.max_input_pixels), tuple(content.shape[-2:]))


def make_pair(spec: PairSpec, index: int, options: InputOptions, folder: str = "") -> Pair:
    """Pair number ``index`` of the run, from its paths."""
    blend = blend_weights(spec.styles, options.style_blend_weights)
    clip = load_clip(spec.content, options) if is_clip(spec.content, options) else None
    photo, alpha = (clip.frame(0), None) if clip else load_content(spec.content, options)
    content, styles = load_pair(spec.content, spec.styles, options, photo)
    if options.preserve_color == "histogram":
        styles = tuple(match_color_histogram(s, content) for s in styles)
    masks = None
    if is_auto(options.content_masks):
        styles, blend, masks = auto_masks(content, styles[0], seed=options.seed, kind=options.content_masks[0])
    pair = Pair(spec.name, index, content, styles, blend, start=content, seed=options.seed + index, folder=folder,
                keep_chroma=options.preserve_color == "luminance", correct_color=options.preserve_color == "neighbour",
                clip=clip, alpha=alpha)
    if options.content_masks:
        pair.masks = masks or load_masks(content, styles, options)
    pair.start = start_image(pair.target_content, pair.target_styles[0], pair.seed, options)
    return pair


def make_pairs(specs: Sequence[PairSpec], ids: Sequence[int], options: InputOptions) -> list[Pair]:
    """The pairs ``specs[i]`` for ``i`` in ``ids`` (one device's share)."""
    check_inputs(specs, options)
    return [make_pair(specs[i], i, options, specs[i].name if len(specs) > 1 else "") for i in ids]


def pair_from_paths(content: str, style: str | Sequence[str], size: int, **options) -> Pair:
    """One pair from a photo and a painting (or a list to blend), for scripts and benchmarks."""
    from nst.inputs.pairs import collect_pairs

    return make_pairs(collect_pairs(content, style), [0], InputOptions(size=size, **options))[0]
