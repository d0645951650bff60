"""Tiling (``model.tile_size``): the cores partition the image on the pooling grid, the default
halo gives the untiled features, the style statistics are the whole image's (losses and
gradients equal the untiled ones), a tiled run leaves no seams, resumes, and refuses the losses
it cannot tile. Random weights on purpose (see conftest): the receptive fields, and so the
halo's effect, are the same as with trained weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nst.runs.cli import run
from nst.errors import ConfigError
from nst.objective.network.features import VGGFeatures
from nst.objective.losses import GramLoss, MeanStdLoss, Wasserstein2Loss, pixel_gram
from nst.objective.losses.guides import resize_guide
from nst.objective.losses.moments import Moments
from nst.inputs.memory import auto_tile
from nst.objective.style_objective import (
    GATYS_STYLE_LAYERS,
    LossDefinition,
    LossWeights,
    StyleObjective,
)
from nst.objective.tiles import ALIGN, DEFAULT_HALO, Tiling, seam_ratio
from tests.conftest import tiny_args, tiny_pair

LAYERS = [*GATYS_STYLE_LAYERS, "relu4_2"]
# the first three blocks: exact with a 16 px halo, and cheap (for the tests that only need some layers)
SHALLOW = ["--model.style_layers", "[relu1_1, relu2_1, relu3_1]", "--model.content_layers", "[relu3_1]",
           "--model.tile_halo", "16", "--eval_metrics.enabled", "false"]


@pytest.mark.parametrize("cls", [GramLoss, MeanStdLoss, Wasserstein2Loss])
@pytest.mark.parametrize("guided", [False, True])
def test_moments_of_parts_add_up_to_the_whole_images_loss(cls, guided):
    torch.manual_seed(0)
    features, target = torch.rand(1, 8, 12, 10), torch.rand(1, 8, 9, 11)
    guide, target_guide = torch.rand(1, 1, 12, 10), torch.rand(1, 1, 9, 11)
    options = {"target_guide": target_guide, "input_guide": guide} if guided else {}
    loss = cls(target, **options)
    weight = resize_guide(guide, features).pow(2) if guided else None
    parts = [Moments.of(features[..., :5, :], None if weight is None else weight[..., :5, :]),
             Moments.of(features[..., 5:, :], None if weight is None else weight[..., 5:, :])]
    target_moments = Moments.of(target, resize_guide(target_guide, target).pow(2) if guided else None)
    from_moments = cls(target_moments, **({"input_guide": guide} if guided else {}))
    expected = loss(features)
    torch.testing.assert_close(loss.from_moments(parts[0] + parts[1]), expected, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(from_moments.from_moments(parts[0] + parts[1]), expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("step", [None, 0, 1, 7])
def test_tile_cores_partition_the_image_on_the_pooling_grid(step):
    tiling = Tiling(None, 48, halo=20)  # both rounded up to the 16 px grid
    assert (tiling.tile, tiling.halo) == (48, 32)
    h, w = 100, 130
    tiles = tiling.grid((h, w), step)
    covered = torch.zeros(h, w, dtype=torch.int)
    for tile in tiles:
        y0, y1, x0, x1 = tile.core
        covered[y0:y1, x0:x1] += 1
        assert all(v % ALIGN == 0 or v in (h, w) for v in (*tile.core, *tile.box))
        by0, by1, bx0, bx1 = tile.box
        assert by0 == max(0, y0 - 32) and by1 == min(h, y1 + 32) and bx0 == max(0, x0 - 32) and bx1 == min(w, x1 + 32)
    assert bool((covered == 1).all())
    if step is not None:  # the grid moves with the step, and is the same whenever that step is run
        assert tiles == tiling.grid((h, w), step)
    offsets = {tiling.grid((h, w), s)[0].core[1] for s in range(8)}
    assert len(offsets) > 1


def test_default_halo_gives_the_untiled_features(random_weights):
    vgg = VGGFeatures(random_weights, LAYERS)
    image = torch.rand(1, 3, 112, 144, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = vgg(image)
    tiled = Tiling(vgg, 64, DEFAULT_HALO).features(image, LAYERS)
    narrow = Tiling(vgg, 64, 32).features(image, LAYERS)
    for layer in LAYERS:
        # equal up to float rounding: oneDNN picks its NHWC kernels by the input's size
        torch.testing.assert_close(tiled[layer], whole[layer], rtol=1e-5, atol=1e-5 * whole[layer].abs().max().item())
    assert (narrow["relu5_1"] - whole["relu5_1"]).abs().max() > 1e-3 * whole["relu5_1"].abs().max()


def objectives(random_weights, style_loss: str, tile: int, halo: int, layers=None, **pair_options):
    definition = LossDefinition.from_config(style_loss=style_loss, style_layers=layers)
    vgg = VGGFeatures(random_weights, definition.layers)
    pair = tiny_pair(size=64, **pair_options)
    weights = LossWeights(1.0, 1e4, 10.0)
    build = dict(blend=pair.blend, masks=pair.masks, seed=pair.seed)
    plain = StyleObjective.build(vgg, definition, pair.content, pair.styles, weights, **build)
    tiled = StyleObjective.build(vgg, definition, pair.content, pair.styles, weights, **build,
                                 tiling=Tiling(vgg, tile, halo))
    return plain, tiled, pair


@pytest.mark.parametrize("style_loss", ["gram", "mean_std", "wasserstein2"])
def test_tiled_losses_and_gradient_equal_the_untiled(random_weights, style_loss):
    """A halo as large as the image makes each tile's features exact: the moments of the cores
    then add up to the whole image's, and the two-pass gradient is the untiled one."""
    layers = None if style_loss == "gram" else ["relu1_1", "relu2_1", "relu3_1"]  # eigh at 512 channels is slow
    plain, tiled, pair = objectives(random_weights, style_loss, tile=16, halo=64, layers=layers)
    tiled.resample(3)
    image = torch.rand_like(pair.content).requires_grad_(True)
    expected, got = plain(image), tiled(image)
    for key in ("content", "style", "tv", "total"):
        torch.testing.assert_close(got[key], expected[key], rtol=2e-5 if style_loss != "wasserstein2" else 1e-4,
                                   atol=1e-8)
    (g_plain,) = torch.autograd.grad(expected["total"], image)
    (g_tiled,) = torch.autograd.grad(got["total"], image)
    torch.testing.assert_close(g_tiled, g_plain, rtol=0, atol=2e-3 * g_plain.abs().max().item())
    if style_loss == "gram":  # the global Gram matrix of the tiles is the untiled one
        with torch.no_grad():
            whole = plain.vgg(image)
        moments = tiled.tiled.tiling.moments(image.detach(), GATYS_STYLE_LAYERS)
        for layer in GATYS_STYLE_LAYERS:
            torch.testing.assert_close(moments[layer].gram(), pixel_gram(whole[layer]), rtol=1e-5, atol=1e-8)


