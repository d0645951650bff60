"""Checkpoints: which one ``--ckpt_path`` means, and whether it is one nst can resume from,
checked before anything runs (one line, never torch's multi-page explanation)."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch

from nst.errors import ConfigError


def resolve_ckpt_path(ckpt_path: str | None, run_root: Path) -> tuple[str | None, int | None]:
    """``last`` -> the newest ``version_N/checkpoints/last.ckpt`` under ``run_root``; a resumed
    run keeps writing into that version's folder."""
    if ckpt_path is None:
        return None, None
    if ckpt_path == "last":
        found = sorted(
            run_root.glob("version_*/checkpoints/last.ckpt"),
            key=lambda p: int(p.parts[-3].removeprefix("version_")),
        )
        if not found:
            raise ConfigError(
                f"--ckpt_path last: no {run_root}/version_*/checkpoints/last.ckpt to resume. "
                "Fix: start a run first, or give a checkpoint file"
            )
        path = found[-1]
    else:
        path = Path(ckpt_path)
        if not path.is_file():
            raise ConfigError(f"checkpoint {path} does not exist. Fix: check --ckpt_path")
    check_checkpoint(path)
    version_dir = path.parent.parent
    version = version_dir.name.removeprefix("version_")
    return str(path), int(version) if version.isdigit() else None


def check_checkpoint(path: Path) -> None:
    """A Lightning checkpoint of plain tensors (``weights_only``: a pickle that would run code is
    refused) with the keys a resume needs."""
    fix = "Fix: give a last.ckpt written by an nst run, or --ckpt_path last"
    try:
        with warnings.catch_warnings():  # torch's "Detected pickle protocol" about a file it then refuses
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        raise ConfigError(f"checkpoint {path} holds objects other than tensors and numbers, which could "
                          f"run code when loaded; refused. {fix}") from None
    except Exception as e:  # text, truncated zip, another format: torch says it in many ways
        raise ConfigError(f"{path} is not a readable checkpoint ({type(e).__name__}). {fix}") from None
    missing = [k for k in ("state_dict", "global_step", "optimizer_states") if k not in checkpoint] \
        if isinstance(checkpoint, dict) else ["a dictionary"]
    if missing:
        raise ConfigError(f"{path} is not a Lightning checkpoint (no {', '.join(missing)}). {fix}")


def gather_devices(checkpoint: dict, images, names: list[str], optimizer, averages: list[dict]) -> None:
    """Under DDP, put every device's images, pair names, optimiser state and moving averages
    into the checkpoint
    (Lightning saves device 0's only), so that a multi-device run can be resumed. A collective:
    every device calls it (Lightning dumps the checkpoint on every device, writes it on one)."""
    import torch.distributed as dist
    from lightning_utilities.core.apply_func import apply_to_collection

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    mine = {"pairs": names, "images": [image.detach().cpu() for image in images],
            "optimizer": apply_to_collection(optimizer.state_dict(), torch.Tensor, lambda t: t.cpu()),
            "averages": apply_to_collection(averages, torch.Tensor, lambda t: t.cpu())}
    devices: list = [None] * dist.get_world_size()
    dist.all_gather_object(devices, mine)
    checkpoint["nst_devices"] = devices


def this_devices_share(checkpoint: dict, rank: int, world_size: int, names: list[str]) -> None:
    """Swap the checkpoint's images and optimiser state for this device's own (a checkpoint
    of a multi-device run holds every device's); refuse a checkpoint that does not fit."""
    devices = checkpoint.get("nst_devices")
    saved = devices[rank]["pairs"] if devices and rank < len(devices) else checkpoint.get("nst_pairs")
    if devices is not None and len(devices) != world_size:
        raise ConfigError(f"the checkpoint was written by a run on {len(devices)} devices; this one has "
                          f"{world_size}. Fix: resume with --trainer.devices {len(devices)}")
    if names and saved is not None and saved != names:
        raise ConfigError(
            f"the checkpoint holds the images of {', '.join(saved[:3])}...; this device makes "
            f"{', '.join(names[:3])}.... Fix: resume with the same pairs and the same number of devices")
    if devices is not None:
        checkpoint["state_dict"].update({f"images.{g}": t for g, t in enumerate(devices[rank]["images"])})
        checkpoint["optimizer_states"] = [devices[rank]["optimizer"]]
        checkpoint["nst_averages"] = devices[rank].get("averages", [])


def shape_images_like(images, state: dict) -> None:
    """Give the image parameters the checkpoint's shapes (a coarse stage's images are smaller
    than the run's size), so that its state can be loaded into them."""
    for g, image in enumerate(images):
        saved = state.get(f"images.{g}")
        if saved is not None and saved.shape != image.shape:
            image.data = torch.empty_like(saved, device=image.device)


class ImageCheckpoints:
    """The LightningModule's checkpoint hooks: what of the model a checkpoint keeps (images,
    optimiser state and moving averages of every device, pair names; not the frozen VGG19)."""

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Leave the frozen VGG19 out: it is rebuilt from ``weights`` (80 MB saved per file);
        under DDP, keep every device's images and optimiser state (``nst.model.checkpoints``)."""
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(("vgg.", "ddp_anchor"))]:
            del state[key]
        checkpoint["nst_pairs"] = [pair.name for pair in self.pairs]
        checkpoint["nst_averages"] = [average.state_dict() for average in self.averages]
        gather_devices(checkpoint, self.images, checkpoint["nst_pairs"], self.trainer.optimizers[0],
                       checkpoint["nst_averages"])

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self._trainer else (0, 1)
        this_devices_share(checkpoint, rank, world, [p.name for p in self.pairs])
        shape_images_like(self.images, state)
        self.restored_averages = checkpoint.get("nst_averages")
        if self.vgg is not None:
            state.update({f"vgg.{k}": v for k, v in self.vgg.state_dict().items()})
        if hasattr(self, "ddp_anchor"):
            state["ddp_anchor"] = self.ddp_anchor
