"""Converged: EarlyStopping on the loss with a relative tolerance, checked every few steps."""

from pathlib import Path
from types import SimpleNamespace

import torch
from lightning.pytorch.trainer.states import TrainerFn

import train
from nst.callbacks import Converged
from nst.runs.cli import run
from tests.conftest import tiny_args
from tests.test_cli import one_line_error


def fake_trainer(step: int) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, max_steps=1000, should_stop=False, sanity_checking=False,
                           state=SimpleNamespace(fn=TrainerFn.FITTING),
                           strategy=SimpleNamespace(reduce_boolean_decision=lambda decision, all: decision))


def feed(callback: Converged, losses: list[float], stages: list[int] | None = None, every: int = 10) -> int | None:
    """The step at which ``callback`` stops a run with these losses at its checks (None: never)."""
    for k, loss in enumerate(losses):
        trainer = fake_trainer((k + 1) * every)
        module = SimpleNamespace(stage_size=stages[k] if stages else 400)
        callback.on_train_batch_end(trainer, module, {"loss": torch.tensor(loss)}, None, 0)
        if trainer.should_stop:
            return trainer.global_step
    return None


def test_stops_when_the_relative_gain_falls_below_the_tolerance():
    # 2 % per check for a while, then 0.2 %: with a 0.5 % tolerance and patience 2 it stops at
    # the second check that gained less than 0.5 % on the best (step 80 here)
    losses = [1e6 * 0.98 ** k for k in range(6)] + [1e6 * 0.98 ** 5 * 0.998 ** k for k in range(1, 10)]
    assert feed(Converged(tolerance=0.005, patience=2), losses) == 80
    # the same shape a thousand times smaller stops at the same step: the tolerance is relative
    assert feed(Converged(tolerance=0.005, patience=2), [x / 1000 for x in losses]) == 80


def test_jitter_below_the_best_does_not_count_as_progress_and_off_never_stops():
    losses = [100.0, 90.0, 91.0, 89.9, 90.5]  # after 90 nothing beats it by 0.5 %
    assert feed(Converged(tolerance=0.005, patience=3), losses) == 50
    assert feed(Converged(tolerance=None), [100.0] * 20) is None


def test_a_new_stage_starts_the_comparison_over():
    # coarse to fine: the loss at the larger size is higher, which is not a lack of progress
    losses = [100.0, 80.0, 70.0, 400.0, 300.0, 250.0]
    stages = [128, 128, 128, 256, 256, 256]
    assert feed(Converged(tolerance=0.005, patience=1), losses, stages) is None


def test_a_run_stops_when_converged_and_keeps_its_picture(tmp_path, capsys):
    cli = run(tiny_args(tmp_path, "--converged.tolerance", "0.9", "--converged.patience", "1",
                        "--converged.check_every_n_steps", "2", steps=40))
    assert cli.trainer.global_step == 4  # the loss cannot fall by 90 % twice over
    assert "converged at step 4" in capsys.readouterr().out
    assert (Path(cli.trainer.log_dir) / "final.png").is_file()


def test_a_tolerance_outside_0_1_is_one_line(tmp_path, capsys):
    assert train.main(tiny_args(tmp_path, "--converged.tolerance", "2", steps=2)) == 2
    line = one_line_error(capsys)
    assert "converged.tolerance" in line and "Fix:" in line


def test_the_wait_is_kept_in_checkpoints():
    callback = Converged(tolerance=1e-4, patience=3)
    feed(callback, [100.0, 99.999])
    restored = Converged(tolerance=1e-4, patience=3)
    restored.load_state_dict(callback.state_dict())
    assert restored.wait_count == 1 and restored.stage_size == 400
    assert feed(restored, [99.998, 99.997]) == 20
