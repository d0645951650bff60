"""A folder of photos (any number, any sizes) through a trained style with Lightning's predict
loop: one photo per batch, each written by a :class:`~lightning.pytorch.callbacks.BasePredictionWriter`
as soon as it is done, atomically (temp file + rename) and with the model's identity in its
metadata. A run that was stopped resumes: finished outputs are skipped before any work. On
several devices (DDP) each takes its own share of the photos (Lightning's unrepeated sampler);
every device plans from the same folder before any of them writes (they meet first)."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import time
from pathlib import Path

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from nst.errors import ConfigError, ImageError, write_failure
from nst.media.images import IMAGE_SUFFIXES, load_image, resize_long_side, save_image
from nst.realtime.apply import Style, check_photo_size, check_precision, check_size


def plan_outputs(source: Path, target: Path, suffix: str = ".png") -> list[tuple[Path, Path]]:
    """(photo, its output) for every photo under ``source`` (recursively; the folders kept)."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) under {source}. Fix: --input a folder of photos")
    return [(p, (target / p.relative_to(source)).with_suffix(suffix)) for p in files]


class Claims:
    """Which outputs this process paints: an output is claimed with an exclusive ``flock`` on a
    lock file beside it (``.p3.png.lock``), so that two ``stylize`` commands on the same folder
    and output each paint a photo the other does not, and every picture is written once. The
    kernel drops a killed process's locks: a ``kill -9`` leaves nothing that blocks the next run,
    whose claim then removes the killed writer's half-written temporary file."""

    def __init__(self):
        self.held: dict[str, int] = {}

    @staticmethod
    def lock_file(out: Path) -> Path:
        return out.with_name(f".{out.name}.lock")

    def claim(self, out: Path) -> bool:
        """True when this process holds ``out`` and it is still to be written."""
        import fcntl

        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file(out), os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as e:
            raise write_failure(e, out, "the pictures written before it are kept") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another command paints it now
            os.close(fd)
            return False
        if out.exists():  # finished by another command since the plan
            self.release(out, fd)
            return False
        stray = re.compile(rf"\.{re.escape(out.stem)}-[A-Za-z0-9_]+{re.escape(out.suffix)}\.tmp")
        for tmp in out.parent.glob(f".{glob.escape(out.stem)}-*{out.suffix}.tmp"):
            if stray.fullmatch(tmp.name):  # a killed writer's half-written file (save_image's temp name)
                tmp.unlink(missing_ok=True)
        self.held[str(out)] = fd
        return True

    def release(self, out: Path, fd: int | None = None) -> None:
        fd = self.held.pop(str(out), None) if fd is None else fd
        if fd is None:
            return
        with contextlib.suppress(OSError):
            self.lock_file(out).unlink()  # (a claim after this finds the picture there)
        os.close(fd)

    def release_all(self) -> None:
        for out in list(self.held):
            self.release(Path(out))


class PendingPhotos(Dataset):
    """The photos whose output does not exist yet, each 1x3xHxW at ``size`` (long side; ``None``:
    its own). An unreadable or too small photo is reported and left out, not a crash; a photo
    another command is painting is left to it."""

    def __init__(self, jobs: list[tuple[Path, Path]], size: int | None, claims: Claims | None = None):
        self.jobs = [(photo, out) for photo, out in jobs if not out.exists()]
        self.finished = len(jobs) - len(self.jobs)
        self.size, self.claims = size, claims or Claims()

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> dict:
        photo, out = self.jobs[index]
        if not self.claims.claim(out):
            return {"image": None, "output": str(out), "taken": True}
        try:
            image = load_image(photo, "photo")
            image = check_photo_size(resize_long_side(image, self.size) if self.size else image, f"photo {photo}")
        except ImageError as e:
            print(f"nst: skipped: {e}")
            return {"image": None, "output": str(out)}
        return {"image": image, "output": str(out)}


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
    """Each stylised photo to its output path as soon as it is made, with ``metadata``; a progress
    line every ``report_s`` seconds (the first device's share); ``total``: written by all devices."""

    def __init__(self, metadata: dict, report_s: float = 10.0, claims: Claims | None = None):
        super().__init__(write_interval="batch")
        self.metadata, self.written, self.total, self.report_s = metadata, 0, 0, report_s
        self.taken, self.claims = 0, claims or Claims()
        self.began = self.reported = time.monotonic()

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        if prediction is not None:
            save_image(prediction, batch["output"], self.metadata)
            self.written += 1
        self.taken += bool(batch.get("taken"))
        self.claims.release(Path(batch["output"]))
        now, share = time.monotonic(), trainer.num_predict_batches[0]
        if trainer.is_global_zero and now - self.reported >= self.report_s and batch_idx + 1 < share:
            self.reported, rate = now, (batch_idx + 1) / (now - self.began)
            print(f"nst: {batch_idx + 1}/{share} photos{' on this device' if trainer.world_size > 1 else ''}, "
                  f"{rate:.1f}/s, {(share - batch_idx - 1) / rate:.0f} s left", flush=True)

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        self.total = int(trainer.strategy.reduce(torch.tensor(float(self.written)), reduce_op="sum").item())


def stylize_folder(style: Style, source: str | Path, target: str | Path, size: int | None = None,
                   precision: str = "32", accelerator: str = "auto", devices: int = 1,
                   strategy="ddp") -> tuple[int, int, bool]:
    """Stylise every photo under ``source`` into ``target`` (PNG, same relative paths) on
    ``devices`` devices (``strategy`` where they are several); returns (written now by all
    devices, already finished before, whether this process is the first device: the one to report)."""
    source, target = Path(source).expanduser(), Path(target).expanduser()
    if not source.is_dir():
        raise ConfigError(f"--input {source} is not a folder. Fix: a folder of photos")
    size, precision = check_size(size), check_precision(precision)
    jobs = plan_outputs(source, target)
    # (a killed run's half-written files go when their photo is claimed: Claims; not here, where
    # they could be another command's, writing now)
    claims = Claims()
    dataset = PendingPhotos(jobs, size, claims)
    if not len(dataset):
        return 0, dataset.finished, True
    if devices > 1 and style.network is None:
        raise ConfigError("an ONNX style runs on this process's CPU alone. Fix: --devices 1, or the style's last.ckpt")
    devices = min(devices, len(dataset))  # (each device needs a photo of its own: Lightning's sampler asserts it)
    writer = StyledWriter(style.metadata, claims=claims)
    trainer = Trainer(accelerator=accelerator, devices=devices, strategy=strategy if devices > 1 else "auto",
                      logger=False, callbacks=[writer], enable_progress_bar=False, enable_model_summary=False)
    try:
        with torch.inference_mode():
            trainer.predict(Applier(style, precision), DataLoader(dataset, batch_size=1, collate_fn=single),
                            return_predictions=False)
    finally:
        claims.release_all()
    return writer.total, dataset.finished + writer.taken, trainer.is_global_zero
