"""Coarse to fine in one run: stage sizes and steps, Adam's moments and the moving average
carried across stages, a resume inside a coarse stage (random VGG weights on purpose)."""

import numpy as np
import pytest
import torch
from PIL import Image

from nst.runs.cli import run
from nst.errors import ConfigError, OutputError
from nst.objective.losses.normalize import GradientNormalizer
from nst.model.schedule import (
    ImageEMA,
    plan_stages,
    resize_adam_state,
    size_at,
    split_steps,
    stage_sizes,
)
from tests.conftest import tiny_args


def test_stages_follow_the_final_size_and_split_the_steps():
    assert stage_sizes(400) == [141, 200, 283, 400]
    assert stage_sizes(192) == [136, 192]
    assert stage_sizes(128) == [128]
    assert split_steps(100, [141, 200, 283, 400], 0.2) == [27, 27, 26, 20]
    plan = plan_stages("auto", 400, 100, 0.2)
    assert plan == [(141, 27), (200, 54), (283, 80), (400, 100)]
    assert [size_at(plan, s) for s in (0, 26, 27, 79, 80, 99, 150)] == [141, 141, 200, 283, 400, 400, 400]
    assert plan_stages(None, 400, 100, 0.2) == [(400, 100)]
    assert plan_stages([200, 400], 400, 10, 0.5) == [(200, 5), (400, 10)]


@pytest.mark.parametrize("stages, steps, match", [
    ([200, 300], 10, "must end at the run's size"),
    ([300, 200, 400], 10, "must be increasing"),
    ([8, 200, 400], 10, ">= 16 px"),
    ([100, 200, 400], 2, ">= 1 step each"),
    ("auto", -1, "trainer.max_steps"),
])
def test_bad_stages_are_refused_in_one_line(stages, steps, match):
    with pytest.raises(ConfigError, match=match):
        plan_stages(stages, 400, steps, 0.2)


def test_adam_moments_are_resized_so_that_the_step_size_is_kept():
    state = {"step": torch.tensor(5.0), "exp_avg": torch.full((1, 3, 8, 8), 0.4),
             "exp_avg_sq": torch.full((1, 3, 8, 8), 0.4**2)}
    resize_adam_state(state, (16, 16))
    assert state["exp_avg"].shape == (1, 3, 16, 16)
    # a pixel's gradient is 4x smaller with 4x the pixels; m / sqrt(v) stays the same
    torch.testing.assert_close(state["exp_avg"], torch.full((1, 3, 16, 16), 0.1))
    torch.testing.assert_close(state["exp_avg"] / state["exp_avg_sq"].sqrt(), torch.ones(1, 3, 16, 16))


def test_the_moving_average_is_bias_corrected():
    image = torch.rand(1, 3, 4, 4)
    ema = ImageEMA(image, 0.99)
    ema.update(image)
    torch.testing.assert_close(ema.get(), image)  # one update: the image itself, not 1% of it
    ema.update(torch.zeros_like(image))
    torch.testing.assert_close(ema.get(), image * 0.99 / (1 + 0.99))


def test_normalized_gradients_keep_the_first_backward_norm():
    normalizer = GradientNormalizer()
    x = torch.ones(5, requires_grad=True)
    (normalizer(x) * torch.arange(5.0)).sum().backward()
    torch.testing.assert_close(x.grad, torch.arange(5.0))  # the first pass sets the scale
    x.grad = None
    (normalizer(x) * 3 * torch.arange(5.0)).sum().backward()
    torch.testing.assert_close(x.grad.abs().sum(), torch.tensor(10.0))  # 3x the gradient, same L1 norm


def png(path):
    return np.asarray(Image.open(path), dtype=np.float32) / 255


def test_a_coarse_to_fine_run_grows_its_image_and_resumes_inside_a_coarse_stage(tmp_path):
    """Stages [32, 48] over 8 steps (6 + 2): the step images show the stage sizes; an error at
    step 4 and resuming from step 3's checkpoint with --ckpt_path last gives the picture of 8 straight steps, moving
    average included."""
    extra = ["--model.stages", "[32, 48]", "--model.final_stage_share", "0.25", "--model.ema_decay", "0.9",
             "--image_saver.every_n_steps", "3", "--trainer.deterministic", "true"]
    straight = run(tiny_args(tmp_path / "a", *extra, steps=8, size=48))
    out = tmp_path / "a" / "outputs" / "home_starry_night" / "version_0"
    assert png(out / "step_00000.png").shape[:2] == (36, 48)  # the start, at the run's size
    assert png(out / "step_00006.png").shape[:2] == (24, 32)  # the end of the first stage
    assert png(out / "final.png").shape[:2] == (36, 48)
    assert straight.model.stage_size == 48
    config = tmp_path / "fail.yaml"  # an error after step 4, then a resume from step 3's checkpoint
    config.write_text("trainer:\n  callbacks:\n    - class_path: tests.helpers.FailOnRank\n"
                      "      init_args: {rank: 0, at_step: 4}\n")
    with pytest.raises(OutputError):
        run(["--config", str(config), *tiny_args(tmp_path / "b", *extra, "--checkpoint.every_n_train_steps", "3",
                                                 "--run_name", "home_starry_night", steps=8, size=48)])
    resumed = run(tiny_args(tmp_path / "b", *extra, "--ckpt_path", "last", steps=8, size=48))
    assert resumed.trainer.global_step == 8
    again = tmp_path / "b" / "outputs" / "home_starry_night" / "version_0" / "final.png"  # resumed in place
    np.testing.assert_allclose(png(again), png(out / "final.png"), atol=2 / 255)


