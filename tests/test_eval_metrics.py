"""The fixed evaluation metrics callback: logged every N steps, written to metrics.json."""

import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nst.runs.cli import run
from tests.conftest import tiny_args


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    return acc


def test_eval_metrics_are_logged_and_written(tmp_path):
    cli = run(tiny_args(tmp_path, "--eval_metrics.every_n_steps", "5", steps=10))
    run_dir = Path(cli.trainer.log_dir)
    tags = events(run_dir).Tags()["scalars"]
    for tag in ("eval/gram_distance", "eval/sliced_wasserstein", "eval/ssim_content", "eval/tv"):
        assert tag in tags
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["step"] == 10 and 0 < metrics["eval/ssim_content"] <= 1


def test_a_coarse_stage_is_measured_at_the_final_size(random_weights):
    """model.stages: an image of a coarse stage is smaller than the content target (SSIM crashed)."""
    import torch

    from nst.media.images import resize
    from nst.objective.metrics import EVAL_LAYERS, StyleTransferMetrics
    from nst.objective.network.features import VGGFeatures

    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 32)
    metrics = StyleTransferMetrics(VGGFeatures(random_weights, EVAL_LAYERS), content, [style])
    coarse = torch.rand(1, 3, 16, 24)
    assert metrics(coarse) == metrics(resize(coarse, (32, 48)))
