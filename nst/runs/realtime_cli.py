"""The command line of a real-time style (``nst.realtime``): a config that says ``task: realtime``
(``configs/fast_starry.yaml``) trains a network with Lightning's own CLI over
:class:`~nst.realtime.module.FastStyleTransfer` and :class:`~nst.realtime.photos.PhotoDataModule`:

    python train.py --config fast_starry.yaml --data.photos DIR [--trainer.max_time 00:00:30:00]

and ``python train.py stylize --model x.ckpt --input photo|DIR|video --output PATH`` applies one.
The optimisation's CLI (``nst.runs.cli``) is left as it is.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import time
from pathlib import Path

import yaml
from jsonargparse import Namespace
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from nst.errors import ConfigError, write_failure
from nst.hardware import usable_precision
from nst.model.checkpoints import resolve_ckpt_path
from nst.realtime.module import FastStyleTransfer
from nst.realtime.photos import MISSING, PhotoDataModule, check_photos
from nst.runs.arguments import explain_argument_error
from nst.runs.cli import ensure_writable, quiet_lightning, refusals_in_one_line, resolve_config_paths, with_step_bar
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


RESUME_TRAINING = "run the same command with --ckpt_path last (it resumes from the checkpoint kept)"
HARDWARE_LINES = ("GPU available:", "TPU available:", "HPU available:", "Using bfloat16 Automatic Mixed Precision",
                  "Using 16bit Automatic Mixed Precision", "Seed set to")
RANK_PREFIX = re.compile(r"^\[rank: \d+\] ")  # Lightning's prefix where a rank is set in the environment


def quiet_hardware_lines() -> None:
    """No "GPU available: False", "Using bfloat16 Automatic Mixed Precision" or "Seed set to 0"
    lines from Lightning: nothing a user acts on (a precision nst changes is said by nst itself),
    and they would stand before a one-line error. Once per process (a filter on Lightning's handlers)."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        for handler in logging.getLogger(name).handlers:
            if not any(getattr(f, "nst_hardware", False) for f in handler.filters):
                drop = logging.Filter()
                drop.filter = lambda record: not RANK_PREFIX.sub("", record.getMessage()).startswith(HARDWARE_LINES)
                drop.nst_hardware = True
                handler.addFilter(drop)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Each checkpoint written whole to a temporary name beside it, flushed to the disk and moved
    into place (``os.replace``): a full disk or a ``kill -9`` leaves the previous ``last.ckpt``
    as it was, never a truncated one (Lightning's own writes a temporary file in /tmp and copies it
    over, which is neither). A failed write is one line that names the folder and how to resume."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        import torch

        path = Path(path)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        for stray in path.parent.glob(f".{path.name}.*.tmp"):  # a killed run's half-written one (one run a folder)
            stray.unlink(missing_ok=True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(buffer.getbuffer())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise write_failure(e, path, "the checkpoint written before it is kept", RESUME_TRAINING) from None


def check_resumable(path: str, model: Namespace) -> None:
    """``--ckpt_path`` names a real-time style of the network this config trains."""
    from nst.realtime.apply import check_record, read_checkpoint

    record = read_checkpoint(Path(path)).get("nst_realtime")
    check_record(record, Path(path))
    for key in ("network", "from_photo", "painting_colours"):
        if record.get(key, False) != model.get(key):
            raise ConfigError(f"--ckpt_path {path} trained model.{key} {record.get(key, False)}, this config says "
                              f"{model.get(key)}. Fix: --model.{key} {record.get(key, False)}, or no --ckpt_path")


def check_trainer(t: Namespace) -> None:
    """Lightning's keys that a style's training cannot run with, said before any work (as the
    optimisation's ``nst.runs.preflight``)."""
    from nst.hardware import selected_devices
    from nst.runs.preflight import COMMAND_LINE, STARTED_AS_A_NODE

    if t.fast_dev_run:
        raise ConfigError("trainer.fast_dev_run runs without the logger that names the output folder, and keeps no "
                          "style. Fix: --trainer.max_steps 1 for a quick run")
    if t.barebones:
        raise ConfigError("trainer.barebones runs without the logger and the checkpoint that keep the style. "
                          "Fix: leave trainer.barebones out")
    if t.accumulate_grad_batches < 1:  # Lightning divides by it at the first step
        raise ConfigError(f"trainer.accumulate_grad_batches {t.accumulate_grad_batches}: it must be 1 or more. "
                          "Fix: --trainer.accumulate_grad_batches 1")
    if (t.num_nodes or 1) > 1 and not STARTED_AS_A_NODE:
        raise ConfigError(f"trainer.num_nodes {t.num_nodes} asks for {t.num_nodes} machines, but this process was not "
                          "started as one of them (no NODE_RANK and MASTER_ADDR, not torchrun or SLURM). Fix: "
                          "--trainer.num_nodes 1, or start it on every node with NODE_RANK, MASTER_ADDR, MASTER_PORT")
    try:
        several = len(selected_devices(t.devices, t.accelerator)) > 1
    except Exception:  # noqa: BLE001 - Lightning says what is wrong with them when it builds the trainer
        several = False
    if several and not COMMAND_LINE["this"]:
        raise ConfigError(f"{t.devices} devices start one process each, running this command line again, which only "
                          "python train.py (or nst) can do, not a call from Python. Fix: run it as python train.py "
                          "..., or --trainer.devices 1")


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
        check_trainer(config.trainer)
        self.check_inputs(config)
        ensure_writable(Path(config.output_dir))
        configs = config.get("config") or []
        name = self.run_name = config.run_name or (Path(str(configs[-1])).stem if configs else "realtime")
        if not name.strip() or Path(name).is_absolute() or ".." in Path(name).parts:
            raise ConfigError(f"run_name {name!r} is not a folder name under output_dir. Fix: a plain name, e.g. "
                              "--run_name starry")
        config.ckpt_path, version = resolve_ckpt_path(config.ckpt_path, Path(config.output_dir) / name)
        if config.ckpt_path:
            check_resumable(config.ckpt_path, config.model)
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

    @staticmethod
    def check_inputs(config: Namespace) -> None:
        """Before any work: a photo to learn from and the painting can be read, the painting at
        ``style_size`` is large enough for VGG19, the weights are there."""
        from nst.media.images import load_image
        from nst.objective.network.weights import load_weights

        check_photos(config.data.photos, config.data.val_photos)
        painting = load_image(config.model.style, "model.style")
        if min(painting.shape[-2:]) * config.model.style_size / max(painting.shape[-2:]) < 16:
            raise ConfigError(f"model.style_size {config.model.style_size} makes the painting's short side under 16 px, "
                              "too small for VGG19. Fix: a larger --model.style_size")
        load_weights(config.model.weights)  # cached: the run's own load finds it

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
        if not t.get("plugins"):
            kwargs["plugins"] = [AtomicCheckpointIO()]
        return super().instantiate_trainer(**kwargs, **({"strategy": strategy} if strategy is not t.strategy else {}))

    def _instantiate_trainer(self, config: dict, callbacks: list):
        return super()._instantiate_trainer(config, with_step_bar(config, callbacks))

    def instantiate_classes(self) -> None:
        """Build model, data module and trainer; what their constructors refuse (an accelerator
        name, a missing TPU library, ...) becomes one line, as the optimisation's (``nst.runs.cli``)."""
        with refusals_in_one_line():
            super().instantiate_classes()

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
    quiet_hardware_lines()
    try:
        cli = RealtimeCLI(args)
    except argparse.ArgumentError as e:
        raise explain_argument_error(e) from None
    try:
        cli.fit()
    except OSError as e:  # a log or config written on a full disk (checkpoints say it themselves)
        from nst.runs.main import OUTPUT_ERRNOS

        if e.errno not in OUTPUT_ERRNOS:
            raise
        raise write_failure(e, e.filename or Path(cli.trainer.log_dir or cli.config.output_dir) / "log",
                            "the checkpoint written before it is kept", RESUME_TRAINING) from None
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


def check_output(target: Path, what: str = "--output") -> None:
    """Before any work: ``target``'s folder exists or can be made, and takes a file; a file where
    a folder must be, or a folder that cannot be written, is one line that says which."""
    folder = target.parent
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise ConfigError(f"{what} {target}: {existing} is a file, where a folder must be. Fix: another {what}, "
                          "or move that file away")
    ensure_writable(folder, what.lstrip("-"))


def output_for(source: Path, target: Path, kind: str) -> Path:
    """The file a photo or video goes to: ``target``, or ``<target>/<source's name>.png|.mp4`` when
    ``target`` is a folder (or has no suffix); a suffix that is not a picture's or an MP4 is one line."""
    from nst.media.formats import format_for

    suffix = ".mp4" if kind == "video" else ".png"
    if target.is_dir() or not target.suffix:
        target = target / f"{source.stem}{suffix}"
    if kind == "video" and target.suffix.lower() != ".mp4":
        raise ConfigError(f"--output {target}: a video is written as H.264 MP4. Fix: --output a name ending in .mp4, "
                          "or a folder")
    if kind == "photo":
        format_for(target, None)  # an unknown picture suffix: its one line, before the work
    check_output(target)
    return target


def stylize_command(argv: list[str]) -> int:
    """``train.py stylize --model x.ckpt --input photo|folder|video --output path [--size N]``."""
    from nst.media.images import save_image
    from nst.media.video import is_video_file
    from nst.realtime.apply import check_precision, check_size, load_style
    from nst.realtime.predict import stylize_folder
    from nst.runs.distributed import ddp_strategy

    args = stylize_parser().parse_args(argv)
    size, precision = check_size(args.size), check_precision(args.precision)
    source, target = Path(args.input).expanduser(), Path(args.output).expanduser()
    if args.devices < 1 or (args.devices > 1 and not source.is_dir()):
        raise ConfigError(f"--devices {args.devices}: a folder is painted on 1 or more devices, a photo or a video on "
                          "one. Fix: --devices 1, or --input a folder")
    if not source.exists():
        raise ConfigError(f"--input {source} does not exist. Fix: a photo, a folder of photos or a video")
    kind = "folder" if source.is_dir() else "video" if is_video_file(source) else "photo"
    if kind == "folder" and target.exists() and not target.is_dir():
        raise ConfigError(f"--output {target} is a file; a folder's pictures go to a folder. Fix: --output a folder")
    if kind == "folder" and target.resolve().is_relative_to(source.resolve()):
        raise ConfigError(f"--output {target} is inside --input {source}: a later run would paint its pictures again "
                          "as photos. Fix: --output a folder outside the photos' folder")
    quiet_predict()
    style = instant_from_args(args) if args.model == "instant" else load_style(args.model)
    if args.model != "instant" and args.style:
        raise ConfigError("--style is for --model instant; a trained style has its painting. Fix: leave --style "
                          "out, or --model instant")
    if kind == "folder":
        check_output(target / "picture.png")
        strategy = ddp_strategy("ddp", args.accelerator, args.devices, 1)
        written, finished, first = stylize_folder(style, source, target, size, precision,
                                                  args.accelerator, args.devices, strategy)
        if first:  # (each device of a DDP run is a process that gets here)
            print(f"nst: {written} written, {finished} already there, under {target}")
    elif kind == "video":
        target = output_for(source, target, kind)
        began = time.perf_counter()
        written, frames = style.video(source, target, size, precision)
        seconds = time.perf_counter() - began
        print(f"nst: wrote {written} ({frames} frames in {seconds:.1f} s: {frames / seconds:.1f} frames/s, "
              "decoding and encoding included)")
    else:
        target = output_for(source, target, kind)
        if target.resolve() == source.resolve():
            raise ConfigError(f"--output {target} is the photo itself, which it would overwrite. Fix: another --output")
        picture = style(source, size, return_tensor=True, precision=precision)
        print(f"nst: wrote {save_image(picture, target, style.metadata)}")
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
    check_output(target)
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
    if target.suffix not in (".onnx", ".pt") or target.is_dir():
        raise ConfigError(f"--output {target}: unknown format. Fix: a name ending in .onnx or .pt")
    quiet_predict()
    if args.model == "instant":
        return export_instant(args, target)
    style = load_style(args.model)
    check_output(target)
    if style.network is None:
        raise ConfigError(f"--model {args.model} is already an export. Fix: the last.ckpt it was exported from")
    path = export_onnx(style.network, target, record=style.record, config=style.config) if target.suffix == ".onnx" \
        else export_torchscript(style.network, target)
    print(f"nst: wrote {path} (input 'photo' Bx3xHxW in [0, 1], any H and W)")
    return 0