def test_the_reference_balance_is_measured_once_per_pair_across_stages(tmp_path, monkeypatch):
    """Three stages keeping the balance of 64 px: one pass at 64 px, one at each stage's size."""
    import nst.model.strength

    sizes, real = [], nst.model.strength.balance
    monkeypatch.setattr(nst.model.strength, "balance",
                        lambda objective, content, seed: sizes.append(max(content.shape[-2:])) or
                        real(objective, content, seed))
    run(tiny_args(tmp_path, "--model.stages", "[24, 32, 48]", "--model.strength_reference_size", "64", steps=6, size=48))
    assert sizes == [64, 24, 32, 48]


def test_a_restored_moving_average_follows_the_image_to_its_device():
    """Lightning loads checkpoints to the CPU: the average must come back onto the image's
    device and dtype (a fake CUDA device on this machine), and a later stage's resize must
    leave the image parameter where it is."""
    from nst.model.schedule import resize_images, start_averages
    from tests.helpers import fake_cuda

    with fake_cuda():
        image = torch.nn.Parameter(torch.rand(1, 3, 8, 8, device="cuda"))
        saved = {"average": torch.rand(1, 3, 8, 8, dtype=torch.float64), "count": 3, "decay": 0.9}
        (average,) = start_averages([image], 0.9, [saved])
        assert average.average.device == image.device and average.average.dtype == torch.float32
        average.update(image)  # lerp_ across devices raised here
        stale = ImageEMA(image, 0.9)
        stale.average, stale.count = torch.rand(1, 3, 8, 8), 1  # an average left on the CPU
        resize_images([image], [(16, 16)], [stale.get()], None)
        assert image.device.type == "cuda" and image.shape == (1, 3, 16, 16)


def test_normalized_fp16_gradients_scaled_by_gradscaler_stay_finite_and_unscaled():
    """Under 16-mixed GradScaler multiplies the loss by 65536: an fp16 sum of such a gradient
    overflows to inf (and every later step would be skipped). The normaliser sums in float32
    and keeps the unscaled first norm, so a later change of the loss scale changes nothing."""
    normalizer = GradientNormalizer()
    scale = torch.tensor(65536.0)
    normalizer.loss_scale = lambda: scale
    x = torch.ones(4096, dtype=torch.float16, requires_grad=True)
    g = torch.linspace(0, 0.5, 4096, dtype=torch.float16)
    assert (g * scale).half().sum().isinf()  # each element fits fp16, their sum does not
    ((normalizer(x).float() * g).sum() * scale).backward()  # GradScaler scales the float32 loss
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad.float() / scale, g.float(), rtol=2e-3, atol=1e-4)
    x.grad = None
    scale = torch.tensor(32768.0)  # GradScaler halved its scale after an overflow
    ((normalizer(x).float() * 3 * g).sum() * scale).backward()
    torch.testing.assert_close((x.grad.float() / scale).abs().sum(), g.float().sum(), rtol=2e-3, atol=0)


def test_the_default_lr_schedule_falls_to_zero_at_the_last_step_except_where_it_cannot():
    """``auto``: ``anneal`` over max_steps (lr kept for three quarters of the steps, then linear
    to ~0 at the last, so more steps end on smaller steps); constant for a video (frames have
    their own steps) and without max_steps."""
    from nst.errors import ConfigError
    from nst.model.schedule import lr_schedule

    def adam():
        return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.03)

    for schedule in ("auto", "cosine"):
        config = lr_schedule(adam(), schedule, 200, video=False)
        scheduler = config["lr_scheduler"]["scheduler"]
        lrs = []
        for _ in range(200):
            lrs.append(scheduler.get_last_lr()[0])
            config["optimizer"].step()
            scheduler.step()
        assert lrs[0] == pytest.approx(0.03) and lrs[-1] <= 0.03 / 50 + 1e-12 and lrs == sorted(lrs, reverse=True)
        if schedule == "auto":
            assert lrs[150] == pytest.approx(0.03) and lrs[151] < 0.03
    assert isinstance(lr_schedule(adam(), "auto", 200, video=True), torch.optim.Adam)
    assert isinstance(lr_schedule(adam(), "auto", -1, video=False), torch.optim.Adam)
    with pytest.raises(ConfigError, match="max_steps"):
        lr_schedule(adam(), "cosine", -1, video=False)
