"""The photos a style network learns from: a folder (searched recursively) of any format the
project reads (``nst.media.images``: colour management, EXIF orientation, HEIC), cut into random
crops with random flips; a few held out for validation. A file that cannot be read is skipped
and counted, never a crash in the middle of an epoch."""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torchvision.transforms.v2 as T
from lightning.pytorch import LightningDataModule
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.functional import pil_to_tensor

from nst.config_types import NonNegativeInt, Pixels, PositiveInt, Seed
from nst.errors import ConfigError, ImageError
from nst.media.images import IMAGE_SUFFIXES, open_image

MISSING = ("no folder of photos to learn from. Fix: --data.photos DIR (a folder of photos, searched recursively; "
           "e.g. COCO's train2017, or any few hundred photos)")


def find_photos(folder: str | None) -> list[Path]:
    """Every image file under ``folder``, sorted (the split is the same on every run)."""
    if not folder:
        raise ConfigError(MISSING)
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data.photos {root} is not a folder. Fix: --data.photos DIR, a folder of photos")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) under {root}. Fix: --data.photos a folder of photos")
    return files


def training_files(files: list[Path], val_photos: int) -> tuple[list[Path], list[Path]]:
    """(the photos trained on, those held out for validation: the last ones, at least one kept)."""
    held = min(val_photos, len(files) - 1)
    return files[: len(files) - held], files[len(files) - held:]


def check_photos(folder: str | None, val_photos: int = 0) -> list[Path]:
    """The photos under ``folder``, refused in one line before any work when not one of those
    trained on can be read (a run would train on nothing and offer the result as a style).
    Stops at the first readable one: a large folder costs one file."""
    files = find_photos(folder)
    train, _ = training_files(files, val_photos)
    first_problem = None
    for path in train:
        try:
            with open_image(path, "photo") as im:
                im.convert("RGB").load()
            return files
        except (ImageError, OSError, ValueError) as e:
            first_problem = first_problem or " ".join(str(e).split())
    raise ConfigError(f"not one of the {len(train)} photo(s) trained on under {Path(str(folder)).expanduser()} can "
                      f"be read (the first: {first_problem.split('. Fix:')[0]}). Fix: --data.photos a folder of "
                      "readable photos (JPEG, PNG, WebP, ...)")


class Photos(Dataset):
    """Each photo as a 3 x size x size crop in [0, 1]: the short side scaled to ``size`` (times a
    random factor in ``[1, zoom]`` when training), then a crop (random, or the centre) and a random
    flip. An unreadable photo gives ``None`` (the batch leaves it out and counts it)."""

    def __init__(self, files: list[Path], size: int, train: bool, zoom: float = 1.25):
        self.files, self.size, self.train, self.zoom = files, size, train, zoom
        self.reported: set[int] = set()
        crop = T.RandomCrop(size) if train else T.CenterCrop(size)
        self.transform = T.Compose([crop, T.RandomHorizontalFlip()] if train else [crop])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor | None:
        try:
            with open_image(self.files[index], "photo") as im:
                im = im.convert("RGB")
                short = self.size * (random.uniform(1, self.zoom) if self.train else 1)
                scale = short / min(im.size)
                im = im.resize((max(self.size, round(im.width * scale)), max(self.size, round(im.height * scale))),
                               Image.Resampling.BICUBIC, reducing_gap=3.0)
                image = pil_to_tensor(im).float().div_(255)
        except (ImageError, OSError, ValueError) as e:  # truncated after a good header, ...
            if index not in self.reported:  # once per file (the count is in data/skipped)
                self.reported.add(index)
                print(f"nst: skipped: {e}")
            return None
        return self.transform(image)


def collate(items: list[torch.Tensor | None]) -> dict:
    """The readable photos as one batch, and how many were not."""
    good = [item for item in items if item is not None]
    photos = torch.stack(good) if good else torch.zeros(0, 3, 1, 1)
    return {"photos": photos, "skipped": len(items) - len(good)}


class PhotoDataModule(LightningDataModule):
    """A folder of photos for training a style network.

    Args:
        photos: the folder (searched recursively; every format ``nst`` reads).
        size: side of the square training crops in px (Johnson et al.: 256).
        batch_size: photos per step (Johnson et al.: 4).
        val_photos: photos held out for validation (the last ones, in sorted order).
        num_workers: DataLoader worker processes (0: in the training process).
        seed: seeds the crops and flips (and everything else: ``seed_everything``).
    """

    def __init__(self, photos: str | None = None, size: Pixels = 256, batch_size: PositiveInt = 4,
                 val_photos: NonNegativeInt = 4, num_workers: NonNegativeInt = 0, seed: Seed = 0):
        super().__init__()
        self.save_hyperparameters()
        self.skipped = 0

    def setup(self, stage: str) -> None:
        h = self.hparams
        self.train_files, self.val_files = training_files(check_photos(h.photos, h.val_photos), h.val_photos)

    def loader(self, files: list[Path], train: bool) -> DataLoader:
        h = self.hparams
        return DataLoader(Photos(files, h.size, train), batch_size=h.batch_size, shuffle=train, collate_fn=collate,
                          num_workers=h.num_workers, persistent_workers=h.num_workers > 0, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.train_files, True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.val_files, False)

    def state_dict(self) -> dict:
        return {"skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        self.skipped = state.get("skipped", 0)
