"""A folder of photos (any number, any sizes) through a trained style with Lightning's predict
loop: one photo per batch, each written by a :class:`~lightning.pytorch.callbacks.BasePredictionWriter`
as soon as it is done, atomically (temp file + rename) and with the model's identity in its
metadata. A run that was stopped resumes: finished outputs are skipped before any work."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from nst.errors import ConfigError, ImageError
from nst.media.images import IMAGE_SUFFIXES, load_image, resize_long_side, save_image
from nst.realtime.apply import Style


def plan_outputs(source: Path, target: Path, suffix: str = ".png") -> list[tuple[Path, Path]]:
    """(photo, its output) for every photo under ``source`` (recursively; the folders kept)."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) under {source}. Fix: --input a folder of photos")
    return [(p, (target / p.relative_to(source)).with_suffix(suffix)) for p in files]


class PendingPhotos(Dataset):
    """The photos whose output does not exist yet, each 1x3xHxW at ``size`` (long side; ``None``:
    its own). An unreadable photo is reported and left out, not a crash."""

    def __init__(self, jobs: list[tuple[Path, Path]], size: int | None):
        self.jobs = [(photo, out) for photo, out in jobs if not out.exists()]
        self.finished = len(jobs) - len(self.jobs)
        self.size = size

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> dict:
        photo, out = self.jobs[index]
        try:
            image = load_image(photo, "photo")
        except ImageError as e:
            print(f"nst: skipped: {e}")
            return {"image": None, "output": str(out)}
        return {"image": resize_long_side(image, self.size) if self.size else image, "output": str(out)}


def single(items: list[dict]) -> dict:
    return items[0]


class Applier(LightningModule):
    """The style network as a LightningModule for ``Trainer.predict``."""

    def __init__(self, style: Style, precision: str = "32"):
        super().__init__()
        self.style, self.network, self.precision_name = style, style.network, precision  # network: None for ONNX

    def predict_step(self, batch: dict, batch_idx: int):
        if batch["image"] is None:
            return None
        return self.style.tensor(batch["image"], self.precision_name).cpu()


class StyledWriter(BasePredictionWriter):
    """Each stylised photo to its output path as soon as it is made, with ``metadata``."""

    def __init__(self, metadata: dict):
        super().__init__(write_interval="batch")
        self.metadata, self.written = metadata, 0

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        if prediction is not None:
            save_image(prediction, batch["output"], self.metadata)
            self.written += 1


def stylize_folder(style: Style, source: str | Path, target: str | Path, size: int | None = None,
                   precision: str = "32", accelerator: str = "auto") -> tuple[int, int]:
    """Stylise every photo under ``source`` into ``target`` (PNG, same relative paths); returns
    (written now, already finished before)."""
    source, target = Path(source).expanduser(), Path(target).expanduser()
    if not source.is_dir():
        raise ConfigError(f"--input {source} is not a folder. Fix: a folder of photos")
    dataset = PendingPhotos(plan_outputs(source, target), size)
    if not len(dataset):
        return 0, dataset.finished
    writer = StyledWriter(style.metadata)
    trainer = Trainer(accelerator=accelerator, devices=1, logger=False, callbacks=[writer],
                      enable_progress_bar=False, enable_model_summary=False)
    with torch.inference_mode():
        trainer.predict(Applier(style, precision), DataLoader(dataset, batch_size=1, collate_fn=single),
                        return_predictions=False)
    return writer.written, dataset.finished
