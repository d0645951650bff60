"""The inputs of a run as Pair records: sizes, colour, blends, masks and start images."""

from __future__ import annotations

import pytest
import torch

from nst.media.color import (
    match_color_histogram,
    neighbour_color_correction,
    oklab_to_rgb,
    rgb_to_oklab,
    rgb_to_yiq,
    with_chroma_of,
)
from nst.errors import ConfigError
from nst.media.images import load_image, resize
from nst.inputs.pair import InputOptions, blend_weights, make_pairs
from nst.inputs.pairs import collect_pairs
from tests.conftest import ASSETS, tiny_pair


def test_blend_weights_are_normalised_and_checked():
    assert blend_weights(["a", "b"], [3, 1]) == {0: 0.75, 1: 0.25}
    assert blend_weights(["a", "b"], None) == {0: 0.5, 1: 0.5}
    assert blend_weights(["a", "b"], [1, 0]) == {0: 1.0}
    for bad in ([1], [1, -1], [0, 0], [1, float("nan")]):
        with pytest.raises(ConfigError):
            blend_weights(["a", "b"], bad)


def test_sizes_style_scale_and_style_size():
    pair = tiny_pair(size=32)
    assert pair.content.shape == (1, 3, 24, 32) and max(pair.styles[0].shape[-2:]) == 32
    assert max(tiny_pair(size=32, style_scale=2).styles[0].shape[-2:]) == 64
    assert max(tiny_pair(size=32, style_size=48, style_scale=2).styles[0].shape[-2:]) == 48  # explicit wins
    with pytest.raises(ConfigError, match="style size=0 is out of range"):
        tiny_pair(style_scale=0)


def test_luminance_mode_compares_luminance_and_gives_back_the_photos_chroma():
    pair = tiny_pair(preserve_color="luminance")
    target = pair.target_content
    assert torch.equal(target[:, 0], target[:, 1]) and torch.equal(target[:, 1], target[:, 2])
    style_y = rgb_to_yiq(pair.target_styles[0])[:, :1]
    content_y = rgb_to_yiq(pair.content)[:, :1]
    assert abs(style_y.mean() - content_y.mean()) < 0.02  # style luminance matched to the photo's
    shown = pair.finish(torch.rand_like(pair.content) * 0.2 + 0.4)
    unclipped = ((shown > 0) & (shown < 1)).all(dim=1, keepdim=True).expand(-1, 2, -1, -1)
    chroma = (rgb_to_yiq(shown)[:, 1:] - rgb_to_yiq(pair.content)[:, 1:]).abs()
    assert unclipped.float().mean() > 0.5 and chroma[unclipped].max() < 1e-5
    assert tiny_pair().finish(shown) is shown  # without colour preservation, as optimised


def test_with_chroma_of_is_exact_before_clamping():
    luma, chroma = torch.rand(1, 3, 8, 8) * 0.2 + 0.4, torch.rand(1, 3, 8, 8) * 0.2 + 0.4
    mixed = with_chroma_of(luma, chroma)
    torch.testing.assert_close(rgb_to_yiq(mixed)[:, 1:], rgb_to_yiq(chroma)[:, 1:], atol=1e-6, rtol=0)
    torch.testing.assert_close(rgb_to_yiq(mixed)[:, :1], rgb_to_yiq(luma)[:, :1], atol=1e-6, rtol=0)


