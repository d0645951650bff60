"""The command line: Lightning's ``LightningCLI`` with the project's defaults; ``run`` turns
a command line into a plan of runs (``nst.runs.plan``) and carries it out.

The inputs (``data.*``: images, sizes, colour, masks, start) belong to the data module, the
objective and optimiser (``model.*``) to the model; ``--model.size`` and the other input keys
are accepted as aliases of ``--data.size`` ... on the command line.

Every run writes to ``<output_dir>/<run_name>/version_N/`` (``final.png``, ``step_XXXXX.png``,
TensorBoard events, ``config.yaml``, ``checkpoints/last.ckpt``); ``N`` grows, so an earlier
run is never overwritten. ``run_name`` defaults to the config file's name, or to
``<content>_<style>`` without a config.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
import yaml
from jsonargparse import Namespace
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from nst.callbacks import Converged, EvalMetrics, ImageSaver, RunGuard, StepProgressBar, Timelapse, VideoFrames
from nst.runs.arguments import canonical_args, check_config_files, explain_argument_error
from nst.model.checkpoints import resolve_ckpt_path
from nst.inputs.data import StylePairDataModule
from nst.errors import ConfigError, NSTError, is_out_of_memory
from nst.hardware import resolve_accelerator, resolve_devices, selected_devices, usable_precision
from nst.model.module import NeuralStyleTransfer
from nst.inputs.pairs import collect_pairs, stem

PATH_KEYS = {"data": ("content", "style", "pairs", "init", "content_masks", "style_masks"), "model": ("weights",)}
TRAINER_DEFAULTS = {
    "max_steps": 200,  # from the photo in the painting's colours, Adam 0.03 + an average: the loss of the former
                       # 300 steps (lr 0.02, fp32) in under 1/3 of their time (docs/performance/time-to-quality.md)
    "devices": 1,  # Lightning's auto takes every GPU: several only when asked (a number, or auto for several pairs)
    "precision": "bf16-mixed",  # where native (CPU with AVX512-BF16/AMX, Ampere+ GPU); else 32-true / 16-mixed
    "max_epochs": -1,
    "log_every_n_steps": 10,
    "num_sanity_val_steps": 0,
    "enable_model_summary": False,
}


class NSTCLI(LightningCLI):
    """``instantiate=False`` only parses (and resolves paths and names): what a plan needs."""

    def __init__(self, args: list[str] | None = None, instantiate: bool = True, callbacks: list | None = None):
        self.instantiate = instantiate
        quiet_lightning()
        super().__init__(
            NeuralStyleTransfer,
            StylePairDataModule,
            args=args,
            run=False,
            trainer_defaults={**TRAINER_DEFAULTS, "callbacks": list(callbacks or [])},  # added to the config's
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={
                "description": "Neural style transfer (Gatys et al.) with Lightning.",
                "exit_on_error": False,  # errors become one line in train.py, not a usage dump
                "allow_abbrev": False,  # a typo is an error, not a silent prefix match
            },
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ImageSaver, "image_saver")
        parser.add_lightning_class_args(EvalMetrics, "eval_metrics")
        parser.add_lightning_class_args(RunGuard, "run_guard")
        parser.add_lightning_class_args(VideoFrames, "video_frames")
        parser.add_lightning_class_args(Converged, "converged")
        parser.add_lightning_class_args(Timelapse, "timelapse")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.filename": "last",
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 0,
                "checkpoint.every_n_train_steps": 100,
            }
        )
        parser.link_arguments("data.seed", "seed_everything", compute_fn=int)  # a plain int: it is dumped
        parser.add_argument("--output_dir", type=str, default="outputs", help="Root of all runs.")
        parser.add_argument(
            "--run_name", type=str | None, default=None,
            help="Folder name under output_dir (default: the config's name, or content_style).",
        )
        parser.add_argument(
            "--scales", type=list[int] | None, default=None,
            help="Coarse-to-fine sizes, e.g. [128,256,512]: each stage starts from the last.",
        )
        parser.add_argument(
            "--steps_per_scale", type=list[int] | None, default=None,
            help="Steps at each of scales (default: trainer.max_steps at each).",
        )
        parser.add_argument(
            "--ckpt_path", type=str | None, default=None,
            help="Resume from a checkpoint file, or 'last' for the newest run of this run_name.",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        """``--help``: the keys most runs set (``nst.runs.reference``); ``--help all``: every key."""
        for flag in ("-h", "--help"):
            if isinstance(args, list) and flag in args:
                i = args.index(flag)
                if args[i + 1:i + 2] != ["all"]:
                    from nst.runs.reference import short_help

                    print(short_help(parser))
                    raise SystemExit(0)
                args = [*args[:i + 1], *args[i + 2:]]
        super().parse_arguments(parser, args)

    def before_instantiate_classes(self) -> None:
        config = self.config
        resolve_config_paths(config)
        ensure_writable(Path(config.output_dir))
        checkpoints = (config.get("checkpoint") or {}).get("dirpath")
        if checkpoints:  # else inside the run's folder, checked above
            ensure_writable(Path(checkpoints), "checkpoint.dirpath")
        name = self.run_name = config.run_name or default_run_name(config)
        if not self.instantiate:  # planning needs the names, not the checkpoint (loaded once, below)
            return
        config.ckpt_path, version = resolve_ckpt_path(config.ckpt_path, Path(config.output_dir) / name)
        precision, why = usable_precision(config.trainer.precision, config.trainer.accelerator,
                                          config.model.optimizer)
        if why:
            print(why)
            config.trainer.precision = precision
        if config.trainer.devices == "auto":
            d = config.data
            config.trainer.devices = resolve_devices("auto", config.trainer.accelerator,
                                                     len(collect_pairs(d.content, d.style, d.pairs)))
        if config.data.size == "auto":
            resolve_auto_size(config)
        if config.trainer.benchmark is None and not config.trainer.deterministic:
            # cuDNN's kernel search pays off where VGG19 sees one size per stage; tiles vary in size
            config.trainer.benchmark = config.model.tile_size is None
        if config.trainer.logger in (None, True):
            config.trainer.logger = Namespace(
                class_path="nst.runs.outputs.RunLogger",
                init_args=Namespace(
                    save_dir=config.output_dir, name=name, version=version, default_hp_metric=False
                ),
            )

    def finish(self, callbacks: list | None = None) -> None:
        """What ``__init__`` leaves out with ``instantiate=False``: seed, checkpoint, precision,
        logger, then the model, data module and trainer (with ``callbacks``)."""
        self.instantiate = True
        self.trainer_defaults = {**self.trainer_defaults, "callbacks": list(callbacks or [])}
        self._set_seed()
        self.before_instantiate_classes()
        self.instantiate_classes()
        self.after_instantiate_classes()

    def _set_seed(self) -> None:  # seeding belongs to the run, not to planning it
        if self.instantiate:
            super()._set_seed()

    def instantiate_trainer(self, **kwargs):
        """The Trainer; DDP on GPUs with a short timeout (``nst.runs.distributed``)."""
        from nst.runs.distributed import ddp_strategy

        t = self.config.trainer
        strategy = ddp_strategy(t.strategy, t.accelerator, t.devices, t.num_nodes)
        return super().instantiate_trainer(**kwargs, **({"strategy": strategy} if strategy is not t.strategy else {}))

    def _instantiate_trainer(self, config: dict, callbacks: list):
        return super()._instantiate_trainer(config, with_step_bar(config, callbacks))

    def instantiate_classes(self) -> None:
        """Build model, data module and trainer; what their constructors refuse (an accelerator
        name, a missing TPU library, ...) becomes one line."""
        if not self.instantiate:
            return
        with refusals_in_one_line():
            super().instantiate_classes()

    def fit(self) -> None:
        from nst.runs.preflight import check_run

        check_run(self.trainer, self.model, self.datamodule, self.config.eval_metrics.enabled)
        try:
            self.trainer.fit(self.model, datamodule=self.datamodule, ckpt_path=self.config.ckpt_path)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                # leave DDP now, not in an exit handler beside other threads (a run that had
                # finished was seen to abort there once: "terminate called without an active exception")
                torch.distributed.destroy_process_group()
        except (torch.OutOfMemoryError, RuntimeError) as e:
            if not is_out_of_memory(e):
                raise
            size = self.datamodule.options.size
            raise OutOfMemory(
                f"out of device memory at size {size} ({str(e).splitlines()[0][:120]}). Fix: "
                f"--data.size {round(size / 2 ** 0.5)} (half the pixels), or {less_memory(self.config)}"
            ) from None


def resolve_auto_size(config: Namespace) -> None:
    """``size: auto`` -> pixels, from the first photo's shape and the device's free memory
    (here, where the whole config is known, including activation checkpointing)."""
    from nst.inputs.memory import resolve_auto_size as resolve
    from nst.inputs.memory import tightest_gpu

    d, trainer = config.data, config.trainer
    specs = collect_pairs(d.content, d.style, d.pairs)
    indices = selected_devices(trainer.devices, trainer.accelerator)
    world = len(indices) * (trainer.num_nodes or 1)
    accelerator = tightest_gpu(indices) if resolve_accelerator(trainer.accelerator) == "cuda" else trainer.accelerator
    d.size = resolve(specs[0].content, len(specs), world, accelerator, trainer.precision,
                     config.model.activation_checkpointing, d.max_input_pixels, config.model.tile_size is not None)


def less_memory(config: Namespace) -> str:
    """What else lowers a step's memory, given what the run already does: bf16 (unless it runs
    in 16 bits already), then activation checkpointing, then tiles."""
    if "16" not in str(config.trainer.precision):
        return "--trainer.precision bf16-mixed"
    if not config.model.activation_checkpointing:
        return "--model.activation_checkpointing true"
    return "--model.tile_size 512" if config.model.tile_size is None else "a smaller --model.tile_size"


class OutOfMemory(NSTError):
    """The device ran out of memory."""


def ensure_writable(folder: Path, key: str = "output_dir") -> None:
    """Before any work: the folder ``--key`` names exists or can be made, and takes a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        what = "the output folder" if key == "output_dir" else key
        raise ConfigError(
            f"cannot write to {what} {folder} ({e.strerror or e}). "
            f"Fix: --{key} to a folder you can write"
        ) from None