def test_guided_tiled_style_equals_the_untiled(random_weights, tmp_path):
    mask = np.zeros((48, 64), np.uint8)
    mask[:, :30] = 255
    Image.fromarray(mask).save(tmp_path / "left.png")
    options = {"content_masks": [str(tmp_path / "left.png")], "style_masks": [str(tmp_path / "left.png")]}
    plain, tiled, pair = objectives(random_weights, "gram", tile=16, halo=32, layers=["relu1_1", "relu2_1"],
                                    **options)
    image = torch.rand_like(pair.content).requires_grad_(True)
    expected, got = plain(image)["style"], tiled(image)["style"]
    torch.testing.assert_close(got, expected, rtol=2e-5, atol=1e-10)
    (g_plain,) = torch.autograd.grad(expected, image)
    (g_tiled,) = torch.autograd.grad(got, image)
    torch.testing.assert_close(g_tiled, g_plain, rtol=0, atol=2e-3 * g_plain.abs().max().item())


def test_tiled_gradient_under_bf16_follows_the_fp32_one(random_weights):
    _, tiled, pair = objectives(random_weights, "gram", tile=32, halo=DEFAULT_HALO)
    image = pair.content.clone().requires_grad_(True)
    (fp32,) = torch.autograd.grad(tiled(image)["total"], image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total = tiled(image)["total"]
    (bf16,) = torch.autograd.grad(total, image)
    assert torch.isfinite(bf16).all()
    assert torch.nn.functional.cosine_similarity(bf16.flatten(), fp32.flatten(), dim=0) > 0.99


def final(cli) -> np.ndarray:
    return np.asarray(Image.open(f"{cli.trainer.log_dir}/final.png")).astype(float)


def test_a_tiled_run_matches_the_untiled_run_without_seams(tmp_path):
    """Same start, same steps: the tiled result is the untiled one (to 2/255), and the change
    it made to the start has no more contrast across tile edges than elsewhere (5%)."""
    common = ["--data.init", "content+noise", "--model.tv_weight", "0", *SHALLOW]
    plain = run(tiny_args(tmp_path / "plain", *common, steps=4, size=96))
    tiled = run(tiny_args(tmp_path / "tiled", *common, "--model.tile_size", "32", steps=4, size=96))
    assert tiled.model.pairs[0].objective.tiles(tiled.model.images[0])
    a, b = final(plain), final(tiled)
    assert np.abs(a - b).max() <= 2 and np.abs(a - b).mean() < 0.05
    start = tiled.model.pairs[0].start[0].permute(1, 2, 0).numpy() * 255
    assert abs(seam_ratio(b - start) - 1) < 0.05


def test_the_seam_measure_sees_a_seam():
    update = np.random.default_rng(0).normal(scale=0.1, size=(96, 96, 3))
    assert abs(seam_ratio(update) - 1) < 0.05
    update[:, 32:] += 0.5  # one step across a tile edge (between columns 31 and 32)
    assert seam_ratio(update) > 1.05


def test_a_tiled_run_resumes_where_it_stopped(tmp_path):
    args = ["--model.tile_size", "32", *SHALLOW, "--model.lr_schedule", "constant"]  # anneal follows max_steps
    straight = run(tiny_args(tmp_path, *args, "--run_name", "straight", steps=4, size=64))
    run(tiny_args(tmp_path, *args, "--run_name", "resumed", steps=2, size=64))
    resumed = run(tiny_args(tmp_path, *args, "--run_name", "resumed", "--ckpt_path", "last", steps=4, size=64))
    assert resumed.trainer.global_step == 4
    assert np.abs(final(straight) - final(resumed)).max() <= 1


def test_losses_that_need_every_pixel_at_once_refuse_tiles(tmp_path):
    with pytest.raises(ConfigError, match="style_loss 'sliced_wasserstein' cannot be tiled"):
        run(tiny_args(tmp_path, "--model.tile_size", "32", "--model.style_loss", "sliced_wasserstein",
                      steps=1, size=64))


def test_auto_tile_follows_free_memory(monkeypatch):
    import nst.inputs.memory

    monkeypatch.setattr(nst.inputs.memory, "free_memory", lambda device: 8 << 30)
    large = auto_tile(1_000_000, "cpu", "32-true", False, DEFAULT_HALO)
    monkeypatch.setattr(nst.inputs.memory, "free_memory", lambda device: 3 << 30)
    small = auto_tile(1_000_000, "cpu", "32-true", False, DEFAULT_HALO)
    assert large % 16 == 0 and small % 16 == 0 and 64 <= small < large
    monkeypatch.setattr(nst.inputs.memory, "free_memory", lambda device: 1 << 30)
    with pytest.raises(ConfigError, match="no room for a 64 px tile"):
        auto_tile(1_000_000, "cpu", "32-true", False, DEFAULT_HALO)


def test_size_auto_with_tiles_is_limited_by_the_whole_image_buffers_only(monkeypatch):
    import nst.inputs.memory

    monkeypatch.setattr(nst.inputs.memory, "free_memory", lambda device: 8 << 30)
    untiled, _ = nst.inputs.memory.auto_size((3000, 4000), 1, "cpu", "32-true", False)
    tiled, why = nst.inputs.memory.auto_size((3000, 4000), 1, "cpu", "32-true", False, tiled=True)
    assert untiled < 2000 and tiled == 4000 and "tiled" in why


def test_the_tiled_backward_asks_the_device_nothing(random_weights, monkeypatch):
    """``.any()`` of the incoming gradients in the tile loop was a host sync per tile on a GPU:
    the backward pass reads no tensor's value on the host (``bool``, ``item``)."""
    plain, tiled, pair = objectives(random_weights, "gram", tile=32, halo=64, layers=["relu1_1", "relu2_1"])
    image = torch.rand_like(pair.content).requires_grad_(True)
    total = tiled(image)["total"]
    (expected,) = torch.autograd.grad(plain(image)["total"], image)

    def host_sync(*args):
        raise AssertionError("a host sync in the tiled backward pass")

    monkeypatch.setattr(torch.Tensor, "__bool__", host_sync)
    monkeypatch.setattr(torch.Tensor, "item", host_sync)
    (got,) = torch.autograd.grad(total, image)
    monkeypatch.undo()
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-3 * expected.abs().max().item())


