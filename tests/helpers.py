"""Callbacks that tests put into runs in other processes (``--config`` with a class_path)."""

import torch
from lightning.pytorch import Callback


class NaNOnRank(Callback):
    """Turns device ``rank``'s images into NaN after step ``at_step``: a NaN on one device only."""

    def __init__(self, rank: int = 1, at_step: int = 2):
        self.rank, self.at_step = rank, at_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_rank == self.rank and trainer.global_step == self.at_step:
            with torch.no_grad():
                for image in pl_module.images:
                    image.fill_(float("nan"))


class FailOnRank(Callback):
    """Raises the one-line error of a full disk on device ``rank`` after step ``at_step``: an
    error on one device only."""

    def __init__(self, rank: int = 1, at_step: int = 2):
        self.rank, self.at_step = rank, at_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_rank == self.rank and trainer.global_step == self.at_step:
            from nst.errors import OutputError

            raise OutputError(f"cannot write an image on device {self.rank} (No space left on device). "
                              "Fix: free disk space")


def fake_cuda():
    """A context in which tensors may live on a pretend CUDA device (``FakeTensorMode``: shapes,
    dtypes and devices without data), so that a machine without a GPU meets the device
    mismatches a GPU would raise. Real CPU tensors (module constants) may take part."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode(allow_non_fake_inputs=True)
