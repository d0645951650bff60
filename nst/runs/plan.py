"""Runs as data: a command line becomes a :class:`Plan` of ordinary runs (sweep variants, each
one run or a chain of coarse-to-fine stages), which :func:`execute` carries out in one loop.

    --sweep model.style_loss=gram,mean_std      -> one variant per value (their product)
    --scales [128,256,400] --steps_per_scale .. -> each variant as stages, each starting from
                                                   the previous stage's final.png, upsampled
Folders: ``<run>/sweep_N/<key=value>/...`` for variants, ``.../multiscale_N/scale_<size>/``
for stages; the sweep's contact sheet and each chain's ``final.png`` go to the group folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from PIL import Image

from nst.errors import ConfigError
from nst.inputs.pairs import collect_pairs
from nst.media.formats import SUFFIXES
from nst.media.video import join_videos, write_gif
from nst.model.schedule import check_sizes
from nst.runs.sweep import label, next_group_dir, split_sweeps, variants, write_contact_sheet


@dataclass(frozen=True)
class Variant:
    """One result: its stages' arguments (coarse to fine; one stage for a plain run), and the
    folder of a coarse-to-fine chain, where its ``final.png`` is copied."""

    label: str
    stages: tuple[tuple[str, ...], ...]
    chain_dir: Path | None = None


@dataclass(frozen=True)
class Plan:
    variants: tuple[Variant, ...]
    sweep_dir: Path | None = None  # a sweep's folder (contact sheet)


def check_scales(scales: list[int], steps_per_scale: list[int] | None) -> None:
    check_sizes(scales, "scales")
    if steps_per_scale is not None and (len(steps_per_scale) != len(scales) or any(n < 1 for n in steps_per_scale)):
        raise ConfigError(
            f"steps_per_scale needs one positive step count per scale ({len(scales)}), got {steps_per_scale}")


def stages(args: list[str], config, run_name: str, name: str = "") -> Variant:
    """Variant ``name``'s runs: ``args`` itself, or one run per scale under a ``multiscale_N``
    folder. Each stage's own config says ``scales: null``: rerunning it makes that stage alone."""
    if not config.scales:
        return Variant(name, (tuple([*args, "--run_name", run_name] if name else args),))
    check_scales(config.scales, config.steps_per_scale)
    chain = next_group_dir(Path(config.output_dir) / run_name, "multiscale")
    runs = []
    for i, size in enumerate(config.scales):
        steps = ["--trainer.max_steps", str(config.steps_per_scale[i])] if config.steps_per_scale else []
        runs.append((*args, "--scales", "null", "--data.size", str(size), *steps,
                     "--run_name", f"{run_name}/{chain.name}/scale_{size}"))
    return Variant(name, tuple(runs), chain)


def build_plan(argv: list[str], parse: Callable) -> Plan:
    """The plan of ``argv``; ``parse(args)`` gives a parsed, not instantiated, CLI."""
    argv, sweeps = split_sweeps(argv)
    chosen = variants(sweeps) if sweeps else [[]]
    overrides = [[f"--{key}={value}" for key, value in variant] for variant in chosen]
    first = parse([*argv, *overrides[0]])
    several = len(collect_pairs(first.config.data.content, first.config.data.style, first.config.data.pairs)) > 1
    if several and sweeps:
        raise ConfigError("--sweep with several pairs: the contact sheet shows one final.png per "
                          "variant. Fix: sweep one pair, then run the chosen settings on all pairs")
    if several and first.config.scales:
        raise ConfigError("scales with several pairs: each stage starts from one final.png. "
                          "Fix: run the pairs one at a time with scales")
    if not sweeps:
        return Plan((stages(argv, first.config, first.run_name),))
    sweep_dir = next_group_dir(Path(first.config.output_dir) / first.run_name)
    planned = []
    for variant, override in zip(chosen, overrides):
        args = [*argv, *override]
        config = first.config if override == overrides[0] else parse(args).config
        planned.append(stages(args, config, f"{first.run_name}/{sweep_dir.name}/{label(variant)}", label(variant)))
    return Plan(tuple(planned), sweep_dir)


def join_timelapses(folders: list[Path], chain_dir: Path, final: Path, options) -> None:
    """A chain's stages' ``timelapse.mp4`` as one clip in its folder, upscaled to the final size."""
    if not options.enabled:
        return
    with Image.open(final) as im:
        size = im.size[::-1]
    path = join_videos([folder / "timelapse.mp4" for folder in folders], chain_dir / "timelapse.mp4", size,
                       Fraction(options.fps))
    if options.gif:
        write_gif(path, path.with_suffix(".gif"), options.gif_size, options.fps)


RAN_BEFORE: list[bool] = []  # whether this process has started a run (a full collection costs ~0.5 s)


def execute(plan: Plan, fit: Callable, stop: Callable[[], bool] = lambda: False):
    """Run every stage with ``fit(args)`` (which returns the fitted CLI), chaining stages
    through ``data.init``; once ``stop()`` is true, a chain ends with the stage it finished.
    Returns the CLI of a plain run, else the path of the result (a chain's final.png or the
    sweep's contact sheet)."""
    results, cli, final = [], None, None
    for variant in plan.variants:
        final, folders = None, []
        for args in variant.stages:
            if final is not None and stop():
                break
            cli = None
            if RAN_BEFORE:  # a run before in this process (a stage, a variant, an API call): its tensors
                release_device_memory()
            RAN_BEFORE.append(True)
            try:
                cli = fit([*args, *(["--data.init", str(final)] if final is not None else [])])
            except ConfigError as e:  # a stage's size is one of scales: say so
                if variant.chain_dir is None or not str(e).startswith("data.size "):
                    raise
                raise ConfigError(f"scales: {str(e).replace('Fix: --data.size', 'Fix: scales from')}") from None
            folders.append(Path(cli.trainer.log_dir))
            final = folders[-1] / f"final{SUFFIXES[cli.config.image_saver.format]}"
        if variant.chain_dir is not None:
            variant.chain_dir.mkdir(parents=True, exist_ok=True)  # a run without a logger made none
            shutil.copyfile(final, variant.chain_dir / final.name)
            final = variant.chain_dir / final.name
            print(f"nst: multi-scale result ({len(variant.stages)} scales): {final}")
            join_timelapses(folders, variant.chain_dir, final, cli.config.timelapse)
        results.append((variant.label, final, folders[-1]))
    if plan.sweep_dir is not None:
        return write_contact_sheet(plan.sweep_dir, results)
    return final if plan.variants[0].chain_dir is not None else cli


def release_device_memory() -> None:
    """Free what finished runs held: their tensors (reference cycles included) and, on a GPU,
    the blocks PyTorch's allocator keeps cached, so that the next run's ``size: auto`` sees them."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
