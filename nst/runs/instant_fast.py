"""``train.py stylize --model instant --style painting.jpg --input photo.jpg --output out.png``
without torch or Lightning: one photo through ONNX Runtime (``nst.realtime.instant.onnx_fast``) in
well under a second, where importing torch alone takes longer. It applies where the instant
network's exports are cached (the first instant picture through PyTorch writes them) and the
controls are ones it has (painting(s), blend, strength, stroke size); anywhere else it declines
and the full path paints the picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nst.errors import ConfigError
from nst.runs.stylize_args import stylize_parser


def applies(args) -> bool:
    """Options the fast path has, with values that can work (the full path words every refusal)."""
    from nst.media.decode import IMAGE_SUFFIXES

    source, blend = Path(args.input).expanduser(), args.style_blend_weights
    return (args.model == "instant" and bool(args.style) and not args.content_masks and args.weights is None
            and args.preserve_color == "none" and args.precision == "32" and args.devices == 1
            and source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES
            and (args.size is None or args.size >= 16) and 0 <= args.strength <= 1 and 0.1 <= args.style_scale <= 10
            and (blend is None or (len(blend) == len(args.style) and min(blend) >= 0 and sum(blend) > 0)))


def fast_stylize(argv: list[str]) -> int | None:
    """0 after writing the picture; ``None`` where the full path must paint it."""
    try:
        args = stylize_parser().parse_args(argv)
    except ConfigError:
        return None  # the full path says it, in its words
    from nst.realtime.instant.files import cached_exports

    exports = cached_exports()
    if not applies(args) or exports is None or output_of(args).resolve() == Path(args.input).expanduser().resolve():
        return None  # (the full path refuses to overwrite the photo, in its words)
    from nst.media.decode import load_array
    from nst.media.formats import encode, format_for, write_atomically
    from nst.realtime.instant.identity import config_of, metadata, paintings_sha256
    from nst.realtime.instant.onnx_fast import WORK_SIZE, OnnxInstant

    painter = OnnxInstant(*exports)
    paintings = [load_array(p, "painting") for p in args.style]
    photo = load_array(args.input, "photo")
    if args.size:
        from nst.media.decode import scaled_size
        from nst.realtime.instant.onnx_fast import resized

        photo = resized(photo, scaled_size(*photo.shape[:2], args.size))
    blend = np.asarray(args.style_blend_weights or [1.0] * len(paintings), dtype=np.float32)
    vector = sum(w / blend.sum() * painter.vector(p) for w, p in zip(blend, paintings))
    if args.strength < 1:
        vector = args.strength * vector + (1 - args.strength) * painter.own_vector(photo)
    picture = painter.paint(photo, vector, max(16, round(WORK_SIZE / args.style_scale)))
    target = output_of(args)
    names = [str(p) for p in args.style]
    config = config_of(names, args.strength, args.style_scale, "none", args.style_blend_weights, None)
    sha = paintings_sha256([np.ascontiguousarray(p.transpose(2, 0, 1)).tobytes() for p in paintings])
    write_atomically(target, encode(picture.transpose(2, 0, 1), format_for(target), metadata(names, sha, config)))
    print(f"nst: wrote {target}")
    return 0


def output_of(args) -> Path:
    """The picture's path: ``--output``, or a PNG named after the photo inside that folder."""
    target = Path(args.output).expanduser()
    return target / f"{Path(args.input).stem}.png" if target.is_dir() or not target.suffix else target
