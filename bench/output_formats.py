"""Time and size of writing a 2500 px picture with each library, per output format.

    python bench/output_formats.py [--side 2500] [--rounds 3]

The picture: the bundled building photo upscaled (bicubic, float) to ``side`` px on the long
side, as is ("smooth") and with Gaussian noise of 2/255 ("textured", closer to a stylised
result's fine strokes, whose low bits do not compress). Each writer encodes into memory from
the float image (quantising included); the median of ``rounds``, interleaved. Rows marked * are the writers
``nst.media.formats`` uses.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tifffile  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from nst.media.formats import encode, quantise  # noqa: E402
from nst.media.images import load_image, resize_long_side  # noqa: E402

META = {"nst:config": "{}", "nst:config_sha256": "0" * 64}


def pillow(fmt, **kw):
    def write(image):
        buffer = io.BytesIO()
        Image.fromarray(quantise(image, None, 8)).save(buffer, format=fmt, **kw)
        return buffer.getvalue()
    return write


def opencv(ext, bits, params=()):
    def write(image):
        array = cv2.cvtColor(quantise(image, None, bits), cv2.COLOR_RGB2BGR)
        return cv2.imencode(ext, array, list(params))[1].tobytes()
    return write


def tiff(compression, **kw):
    def write(image):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, quantise(image, None, 16), photometric="rgb", compression=compression, metadata=None,
                         **kw)
        return buffer.getvalue()
    return write


def ours(fmt):
    return lambda image: encode(image, fmt, META)


WRITERS = [
    ("PNG 8-bit", "Pillow *", ours("png")), ("PNG 8-bit", "Pillow level 1", pillow("PNG", compress_level=1)),
    ("PNG 8-bit", "OpenCV", opencv(".png", 8)),
    ("PNG 16-bit", "OpenCV *", ours("png16")),
    ("TIFF 16-bit", "tifffile zlib 1 + predictor *", ours("tiff16")), ("TIFF 16-bit", "tifffile none", tiff(None)),
    ("TIFF 16-bit", "tifffile zlib 6", tiff("zlib")),
    ("TIFF 16-bit", "tifffile zlib 6 + predictor", tiff("zlib", predictor=True)),
    ("TIFF 16-bit", "OpenCV LZW", opencv(".tif", 16)),
    ("JPEG q95", "Pillow *", ours("jpeg")), ("JPEG q95", "OpenCV", opencv(".jpg", 8, (cv2.IMWRITE_JPEG_QUALITY, 95))),
    ("WebP q95", "Pillow *", ours("webp")), ("WebP q95", "OpenCV", opencv(".webp", 8, (cv2.IMWRITE_WEBP_QUALITY, 95))),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="only the rows whose format or writer contains this")
    opts = parser.parse_args()
    torch.set_num_threads(1)
    smooth = resize_long_side(load_image(Path(__file__).resolve().parent.parent / "assets" / "building.jpg"), opts.side)
    textured = (smooth + torch.randn(smooth.shape, generator=torch.Generator().manual_seed(0)) * 2 / 255).clamp(0, 1)
    print(f"picture {smooth.shape[-1]}x{smooth.shape[-2]}, median of {opts.rounds}")
    print("| format | writer | smooth: s | smooth: MB | textured: s | textured: MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = [(fmt, name, write) for fmt, name, write in WRITERS if opts.only in f"{fmt} {name}"]
    times = {(name, fmt, kind): [] for fmt, name, _ in rows for kind in (0, 1)}
    sizes = {}
    for _ in range(opts.rounds):  # interleaved: every writer once per round, so load changes hit all alike
        for fmt, name, write in rows:
            for kind, image in enumerate((smooth, textured)):
                start = time.perf_counter()
                data = write(image)
                times[name, fmt, kind].append(time.perf_counter() - start)
                sizes[name, fmt, kind] = len(data)
    for fmt, name, _ in rows:
        cells = [f"{statistics.median(times[name, fmt, k]):.2f} | {sizes[name, fmt, k] / 1e6:.1f}" for k in (0, 1)]
        print(f"| {fmt} | {name} | {cells[0]} | {cells[1]} |", flush=True)

if __name__ == "__main__":
    main()
