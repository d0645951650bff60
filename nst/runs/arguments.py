"""What the command line and config files may say, and one line for what they may not: the
``--model.<input>`` aliases, YAML checks with file and line, and jsonargparse's errors
(unknown keys with "did you mean", typed choices and ranges) as ``error: ... Fix: ...``."""

from __future__ import annotations

import difflib
import functools
import inspect
import re
from pathlib import Path

import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from nst.callbacks import Converged, EvalMetrics, ImageSaver, RunGuard, Timelapse, VideoFrames
from nst.inputs.data import StylePairDataModule
from nst.errors import ConfigError
from nst.model.module import NeuralStyleTransfer

DATA_KEYS = tuple(p for p in inspect.signature(StylePairDataModule.__init__).parameters if p != "self")


def check_config_files(args: list[str]) -> None:
    """YAML syntax errors name the file and the line (jsonargparse only says 'unicode string')."""
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if key not in ("--config", "-c"):
            continue
        path = Path(value if eq else (args[i + 1] if i + 1 < len(args) else ""))
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist. Fix: check the --config path")
        try:
            written = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"{where}: YAML syntax error: {problem}. Fix: correct the YAML there") from None
        model = written.get("model") if isinstance(written, dict) else None
        moved = sorted(set(model if isinstance(model, dict) else ()) & set(DATA_KEYS))
        if moved:
            raise ConfigError(f"{path}: model.{moved[0]} is an input, now under data: (the data module owns "
                              f"the inputs). Fix: move {', '.join(moved)} from model: to data:")


def sections() -> dict[str, type]:
    """The config's sections and the class each one configures."""
    from lightning.pytorch import Trainer

    return {
        "model": NeuralStyleTransfer, "data": StylePairDataModule, "trainer": Trainer,
        "image_saver": ImageSaver, "eval_metrics": EvalMetrics, "run_guard": RunGuard, "video_frames": VideoFrames,
        "converged": Converged, "timelapse": Timelapse,
        "checkpoint": ModelCheckpoint,
    }


@functools.cache
def known_keys() -> tuple[str, ...]:
    """Every dotted key the command line accepts, for 'did you mean' suggestions and the API's
    option names (read from the classes' signatures once per process)."""
    keys = ["config", "print_config", "output_dir", "run_name", "ckpt_path", "sweep", "scales",
            "steps_per_scale"]
    for section, cls in sections().items():
        params = inspect.signature(cls.__init__).parameters
        keys += [f"{section}.{p}" for p in params if p not in ("self", "args", "kwargs")]
    return tuple(keys)


def explain_argument_error(error: Exception) -> ConfigError:
    message = " ".join(str(error).split())
    unknown = re.search(r"unrecognized arguments: --?([\w.]+)", message)
    group = re.search(r"Group '([\w.]+)' does not accept (?:nested key|option) '([\w.]+)'", message)
    key = unknown.group(1) if unknown else f"{group.group(1)}.{group.group(2)}" if group else None
    missing = re.search(r'Parser key "([\w.]+)":.*(?:Got|Given) value: None', message)
    if missing:
        short = {"data.content": " (or --content)", "data.style": " (or --style)"}.get(missing.group(1), "")
        return ConfigError(f"{missing.group(1)} is required. Fix: give --{missing.group(1)}{short} or a --config")
    if key is None:
        return typed_value_error(message) or ConfigError(f"{message[:400]}. Fix: see python train.py --help")
    close = difflib.get_close_matches(key, known_keys(), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ConfigError(f"unknown option {key}{hint} Fix: see python train.py --print_config")


def typed_value_error(message: str) -> ConfigError | None:
    """jsonargparse's multi-part message for a value its type refuses (a ``Literal`` choice, a
    restricted number) -> one line naming the key, the value and what is accepted."""
    key = re.search(r'Parser key "([\w.]+)"', message)
    value = (re.search(r"(?:Got|Given) value: (.*?)(?:\.? - |\.?$)", message)
             or re.search(r"Not of type \w+: (\S+) does not conform", message))
    if not key or not value:
        return None
    accepted = []
    for restriction in re.findall(r"restriction (v[^-]*?)(?: - |\.? *$)", message):
        bounds = re.sub(r"v([<>]=?)", r"\1 ", restriction.rstrip(". "))
        accepted.append("a number " + bounds)
    for choices in re.findall(r"Literal\[([^\]]*)\]", message):
        accepted.append("one of " + ", ".join(c.strip(" '\"") for c in choices.split(",")))
    if not accepted:
        return None
    what = " or ".join(dict.fromkeys(accepted))
    return ConfigError(f"{key.group(1)}: {value.group(1)!r} is not valid; valid: {what}. "
                       f"Fix: --{key.group(1)} with such a value")


def canonical_args(argv: list[str]) -> list[str]:
    """``--model.<input key>`` (and ``--sweep model.<input key>=...``) -> ``data.<input key>``."""
    def canonical(text: str) -> str:
        for prefix in ("--model.", "model."):
            key = text.removeprefix(prefix).split("=", 1)[0]
            if text.startswith(prefix) and key in DATA_KEYS:
                return prefix.replace("model", "data") + text.removeprefix(prefix)
        return text

    out = []
    for i, arg in enumerate(argv):
        if arg.startswith("--sweep="):
            arg = "--sweep=" + canonical(arg.removeprefix("--sweep="))
        out.append(canonical(arg) if arg.startswith("--") or (i and argv[i - 1] == "--sweep") else arg)
    return out
