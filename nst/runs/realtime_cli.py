"""The command line of a real-time style (``nst.realtime``): a config that says ``task: realtime``
(``configs/fast_starry.yaml``) trains a network with Lightning's own CLI over
:class:`~nst.realtime.module.FastStyleTransfer` and :class:`~nst.realtime.photos.PhotoDataModule`:

    python train.py --config fast_starry.yaml --data.photos DIR [--trainer.max_time 00:00:30:00]

and ``python train.py stylize --model x.ckpt --input photo|DIR|video --output PATH`` applies one.
The optimisation's CLI (``nst.runs.cli``) is left as it is.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml
from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from nst.errors import ConfigError
from nst.hardware import usable_precision
from nst.model.checkpoints import resolve_ckpt_path
from nst.realtime.module import FastStyleTransfer
from nst.realtime.photos import MISSING, PhotoDataModule
from nst.runs.arguments import explain_argument_error
from nst.runs.cli import ensure_writable, quiet_lightning, resolve_config_paths, with_step_bar
from nst.runs.stylize_args import OneLineParser, add_instant_arguments, stylize_parser

TASK = "realtime"
PATH_KEYS = {"data": ("photos",), "model": ("style", "weights", "instant_weights")}
TRAINER_DEFAULTS = {
    "max_epochs": 2,  # Johnson et al. / pytorch/examples: 2 epochs of COCO (80k photos), batch 4
    "devices": 1,
    "precision": "bf16-mixed",  # where native; else 32-true (nst.hardware.usable_precision)
    "log_every_n_steps": 10,
    "val_check_interval": 200,  # steps: an epoch of COCO is 20k of them
    "check_val_every_n_epoch": None,
    "num_sanity_val_steps": 0,
    "enable_model_summary": False,
}


def is_realtime(args: list[str]) -> bool:
    """The command line names a config file that says ``task: realtime``."""
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if key in ("--config", "-c"):
            path = Path(value if eq else (args[i + 1] if i + 1 < len(args) else ""))
            try:
                written = yaml.safe_load(path.read_text()) if path.is_file() else None
            except (OSError, yaml.YAMLError):
                continue  # the optimisation's CLI reports it
            if isinstance(written, dict) and written.get("task") == TASK:
                return True
    return False


class RealtimeCLI(LightningCLI):
    """Lightning's CLI over the style network and the photos; runs go to
    ``<output_dir>/<run_name>/version_N/`` (TensorBoard, ``checkpoints/last.ckpt``)."""

    def __init__(self, args: list[str], instantiate: bool = True):
        self.instantiate = instantiate
        quiet_lightning()
        super().__init__(FastStyleTransfer, PhotoDataModule, args=args, run=False, trainer_defaults=TRAINER_DEFAULTS,
                         save_config_kwargs={"overwrite": True},
                         parser_kwargs={"description": "Train a real-time style network (Johnson et al. 2016).",
                                        "exit_on_error": False, "allow_abbrev": False})

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--task", type=str, default=TASK, help="realtime: this CLI (the config's marker).")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.filename": "last", "checkpoint.save_last": True,
                             "checkpoint.save_top_k": 0, "checkpoint.every_n_train_steps": 100})
        parser.link_arguments("data.seed", "seed_everything", compute_fn=int)
        parser.add_argument("--output_dir", type=str, default="outputs", help="Root of all runs.")
        parser.add_argument("--run_name", type=str | None, default=None, help="Default: the config's name.")
        parser.add_argument("--ckpt_path", type=str | None, default=None,
                            help="Resume from a checkpoint file, or 'last' for the newest run of this run_name.")

    def before_instantiate_classes(self) -> None:
        config = self.config
        if config.task != TASK:
            raise ConfigError(f"task '{config.task}' is not {TASK}. Fix: task: {TASK}, or no task key for the optimisation")
        resolve_config_paths(config, PATH_KEYS)
        if not config.data.photos:
            raise ConfigError(MISSING)
        if not config.model.style:
            raise ConfigError("no painting to learn. Fix: --model.style painting.jpg (or a config that names one)")
        ensure_writable(Path(config.output_dir))
        configs = config.get("config") or []
        name = self.run_name = config.run_name or (Path(str(configs[-1])).stem if configs else "realtime")
        config.ckpt_path, version = resolve_ckpt_path(config.ckpt_path, Path(config.output_dir) / name)
        t = config.trainer
        if t.max_time and t.max_epochs == TRAINER_DEFAULTS["max_epochs"] and (t.max_steps or -1) < 0:
            t.max_epochs = -1  # a time budget: as many epochs as fit in it (a small folder is one in seconds)
            print(f"nst: training until trainer.max_time {t.max_time} is spent (epochs unlimited)")
        precision, why = usable_precision(config.trainer.precision, config.trainer.accelerator)
        if why:
            print(why)
            config.trainer.precision = precision
        if config.trainer.logger in (None, True):
            config.trainer.logger = Namespace(class_path="nst.runs.outputs.RunLogger", init_args=Namespace(
                save_dir=config.output_dir, name=name, version=version, default_hp_metric=False))

    def instantiate_trainer(self, **kwargs):
        """DDP on several devices without broadcasting buffers: each device's content targets are
        its own photos' (of its own batch size), and the style targets are the same everywhere."""
        from lightning.pytorch.strategies import DDPStrategy

        from nst.hardware import selected_devices
        from nst.runs.distributed import NCCL_TIMEOUT, ddp_strategy

        t = self.config.trainer
        strategy = ddp_strategy(t.strategy, t.accelerator, t.devices, t.num_nodes)
        several = len(selected_devices(t.devices, t.accelerator)) * (t.num_nodes or 1) > 1
        if several and (strategy in ("ddp", "auto") or isinstance(strategy, DDPStrategy)):
            timeout = {"timeout": NCCL_TIMEOUT} if isinstance(strategy, DDPStrategy) else {}
            strategy = DDPStrategy(broadcast_buffers=False, **timeout)
        return super().instantiate_trainer(**kwargs, **({"strategy": strategy} if strategy is not t.strategy else {}))

    def _instantiate_trainer(self, config: dict, callbacks: list):
        return super()._instantiate_trainer(config, with_step_bar(config, callbacks))

    def fit(self) -> None:
        self.trainer.fit(self.model, datamodule=self.datamodule, ckpt_path=self.config.ckpt_path)
        callback = self.trainer.checkpoint_callback
        if callback is not None and callback.dirpath and not self.trainer.interrupted:
            # the state the run ended with (a max_time stop comes between every_n_train_steps saves)
            last = callback.last_model_path or str(Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}.ckpt")
            self.trainer.save_checkpoint(last, weights_only=False)  # the whole state: --ckpt_path last resumes it
            callback.last_model_path = last


