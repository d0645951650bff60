import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst.errors import ImageError
from nst.media.images import load_image, resize_long_side, save_image, scaled_size


def test_rgb_roundtrip_through_png(tmp_path):
    image = torch.rand(1, 3, 17, 19)
    path = save_image(image, tmp_path / "x.png", {"nst:config": {"a": 1}})
    loaded = load_image(path)
    assert loaded.shape == (1, 3, 17, 19)
    assert (loaded - image).abs().max() <= 0.5 / 255 + 1e-6
    assert Image.open(path).text["nst:config"] == '{"a": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary file left


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:8, :, 3] = 255  # top half opaque, bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    x = load_image(tmp_path / "a.png")[0]
    torch.testing.assert_close(x[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(x[:, 15, 0], torch.tensor([1.0, 1.0, 1.0]))


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16", "LA", "1"])
def test_other_modes_become_rgb(tmp_path, mode):
    base = Image.fromarray((np.arange(16 * 20).reshape(16, 20) % 256).astype(np.uint8), "L")
    if mode == "I;16":
        im = Image.fromarray((np.arange(16 * 20).reshape(16, 20) * 200).astype(np.uint16))
        suffix = "png"
    else:
        im = base.convert(mode)
        suffix = "jpg" if mode == "CMYK" else "png"
    im.save(tmp_path / f"x.{suffix}")
    x = load_image(tmp_path / f"x.{suffix}")
    assert x.shape == (1, 3, 16, 20) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    if mode == "I;16":  # 16-bit is scaled by 65535, not clipped at 255
        assert x[0, 0, -1, -1].item() == pytest.approx(319 * 200 / 65535, abs=1e-6)


def test_exif_orientation_is_honoured(tmp_path):
    im = Image.new("RGB", (32, 16), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").shape == (1, 3, 32, 16)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.mkdir(), p)[1], "directory"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
        (lambda p: (p.write_bytes(b"not an image at all"), p)[1], "cannot read"),
    ],
)
def test_bad_files_raise_image_error(tmp_path, make, match):
    path = make(tmp_path / "bad.jpg")
    with pytest.raises(ImageError, match=match):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        tmp_path / "full.jpg"
    )
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.jpg"):
        load_image(tmp_path / "cut.jpg")


def test_resize_keeps_aspect_ratio():
    assert scaled_size(600, 868, 400) == (276, 400)
    assert resize_long_side(torch.rand(1, 3, 30, 60), 20).shape == (1, 3, 10, 20)


MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "I;16", "LA", "I", "F"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=2048),
    st.tuples(st.sampled_from(MODES), st.integers(1, 40), st.integers(1, 40),
              st.sampled_from(["PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP"]), st.integers(0, 2**32 - 1)),
))
def test_loader_gives_a_valid_tensor_or_its_own_error(tmp_path, data):
    path = tmp_path / "input.img"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        mode, width, height, fmt, seed = data
        pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
        image = Image.fromarray(pixels, "RGB").convert(mode)
        try:
            image.save(path, format=fmt)
        except (OSError, ValueError, KeyError):
            return  # Pillow cannot write this mode in this format: nothing to load
    try:
        tensor = load_image(path)
    except ImageError as e:
        assert "\n" not in str(e)
        return
    assert tensor.dtype == torch.float32 and tensor.shape[:2] == (1, 3)
    assert torch.isfinite(tensor).all() and 0 <= tensor.min() and tensor.max() <= 1
