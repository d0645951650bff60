"""Artist controls: several styles blended, colour preservation, style scale."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst.cli import run
from nst.color import match_color_histogram, rgb_to_yiq, with_chroma_of
from nst.errors import ConfigError
from nst.images import load_image, resize
from nst.losses import GuidedGramLoss
from nst.model import blend_weights
from tests.conftest import ASSETS, tiny_args, tiny_overrides

STARRY, FRUITS = str(ASSETS / "starry_night.jpg"), str(ASSETS / "fruits.jpg")


def final_image(cli) -> torch.Tensor:
    return load_image(Path(cli.trainer.log_dir) / "final.png")


def test_blend_weights_are_normalised_and_checked():
    assert blend_weights(["a", "b"], [3, 1]) == {0: 0.75, 1: 0.25}
    assert blend_weights(["a", "b"], None) == {0: 0.5, 1: 0.5}
    assert blend_weights(["a", "b"], [1, 0]) == {0: 1.0}
    for bad in ([1], [1, -1], [0, 0], [1, float("nan")]):
        with pytest.raises(ConfigError):
            blend_weights(["a", "b"], bad)


def test_blend_one_zero_equals_the_single_style_run(tmp_path):
    single = run(tiny_args(tmp_path / "a", "--model.style", STARRY, steps=5))
    blend = run(tiny_args(tmp_path / "b", "--model.style", f"[{STARRY}, {FRUITS}]",
                          "--model.style_blend_weights", "[1, 0]", steps=5))
    assert torch.equal(single.model.image, blend.model.image)
    half = run(tiny_args(tmp_path / "c", "--model.style", f"[{STARRY}, {FRUITS}]", steps=5))
    assert not torch.equal(single.model.image, half.model.image)
    assert len(half.model.style_loss.losses) == 2
    assert Path(half.trainer.log_dir).parent.name == "home_starry_night+fruits"


def test_luminance_mode_keeps_the_content_chroma(tmp_path):
    cli = run(tiny_args(tmp_path, "--model.preserve_color", "luminance", "--model.init", "noise",
                        steps=5))
    out = final_image(cli)
    content = cli.model.pair.content
    assert not torch.allclose(rgb_to_yiq(out)[:, :1], rgb_to_yiq(content)[:, :1], atol=0.05)
    unclipped = ((out > 1 / 255) & (out < 254 / 255)).all(dim=1, keepdim=True)
    chroma_diff = (rgb_to_yiq(out)[:, 1:] - rgb_to_yiq(content)[:, 1:]).abs()
    assert unclipped.float().mean() > 0.5
    assert chroma_diff[unclipped.expand_as(chroma_diff)].max() < 2 / 255  # quantisation only


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


def test_histogram_mode_through_the_cli(tmp_path):
    cli = run(tiny_args(tmp_path, "--model.preserve_color", "histogram", steps=2))
    content, (style,) = cli.model.pair
    torch.testing.assert_close(style[0].reshape(3, -1).mean(1), content[0].reshape(3, -1).mean(1),
                               atol=0.02, rtol=0)


def test_style_scale_and_style_size(tmp_path):
    cli = run(tiny_args(tmp_path, "--model.style_scale", "2", steps=1, size=32))
    assert max(cli.model.pair.styles[0].shape[-2:]) == 64
    cli = run(tiny_args(tmp_path, "--model.style_size", "48", "--model.style_scale", "2", steps=1))
    assert max(cli.model.pair.styles[0].shape[-2:]) == 48  # an explicit size wins


def test_unknown_preserve_color(tmp_path):
    with pytest.raises(ConfigError, match="valid: none, luminance, histogram"):
        run(tiny_args(tmp_path, "--model.preserve_color", "sepia", steps=1))


def test_multiscale_starts_each_scale_from_the_last(tmp_path):
    result = run(tiny_args(tmp_path, "--scales", "[32, 48]", "--steps_per_scale", "[4, 2]"))
    group = tmp_path / "outputs" / "home_starry_night" / "multiscale_0"
    assert result == group / "final.png"
    small, large = group / "scale_32" / "version_0", group / "scale_48" / "version_0"
    start = load_image(large / "step_00000.png")
    assert start.shape[-2:] == (36, 48)
    upsampled = resize(load_image(small / "final.png"), (36, 48))
    assert (start - upsampled).abs().max() <= 1.5 / 255  # the last scale's result, upsampled
    for folder, steps in ((small, 4), (large, 2)):
        ckpt = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == steps
    assert torch.equal(load_image(group / "final.png"), load_image(large / "final.png"))


def test_bad_scales(tmp_path):
    with pytest.raises(ConfigError, match="increasing"):
        run(tiny_args(tmp_path, "--scales", "[64, 32]"))
    with pytest.raises(ConfigError, match="one positive step count per scale"):
        run(tiny_args(tmp_path, "--scales", "[32, 64]", "--steps_per_scale", "[3]"))


def half_masks(folder: Path, width: int = 64, height: int = 48) -> tuple[str, str]:
    left = np.zeros((height, width), np.uint8)
    left[:, : width // 2] = 255
    Image.fromarray(left, "L").save(folder / "left.png")
    Image.fromarray(255 - left, "L").save(folder / "right.png")
    return str(folder / "left.png"), str(folder / "right.png")


def test_guided_gram_has_no_gradient_outside_the_mask():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    loss = GuidedGramLoss(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8), mask)
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    loss(x).backward()
    assert x.grad[..., 4:].abs().max() == 0 and x.grad[..., :4].abs().max() > 0


def test_mask_regions_take_their_own_style(tmp_path):
    left, right = half_masks(tmp_path)
    cli = run(tiny_args(tmp_path, "--model.style", f"[{STARRY}, {FRUITS}]",
                        "--model.content_masks", f"[{left}, {right}]", "--model.init", "noise",
                        "--model.content_weight", "0", steps=40, size=64))
    model = cli.model
    out = model.image.detach()
    features = model.vgg(out)
    for region, (own, other) in ((0, (0, 1)), (1, (1, 0))):
        _, content_mask = model.masks[region]
        distance = {}
        for s in (own, other):
            style_mask, _ = model.masks[s]
            target = model.vgg(model.pair.styles[s])
            loss = GuidedGramLoss(target["relu2_1"], style_mask, content_mask)
            distance[s] = loss(features["relu2_1"]).item()
        assert distance[own] < distance[other], (region, distance)


def test_masks_need_one_per_style_and_gram(tmp_path):
    left, right = half_masks(tmp_path)
    with pytest.raises(ConfigError, match="one each"):
        run(tiny_args(tmp_path, "--model.content_masks", f"[{left}, {right}]", steps=1))
    with pytest.raises(ConfigError, match="style_loss: gram"):
        run(tiny_args(tmp_path, "--model.content_masks", f"[{left}]",
                      "--model.style_loss", "mean_std", steps=1))


def test_strength_reference_keeps_the_balance_of_the_reference_size(tmp_path):
    """The weighted style/content gradient ratio at 64 px matches the one at 32 px."""
    def weighted_ratio(cli):
        model = cli.model
        return model.style_weights[0] / model.content_weight * model.balance_ratio(None)

    small = run(tiny_args(tmp_path / "a", steps=1, size=32))
    raw = run(tiny_args(tmp_path / "b", steps=1, size=96))
    calibrated = run(tiny_args(tmp_path / "c", "--model.strength_reference_size", "32", steps=1, size=96))
    reference = weighted_ratio(small)
    assert abs(weighted_ratio(calibrated) / reference - 1) < 0.05
    assert abs(weighted_ratio(raw) / reference - 1) > 0.05  # without it the balance drifts
    assert calibrated.model.style_weights != raw.model.style_weights


@pytest.mark.parametrize("config", sorted(p.name for p in (ASSETS.parent / "configs").glob("*.yaml")))
def test_every_shipped_config_runs(tmp_path, config):
    """Each example config runs end to end (tiny size, random network, a few steps)."""
    extra = ["--scales", "[32, 48]", "--steps_per_scale", "[2, 2]"] if config == "multiscale.yaml" else []
    result = run(["--config", str(ASSETS.parent / "configs" / config),
                  *tiny_overrides(tmp_path, "--model.strength_reference_size", "null", *extra, steps=2)])
    if isinstance(result, Path):
        finals = [result]
    else:
        run_dir = Path(result.trainer.log_dir)
        finals = [run_dir / n / "final.png" for n in result.model.names] if result.model.several_pairs \
            else [run_dir / "final.png"]
    assert finals and all(final.is_file() for final in finals)