def resolve_config_paths(config: Namespace, path_keys: dict = PATH_KEYS) -> None:
    """Relative image and weights paths written in a config file are relative to that file's
    folder (``configs/starry.yaml`` says ``../assets/...``); command-line values to the cwd."""
    for config_file in config.get("config") or []:
        config_file = Path(str(config_file))
        try:
            written = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for section, keys in path_keys.items():
            for key in keys:
                value = (written.get(section) or {}).get(key)
                if value is None or value != config[section].get(key):
                    continue
                if isinstance(value, list):
                    config[section][key] = [relative_to(config_file, v) for v in value]
                elif isinstance(value, str) and (key not in ("init", "weights") or Path(value).suffix):
                    config[section][key] = relative_to(config_file, value)  # init/weights may be names


def with_step_bar(config: dict, callbacks: list) -> list:
    """The run's own progress bar (steps of the run, not batches of an epoch) unless the bar
    is off or the config names one."""
    named = [c for c in [*(config.get("callbacks") or []), *callbacks] if isinstance(c, ProgressBar)]
    if config.get("enable_progress_bar", True) is not False and not named:
        callbacks = [*callbacks, StepProgressBar()]
    return callbacks


def relative_to(config_file: Path, value: str) -> str:
    if Path(value).expanduser().is_absolute() or value in ("auto", "subject"):  # data.content_masks: [auto]
        return value
    return os.path.normpath(config_file.parent / value)


