"""The Python API: ``nst.stylize(photo, painting, size=512, style_weight=2e-3)`` makes a picture
with the same engine as ``train.py``: the options are the config keys (by their leaf name, or
dotted), turned into the command line that ``train.py`` would parse, and run through the same
plan. So a picture from Python is the picture of that command (tested), and everything the
command can do (several styles, masks, coarse-to-fine, tiles, video) works here too.

It writes nothing unless asked (``output_dir``): the run goes to a temporary folder, without
TensorBoard, checkpoints or evaluation passes (none of them changes the picture). A second call
in the process reuses the loaded network (``nst.objective.network.weights`` keeps it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from nst.errors import ConfigError, ImageError, OutputError
from nst.media.pixels import PNG_MODES, as_array, as_pil, as_uint8  # noqa: F401 - the API's names for them too

StyleInput = Any  # a path, a PIL image, an HxWx3 array or a (1x)3xHxW tensor in [0, 1]
ALIASES = {"steps": "trainer.max_steps", "precision": "trainer.precision", "accelerator": "trainer.accelerator",
           "devices": "trainer.devices"}
IMAGE_KEYS = ("data.content", "data.style", "data.init", "data.content_masks", "data.style_masks")
QUIET = {"trainer.enable_progress_bar": False, "trainer.logger": False, "eval_metrics.enabled": False,
         "image_saver.tensorboard": False, "checkpoint.save_last": False}


def stylize(content: StyleInput, style: StyleInput | list | None = None, *, model: str | Path | None = None,
            config: str | None = None,
            on_progress: Callable | None = None, progress_every: int = 10, stop: threading.Event | None = None,
            return_tensor: bool = False, output_dir: str | Path | None = None, **options):
    """Make one picture (or, for a video, its frames) and return it as a PIL image (a 1x3xHxW
    tensor with ``return_tensor``). ``options`` are config keys (``size``, ``style_weight``,
    ``preserve_color``, ``steps`` for ``trainer.max_steps``, ``**{"model.lr": 0.05}``);
    ``config`` a shipped config's name or a YAML path, under the options. ``on_progress``
    receives a :class:`nst.callbacks.watch.Progress` every ``progress_every`` steps; setting
    ``stop`` (or returning ``False`` from ``on_progress``) ends the run with the current picture.
    Errors are the project's one-line exceptions (:class:`nst.errors.NSTError`).

    ``model="x.ckpt"`` (a trained real-time style, ``docs/realtime.md``) paints the photo in one
    pass instead, at ``size`` (long side; default its own); the network is loaded once and cached.
    ``model="instant"`` paints it with any ``style`` painting (or several) in one pass, no training
    (``nst.realtime.instant``; options ``strength``, ``style_scale``, ``preserve_color``,
    ``style_blend_weights``, ``content_masks``)."""
    from nst.callbacks.watch import Watch

    if model is not None:
        return stylize_fast(content, model, return_tensor, style=style, **options)
    if style is None:
        raise ConfigError("no painting. Fix: nst.stylize(photo, painting), or model='x.ckpt' for a trained style")

    with contextlib.ExitStack() as stack:
        stack.enter_context(one_line_errors(output_dir))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nst-")))
        args = build_args(content, style, config, options, scratch, output_dir)
        stack.enter_context(quiet_lightning_logs())
        watch = Watch(on_progress, progress_every, stop)
        final = run_watched(args, watch)
        return read_result(final, return_tensor)


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif", ".mp4")


@contextlib.contextmanager
def one_line_errors(output_dir):
    """The call's errors as the command line says them: an ``NSTError`` on one line with its
    remedy, Lightning's refusals as ``ConfigError``, an unwritable output as ``OutputError``.
    A failed call takes back what it wrote in ``output_dir`` unless it holds a picture."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from nst.errors import NSTError, OutputError, one_line
    from nst.runs.main import OUTPUT_ERRNOS

    folder = Path(output_dir) if output_dir not in (None, "") else None
    before = set(folder.iterdir()) if folder is not None and folder.is_dir() else None
    try:
        yield
    except BaseException as e:
        if folder is not None:
            take_back(folder, before)
        if isinstance(e, NSTError):
            e.args = (one_line(e),)
            raise
        if isinstance(e, MisconfigurationException):
            raise ConfigError(one_line(e)) from None
        if isinstance(e, OSError) and e.errno in OUTPUT_ERRNOS:
            raise OutputError(f"cannot write {e.filename or 'an output'} ({e.strerror}). Fix: free disk space, "
                              "or an output_dir you can write") from None
        raise


