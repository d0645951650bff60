"""Where nst keeps what it converts once (VGG19's and the instant network's weights, the
calibrated balances): ``$TORCH_HOME/nst``, as torch.hub finds its home. Imports nothing heavy,
so the command line's torch-free paths can use it."""

from __future__ import annotations

import os
from pathlib import Path


def torch_home() -> Path:
    """``$TORCH_HOME``, else ``$XDG_CACHE_HOME/torch``, else ``~/.cache/torch`` (as torch.hub)."""
    if "TORCH_HOME" in os.environ:
        return Path(os.environ["TORCH_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(cache).expanduser() / "torch"


def cache_dir() -> Path:
    return torch_home() / "nst"
