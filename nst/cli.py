"""The command line: Lightning's ``LightningCLI`` with the project's defaults.

Every run writes to ``<output_dir>/<run_name>/version_N/`` (``final.png``, ``step_XXXXX.png``,
TensorBoard events, ``config.yaml``, ``checkpoints/last.ckpt``); ``N`` grows, so an earlier
run is never overwritten. ``run_name`` defaults to the config file's name, or to
``<content>_<style>`` without a config.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import yaml

from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from callbacks import EvalMetrics, ImageSaver
from nst.data import StylePairDataModule
from nst.errors import ConfigError
from nst.model import NeuralStyleTransfer

PATH_KEYS = ("content", "style", "init", "weights")
LINKED_KEYS = ("content", "style", "size", "style_size")  # model.<key> -> data.<key>
TRAINER_DEFAULTS = {
    "max_steps": 300,
    "max_epochs": -1,
    "log_every_n_steps": 10,
    "num_sanity_val_steps": 0,
    "enable_model_summary": False,
}


class NSTCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None):
        super().__init__(
            NeuralStyleTransfer,
            StylePairDataModule,
            args=args,
            run=False,
            trainer_defaults=TRAINER_DEFAULTS,
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"description": "Neural style transfer (Gatys et al.) with Lightning."},
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ImageSaver, "image_saver")
        parser.add_lightning_class_args(EvalMetrics, "eval_metrics")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.filename": "last",
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 0,
                "checkpoint.every_n_train_steps": 100,
            }
        )
        for key in LINKED_KEYS:
            parser.link_arguments(f"model.{key}", f"data.{key}")
        parser.link_arguments("model.seed", "seed_everything")
        parser.add_argument("--output_dir", type=str, default="outputs", help="Root of all runs.")
        parser.add_argument(
            "--run_name", type=str | None, default=None,
            help="Folder name under output_dir (default: the config's name, or content_style).",
        )
        parser.add_argument(
            "--ckpt_path", type=str | None, default=None,
            help="Resume from a checkpoint file, or 'last' for the newest run of this run_name.",
        )

    def before_instantiate_classes(self) -> None:
        config = self.config
        resolve_config_paths(config)
        name = self.run_name = config.run_name or default_run_name(config)
        ckpt_path, version = resolve_ckpt_path(config.ckpt_path, Path(config.output_dir) / name)
        config.ckpt_path = ckpt_path
        if config.trainer.logger in (None, True):
            config.trainer.logger = Namespace(
                class_path="lightning.pytorch.loggers.TensorBoardLogger",
                init_args=Namespace(
                    save_dir=config.output_dir, name=name, version=version, default_hp_metric=False
                ),
            )

    def fit(self) -> None:
        self.trainer.fit(self.model, datamodule=self.datamodule, ckpt_path=self.config.ckpt_path)




def resolve_config_paths(config: Namespace) -> None:
    """Relative image and weights paths written in a config file are relative to that file's
    folder (``configs/starry.yaml`` says ``../assets/...``); command-line values to the cwd."""
    for config_file in config.get("config") or []:
        config_file = Path(str(config_file))
        try:
            written = (yaml.safe_load(config_file.read_text()) or {}).get("model") or {}
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        for key in PATH_KEYS:
            value = written.get(key)
            if not isinstance(value, str) or value != config.model.get(key):
                continue
            if key in ("init", "weights") and not Path(value).suffix:
                continue  # a name such as `content` or `vgg19-caffe`, not a file
            if not Path(value).expanduser().is_absolute():
                config.model[key] = os.path.normpath(config_file.parent / value)
    for key in LINKED_KEYS:  # links were applied while parsing, before this resolution
        config.data[key] = config.model[key]


def default_run_name(config: Namespace) -> str:
    configs = config.get("config") or []
    if configs:
        return Path(str(configs[-1])).stem
    stems = [Path(str(p)).stem for p in (config.model.content, config.model.style)]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(stems))


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
    version_dir = path.parent.parent
    version = version_dir.name.removeprefix("version_")
    return str(path), int(version) if version.isdigit() else None


def quiet_lightning() -> None:
    """Silence messages that are expected here and would only worry a user."""
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # the frozen VGG19
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


def run(args: list[str] | None = None, fit: bool = True) -> NSTCLI:
    """Parse ``args``, build model, data and trainer, and (with ``fit``) run; ``--sweep`` options
    run one variant after another (``nst.sweep``)."""
    from nst.sweep import run_sweep, split_sweeps

    quiet_lightning()
    args, sweeps = split_sweeps(list(args or []))
    if sweeps:
        return run_sweep(args, sweeps, run)
    cli = NSTCLI(args)
    if fit:
        cli.fit()
    return cli
