"""The LightningModule: batches of pairs, each image as its own run; L-BFGS; bf16; DDP on CPU."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
from nst.runs.cli import run
from nst.errors import ConfigError
from nst.model.module import NeuralStyleTransfer
from tests.conftest import ASSETS, PROJECT, tiny_args, tiny_overrides, tiny_pair
from tests.test_train import scalars


def test_the_model_wires_pairs_to_their_objectives_without_a_trainer():
    model = NeuralStyleTransfer(weights="random", style_weight=1e4, tv_weight=2.0)
    with pytest.raises(ConfigError, match="no pairs to optimise"):
        model.setup("fit")
    small, other, large = tiny_pair(), tiny_pair("fruits.jpg", init="noise"), tiny_pair(size=40)
    model.receive([small, other, large])
    model.setup("fit")
    model.on_fit_start()
    assert [tuple(p.shape) for p in model.images] == [(2, 3, 24, 32), (1, 3, 30, 40)]
    losses = model.losses()
    expected = sum(pair.objective(image)["total"] for pair, image in
                   ((small, small.start), (other, other.start), (large, large.start)))
    torch.testing.assert_close(losses["total"], expected)
    losses["total"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.images)
    assert [p.name for p, _ in model.output_images()] == [small.name, other.name, large.name]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def test_batch_of_pairs_equals_each_pair_run_alone(tmp_path, styles):
    """Two pairs of one size are one 2-image parameter; each image ends as in its own one-pair
    run, to a grey level (losses are per image and summed); the outputs are named after the pair."""
    batch = run(["--data.content", str(ASSETS / "home.jpg"), "--data.style", str(styles),
                 *tiny_overrides(tmp_path / "batch", "--data.init", "content+noise", steps=6)])
    model = batch.model
    assert [tuple(p.shape) for p in model.images] == [(2, 3, 24, 32)] and [[p.name for p in b] for b in model.batches] == [["home__fruits", "home__starry_night"]]
    run_dir = Path(batch.trainer.log_dir)
    for name, style in (("home__fruits", "fruits.jpg"), ("home__starry_night", "starry_night.jpg")):
        for file in ("final.png", "step_00000.png", "metrics.json"):
            assert (run_dir / name / file).is_file(), (name, file)
        seed = ["--data.seed", "1"] if name == "home__starry_night" else []  # pair index 1: seed + 1
        alone = run(["--data.content", str(ASSETS / "home.jpg"), "--data.style", str(styles / style),
                     *tiny_overrides(tmp_path / name, "--data.init", "content+noise", *seed, steps=6)])
        together = pixels(run_dir / name / "final.png")
        by_itself = pixels(Path(alone.trainer.log_dir) / "final.png")
        # A batch of two sums some convolutions in another order than a batch of one on some
        # kernels (ATEN_CPU_CAPABILITY=default: 1 pixel in 2304 one grey level off after 6 steps).
        assert np.abs(together - by_itself).max() <= 1 and (together != by_itself).mean() < 0.01


def test_several_sizes_are_several_parameters(tmp_path, styles):
    cli = run(["--data.content", str(ASSETS / "[bh]*.jpg"), "--data.style", str(styles / "fruits.jpg"),
               *tiny_overrides(tmp_path, steps=2)])
    assert sorted(tuple(p.shape) for p in cli.model.images) == [(1, 3, 22, 32), (1, 3, 24, 32)]


@pytest.mark.parametrize("extra, message", [
    (["--model.optimizer", "lbfgs"], "L-BFGS"),
    (["--data.content_masks", f"[{ASSETS / 'masks' / 'building_top.png'}]"], "masks belong to one photo"),
    (["--sweep", "model.lr=0.01,0.02"], "--sweep with several pairs"),
    (["--scales", "[32, 48]"], "scales with several pairs"),
])
def test_batch_refuses_what_couples_or_does_not_fit_pairs(tmp_path, capsys, styles, extra, message):
    args = ["--data.content", str(ASSETS / "home.jpg"), "--data.style", str(styles),
            *tiny_overrides(tmp_path, *extra, steps=1)]
    assert train.main(args) == 2
    assert message in capsys.readouterr().err




def fresh_env() -> dict[str, str]:
    """This process's environment without what an earlier in-process DDP run left in it (Lightning
    writes MASTER_PORT etc. into os.environ, and its store still holds that port): a child that
    inherited them would wait for that store forever."""
    leftovers = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "GLOBAL_RANK", "RANK",
                 "LOCAL_WORLD_SIZE", "PL_TRAINER_GPUS")
    return {**{k: v for k, v in os.environ.items() if k not in leftovers}, "PYTHONPATH": str(PROJECT)}


def ddp_run(tmp_path, name: str, styles, *extra: str, steps: int = 4) -> subprocess.CompletedProcess:
    """train.py with 2 CPU processes (DDP) on 4 pairs."""
    args = ["--data.content", str(ASSETS / "[bh]*.jpg"), "--data.style", str(styles),
            *tiny_overrides(tmp_path, "--data.init", "content+noise", steps=steps),
            "--trainer.devices", "2", "--trainer.strategy", "ddp", "--run_name", name,
            "--model.lr_schedule", "constant", *extra]  # as the single-process run: 2 + 2 steps = 4 straight
    env = fresh_env()
    return subprocess.run([sys.executable, str(PROJECT / "train.py"), *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_ddp_makes_each_pair_once_as_one_process_does_and_resumes(tmp_path, styles):
    """--trainer.devices 2 --trainer.strategy ddp: ranks take every other pair; every output
    appears once and equals the single-process result (images are never averaged); 2 steps,
    stop, --ckpt_path last, 2 more give the same pictures as 4 straight (each device's images
    and Adam moments are in the checkpoint).

    Equal within one grey level (max 1/255, mean 1e-3): with one thread per process oneDNN sums
    in another order than with two threads in one process, which on CPUs without AVX-512 moves
    a few pixels by one level after a few steps. A wrong pair, an image averaged or
    broadcast across ranks, or a resume without its own moments differs by tens of levels."""
    common = ["--data.content", str(ASSETS / "[bh]*.jpg"), "--data.style", str(styles),
              *tiny_overrides(tmp_path, "--data.init", "content+noise", "--model.lr_schedule", "constant", steps=4)]
    env = fresh_env()
    one = subprocess.run([sys.executable, str(PROJECT / "train.py"), *common, "--run_name", "one"],
                         cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    two = ddp_run(tmp_path, "two", styles, steps=4)
    part = ddp_run(tmp_path, "resumed", styles, "--checkpoint.every_n_train_steps", "2", steps=2)
    ckpt = torch.load(tmp_path / "outputs" / "resumed" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2 and [len(d["pairs"]) for d in ckpt["nst_devices"]] == [2, 2]
    resumed = ddp_run(tmp_path, "resumed", styles, "--ckpt_path", "last", steps=4)
    for done in (one, two, part, resumed):
        assert done.returncode == 0, done.stderr[-3000:]
    folders = {n: tmp_path / "outputs" / n / "version_0" for n in ("one", "two", "resumed")}
    names = sorted(p.parent.name for p in folders["two"].glob("*/final.png"))
    assert names == ["building__fruits", "building__starry_night", "home__fruits", "home__starry_night"]
    assert not list(tmp_path.glob("outputs/two/version_1"))  # both ranks wrote into one run folder
    for name in names:
        for a, b in (("one", "two"), ("two", "resumed")):
            diff = np.abs(pixels(folders[a] / name / "final.png") - pixels(folders[b] / name / "final.png"))
            assert diff.max() <= 1 and diff.mean() <= 255e-3, (name, a, b, diff.max(), diff.mean())
        assert (pixels(folders["two"] / name / "final.png") != pixels(folders["two"] / name / "step_00000.png")).any()
    one_device = subprocess.run([sys.executable, str(PROJECT / "train.py"), *common, "--run_name", "resumed",
                                 "--ckpt_path", "last"], cwd=PROJECT, env=env, capture_output=True, text=True,
                                timeout=300)
    assert one_device.returncode == 2 and "written by a run on 2 devices" in one_device.stderr


def test_a_nan_on_one_device_stops_every_device_with_one_line(tmp_path, styles):
    config = tmp_path / "nan_on_rank_1.yaml"
    config.write_text("trainer:\n  callbacks:\n    - class_path: tests.helpers.NaNOnRank\n"
                      "      init_args: {rank: 1, at_step: 2}\n")
    done = ddp_run(tmp_path, "nan", styles, "--config", str(config), "--run_guard.check_every_n_steps", "1",
                   "--image_saver.every_n_steps", "1", steps=8)
    assert done.returncode == 2, done.stderr[-3000:]  # not a hang: every device stopped
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors and all("NaN/Inf at step 2" in line for line in errors), done.stderr[-3000:]
    run_dir = tmp_path / "outputs" / "nan" / "version_0"
    for name in ("building__fruits", "building__starry_night", "home__fruits", "home__starry_night"):
        assert (run_dir / name / "step_00001.png").is_file() and (run_dir / name / "last_good.png").is_file()
        assert not (run_dir / name / "step_00003.png").exists()


def test_an_error_on_one_device_stops_every_device_with_one_line_each(tmp_path, styles):
    """Device 1 stops with its one-line error (a full disk there); device 0 loses its peer and
    says so in one line instead of gloo's traceback; both keep their images."""
    config = tmp_path / "fail_on_rank_1.yaml"
    config.write_text("trainer:\n  callbacks:\n    - class_path: tests.helpers.FailOnRank\n"
                      "      init_args: {rank: 1, at_step: 2}\n")
    done = ddp_run(tmp_path, "fail", styles, "--config", str(config), steps=8)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert any("No space left on device" in line for line in errors), done.stderr[-3000:]
    assert any("another device of this multi-device run stopped" in line for line in errors), done.stderr[-3000:]
    kept = sorted(p.parent.name for p in (tmp_path / "outputs" / "fail" / "version_0").glob("*/interrupted.png"))
    assert kept == ["building__fruits", "building__starry_night", "home__fruits", "home__starry_night"]




