"""Banding in a smooth sky at 8 and 16 bits, side by side (docs/guide/photos-and-formats/bits_8_16.png).

    python bench/bits_8_16.py [--out docs/guide/photos-and-formats/bits_8_16.png] [--gain 12]

The sky of the bundled building photo (left of the building), smoothed (Gaussian, 3 px) and
upscaled 6x in float, as a print enlargement of a result is; written with ``save_image`` as
8-bit PNG and as 16-bit PNG (``png16``), read back, and shown as written (top) and with the
contrast raised ``gain`` times around its mean (bottom), which makes 8-bit steps visible as
bands. Prints the distinct levels per channel in each file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from torchvision.transforms.functional import gaussian_blur  # noqa: E402

from nst.media.images import load_image, resize, save_image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def read_back(path: Path) -> np.ndarray:
    """HxWx3 float in [0, 1] from an 8- or 16-bit PNG."""
    array = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    return array.astype(np.float64) / (65535.0 if array.dtype == np.uint16 else 255.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "guide" / "photos-and-formats" / "bits_8_16.png"))
    parser.add_argument("--gain", type=float, default=12.0)
    opts = parser.parse_args()
    sky = load_image(ROOT / "assets" / "building.jpg")[..., 200:320, 25:135]
    sky = gaussian_blur(sky, kernel_size=19, sigma=3.0)[..., 10:-10, 10:-10]
    sky = resize(sky, (sky.shape[-2] * 6, sky.shape[-1] * 6))[..., -300:, -300:]
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("png", "png16"):
            written = read_back(save_image(sky, Path(tmp) / f"{fmt}.png", format=fmt))
            levels = [len(np.unique(written[..., c])) for c in range(3)]
            print(f"{fmt}: distinct levels per channel (R, G, B) {levels}")
            stretched = np.clip((written - written.mean((0, 1))) * opts.gain + 0.5, 0, 1)
            tiles.append((fmt, levels, np.concatenate([written, stretched], 0)))
    pad = 36
    sheet = Image.new("RGB", (2 * 300 + 12, 600 + pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    for i, (fmt, levels, tile) in enumerate(tiles):
        x = i * 312
        sheet.paste(Image.fromarray((tile * 255 + 0.5).astype(np.uint8)), (x, pad))
        name = "8-bit PNG" if fmt == "png" else "16-bit PNG"
        draw.text((x + 4, 8), f"{name}: {min(levels)}-{max(levels)} levels/channel", fill="black", font=font)
    sheet.save(opts.out)
    print(f"sheet: {opts.out} (top: as written; bottom: contrast x{opts.gain:g} around the mean)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