def take_back(folder: Path, before: set | None) -> None:
    """Remove what a failed call made in ``folder`` (its logs, empty version folders), keeping
    anything with a picture in it: nothing already produced is lost."""
    import shutil

    if not folder.is_dir():
        return
    for entry in set(folder.iterdir()) - (before or set()):
        files = [entry] if entry.is_file() else list(entry.rglob("*"))
        if not any(f.suffix.lower() in PICTURE_SUFFIXES for f in files):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    if before is None and not any(folder.iterdir()):
        folder.rmdir()


def stylize_fast(content: StyleInput, model: str | Path, return_tensor: bool = False, size: int | None = None,
                 precision: str = "32", **options):
    """``stylize(photo, model=...)``: a trained style's network on one photo; ``model="instant"``:
    the instant network with ``style``, the painting(s)."""
    from nst.realtime.apply import load_style

    style = options.pop("style", None)
    if str(model) == "instant":
        from nst.realtime.instant.style import CONTROLS, instant_style

        if style is None:
            raise ConfigError("model='instant' paints with a painting. Fix: nst.stylize(photo, painting, model='instant')")
        unknown = sorted(set(options) - set(CONTROLS))
        if unknown:
            raise ConfigError(f"an instant style takes size, precision and {', '.join(CONTROLS)}, not "
                              f"{', '.join(unknown)}. Fix: leave those out")
        named = lambda v: bundled(str(v)) if isinstance(v, (str, Path)) else v  # noqa: E731 - sample names too
        paintings = [named(p) for p in style] if isinstance(style, (list, tuple)) else named(style)
        return instant_style(paintings, **options)(named(content), size, return_tensor=return_tensor,
                                                   precision=precision)
    if style is not None:
        raise ConfigError("a trained style has its painting already. Fix: nst.stylize(photo, model='x.ckpt') "
                          "without a painting, or model='instant' to paint with this one")

    if options:
        raise ConfigError(f"a trained style takes size and precision only, not {', '.join(sorted(options))}. "
                          "Fix: leave those out, or train a style with them (docs/realtime.md)")
    return load_style(model)(content, size, return_tensor=return_tensor, precision=precision)


def command_line(content: str | Path, style: str | Path | list, config: str | None = None, **options) -> str:
    """The ``python train.py ...`` line that makes the picture ``stylize`` makes with the same
    arguments (paths only: an in-memory image has no name on a command line)."""
    args = build_args(content, style, config, options, None, "outputs", quiet=False)
    return shlex.join(["python", "train.py", *args])


def build_args(content, style, config, options: dict, scratch: Path | None, output_dir, quiet: bool = True) -> list[str]:
    """The command line of a call: the config first, then each option as ``--key=value``."""
    if isinstance(style, (list, tuple)) and not style:
        raise ConfigError("the style is an empty list. Fix: one painting, or a list of one or more")
    settings = {"data.content": content, "data.style": style}
    for name, value in options.items():
        settings[option_key(name)] = value
    if quiet and output_dir is None:  # no logger: the run's folder is the trainer's root
        settings = {**QUIET, "trainer.default_root_dir": str(scratch / "run"), **settings}
    settings.setdefault("output_dir", str(output_dir) if output_dir is not None else str(scratch / "outputs"))
    args = ["--config", resolve_config(config)] if config else []
    for key, value in settings.items():
        if key in IMAGE_KEYS:
            value = image_paths(value, key, scratch)
        args.append(f"--{key}={cli_value(value)}")
    return args


def option_key(name: str) -> str:
    """``size`` -> ``data.size``, ``style_weight`` -> ``model.style_weight``; dotted keys as they are."""
    from nst.runs.arguments import known_keys

    if name in ALIASES:
        return ALIASES[name]
    keys = known_keys()
    if name in keys:
        return name
    matches = [k for k in keys if k.rsplit(".", 1)[-1] == name]
    preferred = [k for k in matches if k.split(".")[0] in ("data", "model")] or matches
    if len(preferred) == 1:
        return preferred[0]
    if not preferred:
        import difflib

        close = difflib.get_close_matches(name, sorted({k.rsplit(".", 1)[-1] for k in keys}), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"unknown option {name}{hint} Fix: a config key's name (python train.py --print_config)")
    raise ConfigError(f"option {name} is ambiguous ({', '.join(preferred)}). Fix: pass it dotted, "
                      f"e.g. **{{'{preferred[0]}': ...}}")