def test_lbfgs_converges_like_a_plain_loop(tmp_path):
    """Lightning's closure must zero the gradients: compare against a hand-written L-BFGS loop."""
    args = tiny_args(tmp_path, "--model.optimizer", "lbfgs", "--model.lbfgs_max_iter", "5",
                     "--data.init", "content+noise", steps=4)
    cli = run(args)
    lightning_image = cli.model.images[0].detach().clone()
    total = scalars(Path(cli.trainer.log_dir), "loss/total")
    assert total[-1] < 0.2 * total[0]

    model = cli.model
    with torch.no_grad():
        model.images[0].copy_(model.pairs[0].start)
    opt = model.configure_optimizers()
    for _ in range(4):
        def closure():
            opt.zero_grad()
            loss = model.losses()["total"]
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            model.images[0].clamp_(0, 1)
    torch.testing.assert_close(lightning_image, model.images[0].detach(), rtol=1e-4, atol=1e-4)


def test_bf16_mixed_on_cpu_gives_finite_falling_losses(tmp_path):
    cli = run(tiny_args(tmp_path, "--trainer.precision", "bf16-mixed", steps=10))
    total = scalars(Path(cli.trainer.log_dir), "loss/total")
    assert all(math.isfinite(v) for v in total) and total[-1] < total[0]
    assert cli.model.images[0].dtype == torch.float32


