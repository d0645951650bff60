"""Writes to TensorBoard, once per run, what the network sees in content, style and result."""

from __future__ import annotations

from typing import Optional

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from nst.objective.network.layers import parse_layer_weights
from nst.objective.visualize import layer_pictures


class FeatureMaps(Callback):
    """At the end of the run, for each layer in ``layers``: a grid of the ``top_k`` most active
    channels and the Gram matrix as a heat map, for the content, the style and the generated
    image (TensorBoard tags ``features/<layer>/<image>`` and ``gram/<layer>/<image>``).
    Off by default; ``configs/inspect.yaml`` turns it on."""

    def __init__(self, layers: Optional[list[str]] = None, top_k: int = 8):
        layers = layers or ["relu1_1", "relu3_1", "relu5_1"]
        self.layers = list(parse_layer_weights(layers, "feature_maps.layers"))
        self.top_k = top_k

    @rank_zero_only
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        writers = [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if not writers:
            return
        from nst.objective.network.features import VGGFeatures

        vgg = VGGFeatures(pl_module.vgg_weights, self.layers)
        vgg = vgg.to(pl_module.device)
        (pair, generated), *_ = pl_module.output_images()  # the first pair
        content, styles = pair.content, pair.styles
        images = {"content": content.to(pl_module.device)}
        for i, style in enumerate(styles):
            images["style" if len(styles) == 1 else f"style_{i}"] = style.to(pl_module.device)
        images["generated"] = generated
        for name, image in images.items():
            for tag, picture in layer_pictures(vgg, image, self.layers, self.top_k).items():
                layer, kind = tag.split("/")
                for writer in writers:
                    writer.add_image(f"{kind}/{layer}/{name}", picture.cpu(), trainer.global_step)
        for writer in writers:
            writer.flush()
