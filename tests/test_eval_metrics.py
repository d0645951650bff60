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


def test_the_style_distance_layer_by_layer_sums_to_the_metric(random_weights):
    """Two paintings blended: the per-layer terms add up to eval/sliced_wasserstein, and a
    painting measured against itself alone is at distance 0 on every layer."""
    import pytest
    import torch

    from nst.objective.metrics import EVAL_LAYERS, StyleTransferMetrics
    from nst.objective.network.features import VGGFeatures

    torch.manual_seed(0)
    vgg = VGGFeatures(random_weights, EVAL_LAYERS)
    content, styles, image = torch.rand(1, 3, 32, 48), [torch.rand(1, 3, 32, 32), torch.rand(1, 3, 40, 40)], torch.rand(1, 3, 32, 48)
    metrics = StyleTransferMetrics(vgg, content, styles, blend={0: 0.3, 1: 0.7})
    terms = metrics.sliced_by_layer(image)
    assert list(terms) == list(EVAL_LAYERS) and all(v > 0 for v in terms.values())
    assert sum(terms.values()) == pytest.approx(metrics(image)["eval/sliced_wasserstein"], rel=1e-5)
    alone = StyleTransferMetrics(vgg, styles[0], styles[:1])
    assert all(v == pytest.approx(0, abs=1e-6) for v in alone.sliced_by_layer(styles[0]).values())