def default_run_name(config: Namespace) -> str:
    configs = config.get("config") or []
    if configs:
        return Path(str(configs[-1])).stem
    data = config.data
    if data.pairs:
        return Path(str(data.pairs)).stem
    if data.content is None or data.style is None:
        return "nst"  # the data module says what is missing
    styles = [data.style] if isinstance(data.style, str) else list(data.style)
    return stem(f"{Path(str(data.content)).stem}_{'+'.join(Path(str(p)).stem for p in styles)}")


@contextlib.contextmanager
def refusals_in_one_line():
    """What the model's, the data module's and the trainer's constructors refuse (an accelerator
    name, a missing TPU library, a bad value) as the project's one line; its own errors as they are."""
    try:
        yield
    except NSTError:
        raise
    except (ValueError, TypeError, ImportError, MisconfigurationException) as e:
        problem = " ".join(str(e).split()).rstrip(".")
        raise ConfigError(f"{problem}. Fix: change that value (python train.py --help lists them)") from None


def quiet_lightning() -> None:
    """Silence messages that are expected here and would only worry a user."""
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # the frozen VGG19
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


def parse(args: list[str], instantiate: bool = False, callbacks: list | None = None) -> NSTCLI:
    """The CLI of ``args`` (one line of error for a bad one); ``instantiate``: with model,
    data module and trainer built, ready to fit, with ``callbacks`` (live objects, e.g. the
    API's :class:`~nst.callbacks.watch.Watch`) beside the configured ones."""
    check_config_files(args)
    try:
        return NSTCLI(args, instantiate=instantiate, callbacks=callbacks)
    except argparse.ArgumentError as e:
        raise explain_argument_error(e) from None


def fit_run(args: list[str], callbacks: list | None = None, parsed: NSTCLI | None = None) -> NSTCLI:
    """One ordinary run; ``parsed``: the same ``args`` already parsed (by the plan), finished
    here instead of parsed again."""
    if parsed is None:
        cli = parse(args, instantiate=True, callbacks=callbacks)
    else:
        cli = parsed
        cli.finish(callbacks)
    cli.fit()
    return cli


class PlanParses:
    """The parses a plan makes, kept for the runs they plan: a plain run's command line is
    parsed once (about a second of start-up), not once to plan and once to run."""

    def __init__(self):
        self.kept: dict[tuple, NSTCLI] = {}

    def parse(self, args: list[str]) -> NSTCLI:
        cli = self.kept[tuple(args)] = parse(args)
        return cli

    def fit(self, args: list[str], callbacks: list | None = None) -> NSTCLI:
        return fit_run(args, callbacks, self.kept.pop(tuple(args), None))


def run(args: list[str] | None = None, fit: bool = True):
    """Parse ``args`` into a plan of runs and carry it out (``nst.runs.plan``). Returns the fitted
    CLI of a plain run, or the path of a sweep's contact sheet or a chain's final image; with
    ``fit=False`` the CLI of a plain run, built but not fitted."""
    from nst.runs.plan import build_plan, execute
    from nst.runs.realtime_cli import is_realtime, run_realtime

    if is_realtime(list(args or [])):  # a style network to train (configs/fast_starry.yaml)
        return run_realtime(list(args))
    args = canonical_args(list(args or []))
    if not fit:
        return parse(args, instantiate=True)
    parses = PlanParses()
    return execute(build_plan(args, parses.parse), parses.fit)
