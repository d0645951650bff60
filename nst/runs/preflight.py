"""What a run can be refused for before it does any work, and before DDP starts more processes
(so that each problem is said once, not once per device): pairs per device, every size knob
against the network's deepest layer, and the memory the size needs. Only file headers are
read; nothing is loaded."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from nst.errors import ConfigError
from nst.inputs.memory import check_fits
from nst.inputs.pairs import expand_images, shard
from nst.media.images import header_size, scaled_size
from nst.media.video import is_video_file, video_size
from nst.model.schedule import plan_stages
from nst.objective.metrics import EVAL_LAYERS
from nst.objective.network.layers import min_side
from nst.objective.network.weights import load_weights
from nst.objective.tiles import round_up


@dataclass(frozen=True)
class Need:
    """The smallest short side (px) every image must keep, and why."""

    side: int
    why: str  # e.g. "relu5_1 (style_layers)"


def check_run(trainer, model, datamodule, eval_metrics: bool) -> None:
    """Everything below, for a built but not started run (``nst.runs.cli``)."""
    specs, options = datamodule.specs, datamodule.options
    if trainer.fast_dev_run:  # Lightning's debugging mode replaces the logger that names the run's folder
        raise ConfigError("trainer.fast_dev_run runs without the logger that names the output folder. "
                          "Fix: --trainer.max_steps 1 for a quick run")
    if trainer.accumulate_grad_batches < 1:  # Lightning divides by it at the first step
        raise ConfigError(f"trainer.accumulate_grad_batches {trainer.accumulate_grad_batches}: it must be 1 or more "
                          "(one step is one pass over the image). Fix: --trainer.accumulate_grad_batches 1")
    check_nodes(trainer)
    world = max(1, trainer.world_size)
    shard(len(specs), 0, world)  # every device needs a pair: said here once, not by each device
    h = model.hparams
    if world > 1:  # missing or wrong weights: said once, and a download made once, not by every device
        load_weights(h.weights)
    stages = plan_stages(h.stages, options.size, trainer.max_steps, h.final_stage_share) if h.stages is not None else []
    need = network_need(model.definition, eval_metrics and h.tile_size is None)
    for spec in specs:
        content = content_size(spec.content, options.frames_folder)
        styles = [header_size(s) for s in spec.styles]
        if content:
            check_sizes(need, content, styles, options, h.strength_reference_size, [s for s, _ in stages])
    if h.tile_size is not None and round_up(h.tile_halo) + 1 < need.side:
        raise ConfigError(f"model.tile_halo {h.tile_halo} can leave a tile {round_up(h.tile_halo) + 1} px wide at the "
                          f"image's edge, too small for {need.why}, which needs {need.side} px. Fix: "
                          f"--model.tile_halo {need.side} or more")
    first = content_size(specs[0].content, options.frames_folder)
    if first:
        device = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()  # CPUAccelerator: cpu
        check_fits(first, math.ceil(len(specs) / world), device, str(trainer.precision),
                   h.activation_checkpointing, h.tile_size is not None, options.size)
    if world > 1 and not COMMAND_LINE["this"]:
        raise ConfigError(f"{world} devices start {world} processes, each running this command line again, "
                          "which only python train.py (or nst) can do, not a call from Python. Fix: run it as "
                          "python train.py ... (nst.command_line(...) prints it), or --trainer.devices 1")


# whether this run is the process's own command line (python train.py, nst), which Lightning's DDP
# launcher runs again for every further device; set by nst.runs.main, false for calls from Python
COMMAND_LINE = {"this": False}

# as the process was started: Lightning's own launcher sets both in os.environ for its children,
# so a later look inside one process that already ran DDP (the API, the tests) would be fooled
STARTED_AS_A_NODE = {"NODE_RANK", "MASTER_ADDR"} <= set(os.environ)


def check_nodes(trainer) -> None:
    """Several machines need each process started as one of them (torchrun, SLURM, or NODE_RANK
    and MASTER_ADDR set by hand on each); else the run waits 30 minutes for nodes that never come."""
    if trainer.num_nodes < 2:
        return
    started_by_hand = type(getattr(trainer.strategy, "cluster_environment", None)).__name__ == "LightningEnvironment"
    if started_by_hand and not STARTED_AS_A_NODE:
        raise ConfigError(f"trainer.num_nodes {trainer.num_nodes} asks for {trainer.num_nodes} machines, but this "
                          "process was not started as one of them (no NODE_RANK and MASTER_ADDR, not torchrun or "
                          "SLURM): it would wait 30 minutes for the others. Fix: --trainer.num_nodes 1, or start it "
                          "on every node with NODE_RANK, MASTER_ADDR and MASTER_PORT set")


def network_need(definition, eval_metrics: bool) -> Need:
    """The side that VGG19's deepest used layer needs (and ``mrf``'s patches at its layers)."""
    sources = {**{n: "content_layers" for n in definition.content_layers},
               **{n: "style_layers" for n in definition.style_layers}}
    if eval_metrics:
        sources = {**{n: "eval_metrics" for n in EVAL_LAYERS}, **sources}
    side, deepest = min_side(list(sources))
    need = Need(side, f"{deepest} ({sources[deepest]})")
    if definition.style_loss == "mrf":
        patch = int(definition.style_loss_options.get("patch_size", 3))
        mrf_side, layer = min_side(list(definition.style_layers), patch)
        if mrf_side > side:
            need = Need(mrf_side, f"mrf's {patch}x{patch} patches at {layer}")
    return need


def content_size(content: str, frames_folder: bool) -> tuple[int, int] | None:
    """(h, w) of a content photo, video or first frame, from its header (``None``: unreadable,
    which loading will say)."""
    if frames_folder:
        frames = expand_images(content, "content frames")
        return header_size(frames[0]) if frames else None
    return video_size(content) if is_video_file(content) else header_size(content)


def check_sizes(need: Need, content: tuple[int, int], styles, options, reference_size, stage_sizes) -> None:
    """Each size knob's images against ``need``: the photo at ``size``, ``scales`` and
    ``model.stages``, at ``strength_reference_size``; each painting at its long side."""
    check_side(need, "data.size", options.size, content, "content image")
    for style in filter(None, styles):
        knob = "data.style_size" if options.style_size is not None else "data.style_scale"
        smallest = check_side(need, knob, options.style_long_side, style, "style image", quiet=True)
        if smallest is not None and knob == "data.style_scale":
            scale = math.ceil(smallest / options.size * 100) / 100
            raise too_small(need, knob, options.style_scale, style, options.style_long_side, "style image",
                            f"{scale:g}")
        if smallest is not None:
            raise too_small(need, knob, options.style_size, style, options.style_long_side, "style image",
                            str(smallest))
    for size in stage_sizes:
        check_side(need, "model.stages", size, content, "content image", fix="a first stage of {} px or more")
    if reference_size:
        check_side(need, "model.strength_reference_size", reference_size, content, "content image")


def check_side(need: Need, knob: str, long_side: int, hw: tuple[int, int], what: str, quiet: bool = False,
               fix: str = ""):
    """Raise (or, ``quiet``, return the smallest long side that works) when ``hw`` at
    ``long_side`` has a short side under ``need.side``."""
    if min(scaled_size(*hw, long_side)) >= need.side:
        return None
    smallest = smallest_long_side(hw, need.side)
    if quiet:
        return smallest
    raise too_small(need, knob, long_side, hw, long_side, what, str(smallest), fix)


def smallest_long_side(hw: tuple[int, int], short: int) -> int:
    """The smallest long side at which ``hw`` keeps a short side of ``short`` px."""
    side = math.ceil(short * max(hw) / min(hw))
    while side > 1 and min(scaled_size(*hw, side - 1)) >= short:
        side -= 1
    while min(scaled_size(*hw, side)) < short:
        side += 1
    return side


def too_small(need: Need, knob: str, value, hw, long_side: int, what: str, smallest: str,
              fix: str = "") -> ConfigError:
    h, w = scaled_size(*hw, long_side)
    fix = fix.format(smallest) if fix else f"--{knob} {smallest} or more"
    return ConfigError(f"{knob} {value} makes the {what} {w}x{h} px, too small for {need.why}, which needs "
                       f"{need.side} px on the short side. Fix: {fix} (the smallest that works), or shallower layers")