def run_realtime(args: list[str]) -> RealtimeCLI:
    """Train (``fit``) as the command line says; bad arguments are one line."""
    try:
        cli = RealtimeCLI(args)
    except argparse.ArgumentError as e:
        raise explain_argument_error(e) from None
    cli.fit()
    checkpoint = getattr(cli.trainer.checkpoint_callback, "last_model_path", "")
    if checkpoint and cli.trainer.is_global_zero:
        print(f"nst: trained {cli.trainer.global_step} steps; the style: {checkpoint}; apply it: python train.py "
              f"stylize --model {checkpoint} --input photo.jpg --output out.png")
    return cli


def quiet_predict() -> None:
    import logging
    import warnings

    quiet_lightning()
    warnings.filterwarnings("ignore", message=r".*predict returned None.*")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(lambda r: "litmodels" not in r.getMessage())
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)


def stylize_command(argv: list[str]) -> int:
    """``train.py stylize --model x.ckpt --input photo|folder|video --output path [--size N]``."""
    from nst.media.images import IMAGE_SUFFIXES, save_image
    from nst.media.video import is_video_file
    from nst.realtime.apply import load_style
    from nst.realtime.predict import stylize_folder
    from nst.runs.distributed import ddp_strategy

    args = stylize_parser().parse_args(argv)
    source, target = Path(args.input).expanduser(), Path(args.output).expanduser()
    if args.devices < 1 or (args.devices > 1 and not source.is_dir()):
        raise ConfigError(f"--devices {args.devices}: a folder is painted on 1 or more devices, a photo or a video on "
                          "one. Fix: --devices 1, or --input a folder")
    quiet_predict()
    style = instant_from_args(args) if args.model == "instant" else load_style(args.model)
    if args.model != "instant" and args.style:
        raise ConfigError("--style is for --model instant; a trained style has its painting. Fix: leave --style "
                          "out, or --model instant")
    if source.is_dir():
        strategy = ddp_strategy("ddp", args.accelerator, args.devices, 1)
        written, finished, first = stylize_folder(style, source, target, args.size, args.precision,
                                                  args.accelerator, args.devices, strategy)
        if first:  # (each device of a DDP run is a process that gets here)
            print(f"nst: {written} written, {finished} already there, under {target}")
    elif is_video_file(source):
        began = time.perf_counter()
        written, frames = style.video(source, target, args.size, args.precision)
        seconds = time.perf_counter() - began
        print(f"nst: wrote {written} ({frames} frames in {seconds:.1f} s: {frames / seconds:.1f} frames/s, "
              "decoding and encoding included)")
    elif source.suffix.lower() in IMAGE_SUFFIXES or source.is_file():
        if target.is_dir() or not target.suffix:
            target = target / f"{source.stem}.png"
        picture = style(source, args.size, return_tensor=True, precision=args.precision)
        print(f"nst: wrote {save_image(picture, target, style.metadata)}")
    else:
        raise ConfigError(f"--input {source} does not exist. Fix: a photo, a folder of photos or a video")
    return 0


