"""Checkpoints: which one ``--ckpt_path`` means, and whether it is one nst can resume from,
checked before anything runs (one line, never torch's multi-page explanation)."""

from __future__ import annotations

import pickle
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