def test_a_tiled_video_frame_has_its_own_content_target_and_its_temporal_term(random_weights):
    """A video's later frame retargets the content term and adds the temporal one: tiled, the
    terms (and the gradient) are the untiled frame's, not frame 0's content without temporal."""
    from dataclasses import replace

    from nst.objective.losses import TemporalLoss

    layers = ["relu1_1", "relu2_1"]
    plain, tiled, pair = objectives(random_weights, "gram", tile=32, halo=64, layers=layers)
    definition = LossDefinition.from_config(style_loss="gram", style_layers=layers)
    torch.manual_seed(0)
    frame, carried = torch.rand_like(pair.content), torch.rand_like(pair.content)
    mask = (torch.rand_like(pair.content[:, :1]) > 0.3).float()
    for objective in (plain, tiled):
        objective.retarget(definition, frame, pair.seed)
        objective.temporal = TemporalLoss(carried, mask)
        objective.weights = replace(objective.weights, temporal=1e2)
    image = torch.rand_like(pair.content).requires_grad_(True)
    expected, got = plain(image), tiled(image)
    for key in ("content", "temporal", "total"):
        torch.testing.assert_close(got[key], expected[key], rtol=2e-5, atol=1e-8)
    (g_plain,) = torch.autograd.grad(expected["total"], image)
    (g_tiled,) = torch.autograd.grad(got["total"], image)
    torch.testing.assert_close(g_tiled, g_plain, rtol=0, atol=2e-3 * g_plain.abs().max().item())
