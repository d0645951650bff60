"""The FeatureMaps callback: what the network sees, in TensorBoard."""

from pathlib import Path

from nst.runs.cli import run
from tests.conftest import PROJECT, tiny_args
from tests.test_eval_metrics import events


def test_feature_map_callback_from_the_shipped_config(tmp_path):
    cli = run(["--config", str(PROJECT / "configs" / "inspect.yaml"),
               *tiny_args(tmp_path, "--trainer.callbacks.init_args.layers", "[relu1_1, relu2_1]", steps=1)])
    tags = events(Path(cli.trainer.log_dir)).Tags()["images"]
    for kind in ("features", "gram"):
        for image in ("content", "style", "generated"):
            assert f"{kind}/relu1_1/{image}" in tags
