"""Photos in, prints out: colour profiles, phone formats, transparency, output formats."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageCms

import train
from nst.errors import ImageError, OutputError
from nst.media.formats import encode, read_metadata
from nst.media.icc import SRGB_ICC
from nst.media.images import load_image, load_image_alpha, resize, save_image
from tests.conftest import ASSETS, tiny_overrides
from tests.test_cli import one_line_error

ADOBE_RGB = ASSETS.parent / "tests" / "data" / "compatibleWithAdobeRGB1998.icc"  # Debian's icc-profiles-free
METADATA = {"nst:config": json.dumps({"size": 32}), "nst:config_sha256": "ab" * 32}


def is_srgb(icc: bytes | None) -> bool:
    return bool(icc) and "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))


def adobe_rgb_fruits(path):
    """assets/fruits.jpg converted to Adobe RGB and saved (lossless) with that profile."""
    adobe = ImageCms.ImageCmsProfile(str(ADOBE_RGB))
    photo = Image.open(ASSETS / "fruits.jpg")
    converted = ImageCms.profileToProfile(photo, ImageCms.createProfile("sRGB"), adobe, outputMode="RGB",
                                          renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    converted.save(path, icc_profile=adobe.tobytes())
    return path


def test_an_adobe_rgb_photo_loads_as_its_srgb_original(tmp_path):
    original = load_image(ASSETS / "fruits.jpg")
    loaded = load_image(adobe_rgb_fruits(tmp_path / "adobe.png"))
    assert (loaded - original).abs().mul(255).mean() < 1  # measured 0.18; read as sRGB it is 6.3
    untagged = tmp_path / "untagged.png"
    values = Image.open(tmp_path / "adobe.png")
    values.info.pop("icc_profile")
    values.save(untagged)  # the same values without their profile: read as sRGB
    assert (load_image(untagged) - original).abs().mul(255).mean() > 4  # the test can fail


def test_a_broken_or_mismatched_icc_profile_is_one_line(tmp_path):
    photo = Image.open(ASSETS / "fruits.jpg")
    photo.save(tmp_path / "broken.jpg", icc_profile=b"not a profile" * 20)
    photo.convert("L").save(tmp_path / "gray.png", icc_profile=SRGB_ICC)  # an RGB profile on a gray image
    for name in ("broken.jpg", "gray.png"):
        with pytest.raises(ImageError) as e:
            load_image(tmp_path / name)
        message = str(e.value)
        assert "\n" not in message and "ICC" in message and "Fix:" in message and name in message


def test_a_truncated_heic_and_an_unreadable_file_are_one_line_listing_the_formats(tmp_path):
    Image.open(ASSETS / "fruits.jpg").save(tmp_path / "full.heic")
    data = (tmp_path / "full.heic").read_bytes()
    (tmp_path / "cut.heic").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.png").write_text("not an image")
    for name in ("cut.heic", "text.png"):
        with pytest.raises(ImageError) as e:
            load_image(tmp_path / name)
        message = str(e.value)
        assert "\n" not in message and name in message and all(f in message for f in ("HEIC", "AVIF", "WebP"))


def test_alpha_is_read_from_rgba_la_and_palette_photos(tmp_path):
    rgba = np.zeros((24, 32, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, 16:, 3] = 255  # right half opaque
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(rgba[..., [0, 3]]).save(tmp_path / "la.png")
    palette = Image.fromarray(rgba[..., 3]).convert("P")
    palette.save(tmp_path / "p.png", transparency=0)
    for name in ("rgba.png", "la.png", "p.png"):
        image, alpha = load_image_alpha(tmp_path / name)
        assert alpha.shape == (1, 1, 24, 32) and alpha[..., :16].max() == 0 and alpha[..., 16:].min() == 1
        assert torch.allclose(image[..., :16], torch.ones(1, 3, 24, 16))  # composited on white
    assert load_image_alpha(ASSETS / "home.jpg")[1] is None


@pytest.mark.parametrize("fmt", ["png", "png16", "tiff16", "jpeg", "webp"])
def test_every_format_is_tagged_srgb_and_carries_the_config(tmp_path, fmt):
    image = resize(load_image(ASSETS / "fruits.jpg"), (60, 64))
    path = save_image(image, tmp_path / "x.out", METADATA, format=fmt)
    with Image.open(path) as im:
        assert is_srgb(im.info.get("icc_profile")) and im.size == (64, 60)
    assert read_metadata(path) == METADATA
    if fmt in ("jpeg", "webp"):  # lossy: the quality says how much
        small = encode(image, fmt, METADATA, quality=20)
        assert len(small) < len(encode(image, fmt, METADATA, quality=95))
        assert np.abs(np.asarray(Image.open(path), float) / 255 - image[0].permute(1, 2, 0).numpy()).mean() < 0.02


def read16(path):
    """A 16-bit output as HxWxC uint16 RGB(A)."""
    if path.suffix == ".tif":
        return tifffile.imread(path)
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[-1] == 4 else cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_outputs_hold_more_than_256_levels_from_the_float_image(tmp_path, suffix):
    ramp = torch.linspace(0, 1, 2000).expand(1, 3, 8, 2000).contiguous()  # a smooth sky
    path = save_image(ramp, tmp_path / f"ramp{suffix}", METADATA, format="png16" if suffix == ".png" else None)
    array = read16(path)
    assert array.dtype == np.uint16 and array.shape == (8, 2000, 3)
    assert all(len(np.unique(array[..., c])) > 256 for c in range(3))  # 2000 levels, not 256
    assert np.abs(array / 65535.0 - ramp[0].permute(1, 2, 0).numpy()).max() <= 0.5 / 65535 + 1e-7
    assert read_metadata(path) == METADATA


def test_an_unknown_output_format_is_one_line(tmp_path, capsys):
    with pytest.raises(OutputError) as e:
        save_image(torch.rand(1, 3, 16, 16), tmp_path / "x.bmp")
    assert "\n" not in str(e.value) and "bmp" in str(e.value) and "tiff16" in str(e.value)
    args = ["--data.content", str(ASSETS / "home.jpg"), "--data.style", str(ASSETS / "starry_night.jpg"),
            *tiny_overrides(tmp_path, "--image_saver.format", "gif", steps=1)]
    assert train.main(args) == 2
    line = one_line_error(capsys)
    assert "image_saver.format" in line and "gif" in line and "tiff16" in line
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.png"))


def test_phone_formats_run_end_to_end_into_a_16_bit_tiff(tmp_path):
    """HEIC content, AVIF style, WebP start image (files made here with the libraries)."""
    Image.open(ASSETS / "home.jpg").save(tmp_path / "home.heic", quality=90)
    Image.open(ASSETS / "starry_night.jpg").save(tmp_path / "starry.avif", quality=90)
    Image.open(ASSETS / "home.jpg").save(tmp_path / "start.webp", quality=90)
    for name, reference in (("home.heic", "home.jpg"), ("starry.avif", "starry_night.jpg"), ("start.webp", "home.jpg")):
        assert (load_image(tmp_path / name) - load_image(ASSETS / reference)).abs().mean() < 0.03
    args = ["--data.content", str(tmp_path / "home.heic"), "--data.style", str(tmp_path / "starry.avif"),
            "--data.init", str(tmp_path / "start.webp"),
            *tiny_overrides(tmp_path, "--image_saver.format", "tiff16", "--run_name", "phone", steps=2)]
    assert train.main(args) == 0
    final = tmp_path / "outputs" / "phone" / "version_0" / "final.tif"
    assert read16(final).shape == (24, 32, 3) and read16(final).dtype == np.uint16
    assert json.loads(read_metadata(final)["nst:config"])["content"].endswith("home.heic")
    with Image.open(final) as im:
        assert is_srgb(im.info.get("icc_profile"))


def test_an_rgba_photo_gives_a_result_with_its_alpha(tmp_path):
    rgba = np.array(Image.open(ASSETS / "home.jpg").convert("RGBA"))
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    rgba[..., 3] = np.clip(255 * (1.2 - np.hypot((yy - h / 2) / h, (xx - w / 2) / w) * 3), 0, 255)  # a soft disc
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    expected = load_image_alpha(tmp_path / "cutout.png")[1]
    expected = torch.nn.functional.interpolate(expected, size=(24, 32), mode="bicubic", antialias=True).clamp(0, 1)
    runs = {}
    for alpha in ("keep", "drop"):
        args = ["--data.content", str(tmp_path / "cutout.png"), "--data.style", str(ASSETS / "starry_night.jpg"),
                *tiny_overrides(tmp_path, "--data.alpha", alpha, "--image_saver.format", "png16",
                                "--run_name", alpha, steps=2)]
        assert train.main(args) == 0
        runs[alpha] = read16(tmp_path / "outputs" / alpha / "version_0" / "final.png")
    kept = runs["keep"]
    assert kept.shape == (24, 32, 4) and runs["drop"].shape == (24, 32, 3)
    assert np.abs(kept[..., 3] / 65535.0 - expected[0, 0].numpy()).max() < 1e-4  # the photo's alpha, resized
    assert kept[..., 3].min() == 0 and kept[..., 3].max() == 65535
    assert np.array_equal(kept[..., :3], runs["drop"])  # the optimisation is the same, on the composite
