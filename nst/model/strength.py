"""Strength that carries across resolutions (``strength_reference_size``): scale β so that the
style-to-content gradient ratio at the run's size equals the one at a reference size."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_info

from nst.inputs.pair import Pair
from nst.objective.losses import STYLE_LOSSES
from nst.objective.network.weights import cache_dir
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective

NOISE_SHARE = 0.6  # the measuring start: the seeds' noisy content, seeded


def balance(objective: StyleObjective, content: torch.Tensor, seed: int) -> float:
    """The objective's style/content gradient-norm ratio at a fixed noisy start image."""
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(seed))
    image = torch.lerp(content, noise, NOISE_SHARE).to(objective.vgg.mean.device)
    return objective.style_content_ratio(image)


def strength_factor(objective: StyleObjective, definition: LossDefinition, pair: Pair, reference_size: int) -> float:
    """The factor for β that makes ``pair`` at its size keep the balance of ``reference_size``
    (measured there once per pair: the stages of a run share it; and kept on disk, so that the
    next run of the same photo, painting and definition skips the pass at the reference size)."""
    if reference_size not in pair.balances:
        reference = pair.resized(reference_size)
        key = balance_key(objective, definition, reference, pair)
        known = read_balances().get(key)
        if known is None:
            at_reference = StyleObjective.build(objective.vgg, definition, reference.content, reference.styles,
                                                objective.weights, pair.blend, pair.masks, pair.seed)
            known = balance(at_reference, reference.content, pair.seed)
            remember_balance(key, known)
        pair.balances[reference_size] = known
    return pair.balances[reference_size] / balance(objective, pair.target_content, pair.seed)


MAX_BALANCES = 512  # the newest kept


def balances_file() -> Path:
    """Measured balances by what they read: ``$NST_BALANCES``, else in the weights' cache folder."""
    return Path(os.environ.get("NST_BALANCES") or cache_dir() / "balances.json")


def balance_key(objective: StyleObjective, definition: LossDefinition, reference: Pair, pair: Pair) -> str:
    """Everything the measurement at the reference size reads: the images there, masks and blend,
    the definition, weights and seed, the network's weights, and the kernels that compute it."""
    digest = hashlib.sha256()
    tensors = [reference.content, *reference.styles, *(m for masks in (pair.masks or []) for m in masks),
               *(p.detach() for p in objective.vgg.parameters())]
    for tensor in tensors:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    digest.update(repr((definition, objective.weights, sorted(pair.blend.items()), pair.seed, NOISE_SHARE,
                        str(objective.vgg), torch.__version__, torch.backends.cpu.get_cpu_capability(),
                        torch.get_num_threads(), str(objective.vgg.mean.device))).encode())
    return digest.hexdigest()


def read_balances() -> dict[str, float]:
    try:
        return json.loads(balances_file().read_text())
    except (OSError, ValueError):
        return {}


def remember_balance(key: str, value: float) -> None:
    """Add one measurement (atomically: a temp file and a rename; a failure only costs the next
    run the pass again)."""
    balances = read_balances()
    balances[key] = value
    path = balances_file()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(dict(list(balances.items())[-MAX_BALANCES:])))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def keep_balance_of(reference_size: int, pair: Pair, definition: LossDefinition, name_it: bool = False) -> None:
    """Scale β of ``pair``'s objective so that its size keeps the balance of ``reference_size``.

    Measuring costs one pass at the reference size. For a loss whose cost grows with the square
    of the pixels (``mrf``) a preview below the reference would pay for that pass what it pays
    for its whole run (measured, starry.yaml with mrf at 96 px: 188 s for the pass at 400 px,
    0.75 s per step), so there the measurement is skipped and said."""
    size = max(pair.content.shape[-2:])
    if reference_size == size:
        return
    if reference_size > size and STYLE_LOSSES[definition.style_loss].quadratic_cost:
        rank_zero_info(f"nst: strength_reference_size {reference_size} skipped: {definition.style_loss}'s cost grows "
                       f"with the square of the pixels, so measuring at {reference_size} px would cost this {size} px "
                       "preview about as much as its own steps; style_weight stays as given")
        return
    factor = strength_factor(pair.objective, definition, pair, reference_size)
    w = pair.objective.weights
    pair.objective.weights = LossWeights(w.content, w.style * factor, w.tv)
    who = f"{pair.name}: " if name_it else ""
    rank_zero_info(f"nst: {who}style_weight x {factor:.3g} = {w.style * factor:.4g}, so that "
                   f"{size} px keeps the balance of {reference_size} px")


def stage_side(pair: Pair, fraction: float) -> int:
    """``pair``'s long side at a stage ``fraction`` of the run's size (1: its own)."""
    own = max(pair.content.shape[-2:])
    return own if fraction == 1 else max(16, round(own * fraction))


def build_objectives(pairs: list[Pair], fraction: float, vgg, definition: LossDefinition, weights: LossWeights,
                     reference_size: int | None, tiling=None) -> None:
    """Every pair's objective with targets at ``fraction`` of its size (1, or a coarse stage's),
    keeping the balance of ``reference_size`` when given."""
    for pair in pairs:
        at_size = pair if fraction == 1 else pair.resized(stage_side(pair, fraction))
        at_size.objective = StyleObjective.build(vgg, definition, at_size.target_content, at_size.target_styles,
                                                 weights, pair.blend, pair.masks, pair.seed, tiling)
        if reference_size:
            keep_balance_of(reference_size, at_size, definition, len(pairs) > 1)
        pair.objective = at_size.objective