def instant_from_args(args: argparse.Namespace):
    from nst.realtime.instant.style import instant_style

    if not args.style:
        raise ConfigError("--model instant paints with a painting. Fix: --style painting.jpg")
    return instant_style(args.style, strength=args.strength, style_scale=args.style_scale,
                         preserve_color=args.preserve_color, style_blend_weights=args.style_blend_weights,
                         content_masks=args.content_masks, weights=args.weights)


def export_instant(args: argparse.Namespace, target: Path) -> int:
    """An instant style with its painting fixed, as ONNX (any height and width; the picture at the photo's size)."""
    from nst.realtime.export import export_onnx
    from nst.realtime.instant.style import FixedPainting
    from nst.realtime.module import FORMAT_VERSION

    if target.suffix != ".onnx":
        raise ConfigError(f"--output {target}: an instant style exports as ONNX. Fix: a name ending in .onnx")
    style = instant_from_args(args)
    record = {"format": FORMAT_VERSION, "network": "instant", "style": style.names, "credit": style.record["credit"]}
    path = export_onnx(FixedPainting(style), target, record=record, config=style.config)
    print(f"nst: wrote {path} (input 'photo' Bx3xHxW in [0, 1], any H and W; painted at the size it is given)")
    return 0


def export_command(argv: list[str]) -> int:
    """``train.py export --model x.ckpt --output style.onnx|style.pt``: ONNX or TorchScript, any size."""
    from nst.realtime.apply import load_style
    from nst.realtime.export import export_onnx, export_torchscript

    parser = OneLineParser(prog="train.py export", allow_abbrev=False,
                           description="Export a trained real-time style as ONNX (.onnx) or TorchScript (.pt).")
    parser.add_argument("--model", required=True, help="the style's checkpoint, or 'instant' with --style")
    parser.add_argument("--output", required=True, help="style.onnx (ONNX, opset 18) or style.pt (TorchScript)")
    add_instant_arguments(parser)
    args = parser.parse_args(argv)
    target = Path(args.output).expanduser()
    if target.suffix not in (".onnx", ".pt"):
        raise ConfigError(f"--output {target}: unknown format. Fix: a name ending in .onnx or .pt")
    if args.model == "instant":
        return export_instant(args, target)
    style = load_style(args.model)
    if style.network is None:
        raise ConfigError(f"--model {args.model} is already an export. Fix: the last.ckpt it was exported from")
    path = export_onnx(style.network, target, record=style.record, config=style.config) if target.suffix == ".onnx" \
        else export_torchscript(style.network, target)
    print(f"nst: wrote {path} (input 'photo' Bx3xHxW in [0, 1], any H and W)")
    return 0
