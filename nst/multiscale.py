"""Coarse-to-fine: optimise at each size of ``scales``, each stage starting from the previous
stage's result, upsampled (Gatys et al. 2017; jcjohnson's multires recipes).

    python train.py --config starry.yaml --scales [128,256,512] --steps_per_scale [300,200,100]

Each stage is an ordinary run in ``<output_dir>/<run_name>/multiscale_N/scale_<size>/version_0/``
(its images, TensorBoard events, checkpoint); the last stage's ``final.png`` is the result and
is also copied to ``multiscale_N/final.png``. The image carries over between stages; the
optimiser starts fresh at each scale (its moments belong to the old pixel grid).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nst.errors import ConfigError
from nst.sweep import next_group_dir


def check_scales(scales: list[int], steps_per_scale: list[int] | None) -> None:
    if not scales or any(s < 16 for s in scales) or list(scales) != sorted(scales):
        raise ConfigError(f"scales must be increasing sizes >= 16 px, got {scales}")
    if steps_per_scale is not None and (
        len(steps_per_scale) != len(scales) or any(n < 1 for n in steps_per_scale)
    ):
        raise ConfigError(
            f"steps_per_scale needs one positive step count per scale ({len(scales)}), got {steps_per_scale}"
        )


def run_multiscale(argv: list[str], probe, run) -> Path:
    """Run the stages with ``run(args)`` (``nst.cli.run``); ``probe`` is the parsed first CLI."""
    scales, steps = probe.config.scales, probe.config.steps_per_scale
    check_scales(scales, steps)
    if probe.model.several_pairs:
        raise ConfigError("scales with several pairs: each stage starts from one final.png. "
                          "Fix: run the pairs one at a time with scales")
    group = next_group_dir(Path(probe.config.output_dir) / probe.run_name, "multiscale")
    previous = None
    for i, size in enumerate(scales):
        overrides = ["--scales", "null", "--model.size", str(size),
                     "--run_name", f"{probe.run_name}/{group.name}/scale_{size}"]
        if steps is not None:
            overrides += ["--trainer.max_steps", str(steps[i])]
        if previous is not None:
            overrides += ["--model.init", str(previous)]
        cli = run([*argv, *overrides])
        previous = Path(cli.trainer.log_dir) / "final.png"
    shutil.copyfile(previous, group / "final.png")
    print(f"nst: multi-scale result ({' -> '.join(map(str, scales))} px): {group / 'final.png'}")
    return group / "final.png"
