"""Where a run's files go (``<run dir>/`` for one pair, ``<run dir>/<pair name>/`` for several)
and what every saved picture carries (the run's configuration and its hash)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from nst.errors import OutputError
from nst.inputs.pair import Pair


def run_dir(trainer) -> Path:
    """The run's folder (the logger's ``log_dir``). Lightning's ``trainer.log_dir`` is a
    collective call under DDP, so it is asked once (in ``on_fit_start``, on every device) and
    remembered, and a later call on one device alone (saving on an error) cannot hang."""
    cached = getattr(trainer, "_nst_run_dir", None)
    if cached is None:
        cached = Path(trainer.log_dir or trainer.default_root_dir)
        trainer._nst_run_dir = cached
    return cached


def pair_dir(trainer, pair: Pair) -> Path:
    """The folder of ``pair``'s images."""
    return run_dir(trainer) / pair.folder


def write_text(path: Path, text: str) -> None:
    """Write a small text file atomically (temp file + rename); a failure leaves no partial
    file and raises ``OutputError``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({e.strerror or e}). Fix: free disk space, or --output_dir "
                          "on another disk") from None


def config_metadata(trainer) -> dict[str, str]:
    """The run's hyper-parameters (model and data) and their hash, for every saved PNG."""
    config = dict(trainer.lightning_module.hparams)
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None:
        config.update(datamodule.hparams)
    text = json.dumps(config, sort_keys=True, default=str)
    return {"nst:config": text, "nst:config_sha256": hashlib.sha256(text.encode()).hexdigest()}


class RunLogger(TensorBoardLogger):
    """TensorBoard without Lightning's constant ``epoch`` scalar (every run is one epoch), so
    that the losses are the first cards a user sees; and a version folder claimed atomically,
    so that two runs started at the same moment never share one."""

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        super().log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step)

    def _get_next_version(self) -> int:
        """The next free ``version_N``, created here with ``mkdir`` (atomic: of two runs only one
        can create it; the other takes N + 1). Other DDP ranks only look: rank 0's is broadcast."""
        version = super()._get_next_version()
        if rank_zero_only.rank != 0:
            return version
        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                (root / f"version_{version}").mkdir()
                return version
            except FileExistsError:
                version += 1


def finished_pictures(result) -> tuple[list[Path], Path | None]:
    """What a finished run made: its ``final`` pictures and its TensorBoard folder. ``result``
    is what ``nst.runs.cli.run`` returns: the fitted CLI of a plain run, or a path (a chain's
    final picture, a sweep's contact sheet)."""
    if result is None:
        return [], None
    if isinstance(result, (str, Path)):
        return [Path(result)], Path(result).parent
    trainer = getattr(result, "trainer", None)
    saver = next((c for c in getattr(trainer, "callbacks", []) if hasattr(c, "finals")), None)
    if saver is None or not saver.finals:
        return [], None
    logs = run_dir(trainer) if trainer.logger is not None else None
    return list(saver.finals), logs