NCCL_TIMEOUT = ("[Rank 0] Work WorkNCCL(SeqNum=12, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=300000) "
                "timed out in blocking wait.")
NCCL_REMOTE = "NCCL error: remote process exited or there was a network error, NCCL version 2.27.3\nncclRemoteError: "


@pytest.mark.parametrize("message", [NCCL_TIMEOUT, NCCL_REMOTE])
def test_an_nccl_peer_that_stopped_is_one_line(monkeypatch, capsys, message):
    """With NCCL a device whose peer stopped waits in the next collective until the process
    group's timeout, then NCCL raises (blocking wait): that is the same one line as gloo's."""
    import torch.distributed as dist

    from nst.runs import cli, main

    def stopped_peer(args):
        raise dist.DistBackendError(message)

    monkeypatch.setattr(cli, "run", stopped_peer)
    assert main.main(["--config", "starry.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: another device of this multi-device run stopped") and err.count("\n") == 1


def test_ddp_on_gpus_gets_a_short_timeout_and_blocking_wait(tmp_path, monkeypatch):
    """NCCL's default process-group timeout is 30 minutes, after which its watchdog aborts the
    process with a C++ trace: on GPUs a multi-device run uses a short one, and blocking wait, so
    that the timeout is a Python error that says one line."""
    from lightning.pytorch.strategies import DDPStrategy

    from nst.runs import distributed

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("TORCH_NCCL_BLOCKING_WAIT", raising=False)
    for strategy, devices in (("ddp", 2), ("auto", 2), ("auto", [1, 3]), ("ddp", "auto")):
        chosen = distributed.ddp_strategy(strategy, "cuda", devices, 1)
        assert isinstance(chosen, DDPStrategy) and chosen._timeout == distributed.NCCL_TIMEOUT
    assert os.environ["TORCH_NCCL_BLOCKING_WAIT"] == "1"
    assert distributed.NCCL_TIMEOUT.total_seconds() <= 600
    assert distributed.ddp_strategy("auto", "cuda", 1, 1) == "auto"  # one device: no DDP
    assert distributed.ddp_strategy("ddp", "cpu", 2, 1) == "ddp"  # gloo: Lightning's own (CPU steps are long)
    assert distributed.ddp_strategy("fsdp", "cuda", 2, 1) == "fsdp"