def resolve_config(config: str | Path) -> str:
    from nst.runs.main import resolve_config as resolve

    return resolve(str(config))


def cli_value(value) -> str:
    """A Python value as jsonargparse reads it on a command line."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return str(value)


def image_paths(value, key: str, scratch: Path | None):
    """Paths stay paths; PIL images, arrays and tensors are written (lossless PNG) into the
    call's temporary folder, since the engine reads its inputs from files."""
    if value is None or isinstance(value, (str, Path)):
        return None if value is None else bundled(str(value))
    if isinstance(value, (list, tuple)):
        return [image_paths(v, f"{key}_{i}", scratch) for i, v in enumerate(value)]
    if scratch is None:
        raise ConfigError(f"{key} is an image in memory, which a command line cannot name. Fix: save it "
                          "and pass its path")
    path = scratch / f"{key.replace('.', '_')}.png"
    as_pil(value, key).save(path)
    return str(path)


def bundled(path: str) -> str:
    """A bare file name that is not here but is one of the bundled samples (``building.jpg``,
    ``starry_night.jpg``, ...) names the sample, as a bare config name names a shipped config."""
    sample = Path(__file__).resolve().parent / "assets" / path
    return str(sample) if not Path(path).exists() and Path(path).name == path and sample.is_file() else path


def run_watched(args: list[str], watch) -> Path:
    """Carry out the plan of ``args`` with ``watch`` on every stage; a stop between stages
    ends the chain with the last finished stage's picture. Returns the result's file."""
    from nst.runs.arguments import canonical_args
    from nst.runs.cli import fit_run, parse
    from nst.runs.plan import build_plan, execute

    plan = build_plan(canonical_args(args), parse)
    if len(plan.variants) != 1:
        raise ConfigError("stylize makes one picture. Fix: call it once per variant, or use train.py --sweep")
    watch.stages = len(plan.variants[0].stages)
    result = execute(plan, lambda stage_args: fit_run(stage_args, [watch]), stop=watch.stop.is_set)
    return result if isinstance(result, Path) else result_file(Path(result.trainer.log_dir))


def result_file(folder: Path) -> Path:
    """``final.png`` (or ``.tif``, ``.jpg``, ``.webp``: ``image_saver.format``), or for a video
    the folder of its frames (its ``final.png`` is the last one)."""
    if (folder / "frames").is_dir():
        return folder / "frames"
    return next(iter(sorted(folder.glob("final.*"))), folder / "final.png")


def read_result(path: Path, return_tensor: bool):
    """The picture (with its PNG metadata in ``.info``), or a video's frames as a list."""
    if path.is_dir():
        return [read_result(p, return_tensor) for p in sorted(path.glob("frame_*.png"))]
    if return_tensor:
        from nst.media.images import load_image

        return load_image(path)
    with Image.open(path) as im:
        im.load()
        return im


@contextlib.contextmanager
def quiet_lightning_logs():
    """No 'GPU available: False' and 'Seed set to 0' lines in a notebook; warnings still show."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def save(picture: Image.Image, path: str | Path) -> Path:
    """Write a picture from ``stylize`` with its configuration (``picture.info``'s ``nst:*``
    entries) in the PNG's text chunks, atomically, as ``train.py`` writes its outputs."""
    from nst.media.images import save_image
    from torchvision.transforms.functional import pil_to_tensor

    if not isinstance(picture, Image.Image):
        raise ConfigError(f"save takes the PIL image stylize returns, not {type(picture).__name__}. Fix: "
                          "nst.save(nst.stylize(...), 'picture.png')")
    if path is None or str(path) == "" or Path(path).is_dir():
        raise OutputError(f"cannot save to {path!r}: not a file name. Fix: a path such as 'picture.png'")
    if picture.width < 1 or picture.height < 1:
        raise ImageError(f"the picture is {picture.width}x{picture.height} px, empty. Fix: save a picture")
    metadata = {k: v for k, v in picture.info.items() if k.startswith("nst:")}
    with one_line_errors(None):
        return save_image(pil_to_tensor(as_pil(picture, "picture").convert("RGB")).float().div(255), path, metadata)


def warm_up(weights: str = "vgg19-caffe") -> None:
    """Load the network's weights now, so that the first ``stylize`` starts as fast as later ones."""
    from nst.objective.network.weights import load_weights

    load_weights(weights)