def test_histogram_mode_gives_the_style_the_content_colour_statistics():
    content = load_image(ASSETS / "fruits.jpg")
    style = load_image(ASSETS / "starry_night.jpg")
    c = content[0].reshape(3, -1)
    exact = match_color_histogram(style, content, clamp=False)[0].reshape(3, -1)
    torch.testing.assert_close(exact.mean(1), c.mean(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cov(exact), torch.cov(c), atol=5e-5, rtol=0)  # eps on the diagonal
    clamped = match_color_histogram(style, content)[0].reshape(3, -1)
    assert 0 <= clamped.min() and clamped.max() <= 1
    torch.testing.assert_close(torch.cov(clamped), torch.cov(c), atol=0.01, rtol=0.15)
    pair = tiny_pair(preserve_color="histogram")
    torch.testing.assert_close(pair.styles[0][0].reshape(3, -1).mean(1), pair.content[0].reshape(3, -1).mean(1),
                               atol=0.02, rtol=0)


def test_oklab_round_trip_and_neighbour_correction_keeps_lightness_takes_the_paintings_chroma():
    image = torch.rand(1, 3, 8, 8) * 0.8 + 0.1
    torch.testing.assert_close(oklab_to_rgb(rgb_to_oklab(image)), image, atol=1e-4, rtol=0)
    content = load_image(ASSETS / "fruits.jpg")
    style = load_image(ASSETS / "starry_night.jpg")
    output = content.flip(-1)
    corrected = neighbour_color_correction(output, content, style)
    lab, painted = rgb_to_oklab(corrected)[0].flatten(1), rgb_to_oklab(style)[0].flatten(1)
    # the painting's chroma statistics (up to the clamping into its range and into RGB)
    torch.testing.assert_close(lab[1:].mean(1), painted[1:].mean(1), atol=0.01, rtol=0)
    # the lightness is the output's where nothing was clamped
    kept = (rgb_to_oklab(output)[0, 0] - rgb_to_oklab(corrected)[0, 0]).abs()
    assert kept.median() < 0.02
    pair = tiny_pair(preserve_color="neighbour")
    assert pair.correct_color and not torch.equal(pair.finish(pair.content), pair.content)


def test_style_colors_start_is_the_photo_in_the_paintings_colours():
    pair = tiny_pair(init="style_colors", size=64)
    start, content, style = (x[0].reshape(3, -1) for x in (pair.start, pair.content, pair.styles[0]))
    torch.testing.assert_close(start.mean(1), style.mean(1), atol=0.02, rtol=0)  # the painting's mean colour
    assert (start.mean(1) - content.mean(1)).abs().max() > 0.05  # which is not the photo's
    grey = [x.mean(0) - x.mean() for x in (start, content)]  # the photo's structure: pixel by pixel
    assert torch.nn.functional.cosine_similarity(grey[0], grey[1], dim=0) > 0.8


@pytest.mark.parametrize("init", ["noise", "content+noise", "style", "style_colors", str(ASSETS / "fruits.jpg")])
def test_starts(init):
    pair = tiny_pair(init=init)
    assert pair.start.shape == pair.content.shape and 0 <= pair.start.min() and pair.start.max() <= 1
    assert not torch.equal(pair.start, pair.content)
    if init == "style":
        torch.testing.assert_close(pair.start, resize(pair.styles[0], (24, 32)))
    assert torch.equal(tiny_pair(init="content").start, tiny_pair().content)


def test_noise_start_is_reproducible_from_the_seed_and_offset_per_pair():
    a, b, c = (tiny_pair(init="noise", seed=s).start for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    specs = collect_pairs(str(ASSETS / "home.jpg"), str(ASSETS / "?[rt]*.jpg"))  # fruits, starry_night
    second = make_pairs(specs, [1], InputOptions(size=32, init="noise"))[0]
    assert second.index == 1 and second.folder == "home__starry_night"
    assert torch.equal(second.start, tiny_pair(init="noise", seed=1).start)  # pair i: seed + i


def test_bad_start_and_mask_counts_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="valid: content, noise"):
        InputOptions(init="zeros")
    mask = str(ASSETS / "masks" / "building_top.png")
    with pytest.raises(ConfigError, match="one each"):
        tiny_pair(content_masks=[mask, mask])
    with pytest.raises(ConfigError, match="style_masks need content_masks"):
        tiny_pair(style_masks=[mask])
    specs = collect_pairs(str(ASSETS / "home.jpg"), str(ASSETS / "?[rt]*.jpg"))
    with pytest.raises(ConfigError, match="masks belong to one photo"):
        make_pairs(specs, [0], InputOptions(size=32, content_masks=[mask]))


def test_colour_matching_stays_on_the_images_device(monkeypatch):
    """A CUDA image must not meet a CPU identity matrix (imitated with fake CUDA tensors;
    ``torch.cov`` swapped for its formula, which fake tensors can run)."""
    from tests.helpers import fake_cuda

    monkeypatch.setattr(torch, "cov", lambda x: (x - x.mean(1, keepdim=True)) @ (x - x.mean(1, keepdim=True)).T)
    with fake_cuda():
        style, content = torch.rand(1, 3, 8, 8, device="cuda"), torch.rand(1, 3, 8, 8, device="cuda")
        assert match_color_histogram(style, content).device.type == "cuda"
