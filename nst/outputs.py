"""Where a run's files go: ``<run dir>/`` for one pair, ``<run dir>/<pair name>/`` for several."""

from __future__ import annotations

from pathlib import Path


def run_dir(trainer) -> Path:
    """The run's folder (the logger's ``log_dir``). Lightning's ``trainer.log_dir`` is a
    collective call under DDP, so it is asked once (in ``on_fit_start``, on every device) and
    remembered, and a later call on one device alone (saving on an error) cannot hang."""
    cached = getattr(trainer, "_nst_run_dir", None)
    if cached is None:
        cached = Path(trainer.log_dir or trainer.default_root_dir)
        trainer._nst_run_dir = cached
    return cached


def pair_dir(trainer, module, name: str) -> Path:
    """The folder of pair ``name``'s images."""
    root = run_dir(trainer)
    return root / name if module.several_pairs else root
