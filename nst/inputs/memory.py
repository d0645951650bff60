"""``size: auto``: the largest size whose run fits in the device's free memory."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from nst.errors import ConfigError
from nst.hardware import resolve_accelerator
from nst.media.images import MIN_SIDE, scaled_size

# Peak memory per pixel of the generated image, measured by bench/memory.py on CPU (the slope
# of a fresh process's peak RSS between 512 and 1024 px; Gatys layers, Adam, evaluation metrics
# on; docs/performance/benchmarks.md). Keyed by (bf16, activation checkpointing). On CUDA the activations are the
# same tensors; the allocator's and cuDNN's workspace are what SAFETY leaves room for.
BYTES_PER_PIXEL = {
    (False, False): 2933,
    (False, True): 2102,
    (True, False): 2258,
    (True, True): 2158,
}
SAFETY = 0.8  # use at most this share of the free memory
RESERVE = 1 << 30  # and leave this much for the weights, targets and evaluation
# Bytes per pixel of the whole image that a tiled run holds beside the tile's work: the image,
# its gradient, Adam's two moments, the photo, the start, the content target (relu4_2: 32 B/px)
# and the saved images. Measured by bench/tiling.py (the slope of peak RSS over image size with
# a fixed tile; docs/performance/benchmarks.md).
TILED_BYTES_PER_PIXEL = 150
MAX_AUTO_TILE = 2048
TILE_SHARE = 2 << 30  # what size: auto leaves for the tile's work when tiled


def free_memory(accelerator: str) -> int:
    """Bytes the run may still allocate on this device (``cuda:N``: that GPU), counting what
    PyTorch's allocator keeps cached (reserved but not allocated) as free."""
    if accelerator.startswith("cuda"):
        device = torch.device(accelerator)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return torch.cuda.mem_get_info(device)[0] + cached
    if accelerator == "mps":
        return torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return torch.cuda.mem_get_info()[0] if torch.cuda.is_available() else 8 << 30


def tightest_gpu(indices: list[int]) -> str:
    """``cuda:N`` of the selected GPU with the least free memory: every device runs its share."""
    return min((f"cuda:{i}" for i in indices or [0]), key=free_memory)


def auto_size(
    content_hw: tuple[int, int],
    images: int,
    accelerator: str,
    precision: str,
    checkpointing: bool,
    tiled: bool = False,
) -> tuple[int, str]:
    """(long side, a line saying why): the largest size at which ``images`` images of this
    aspect ratio fit, never above the photo's own long side (upscaling adds no detail).
    ``tiled``: only the whole-image buffers count (the tile takes what is left of a 2 GiB share)."""
    device = resolve_accelerator(accelerator)
    free = free_memory(device)
    per_pixel = BYTES_PER_PIXEL[("bf16" in str(precision), bool(checkpointing))]
    budget = free * SAFETY - RESERVE
    if tiled:
        per_pixel, budget = TILED_BYTES_PER_PIXEL, budget - TILE_SHARE
    long_side = largest_fitting(content_hw, images, per_pixel, budget)
    h, w = content_hw
    if long_side < MIN_SIDE * 4:
        raise ConfigError(
            f"size: auto found {free / 2**30:.1f} GiB free on {device}, too little for even "
            f"{MIN_SIDE * 4} px. Fix: free memory, set activation_checkpointing: true, or a size"
        )
    size = min(long_side, max(h, w))
    why = (f"nst: size auto -> {size} px ({free / 2**30:.1f} GiB free on {device}, about "
           f"{per_pixel / 1024:.1f} KiB per pixel for {precision}"
           f"{' with activation checkpointing' if checkpointing else ''}{', tiled' if tiled else ''}; "
           f"{'the photo is ' + str(max(h, w)) + ' px' if size < long_side else 'largest that fits'})")
    return size, why


def largest_fitting(content_hw: tuple[int, int], images: int, per_pixel: float, budget: float) -> int:
    """The long side at which ``images`` images of this aspect ratio take ``budget`` bytes."""
    h, w = content_hw
    pixels = budget / (per_pixel * max(1, images))
    return int(math.sqrt(max(pixels, 0) * max(h, w) / min(h, w)))


def resolve_auto_size(content: str, pairs: int, world: int, accelerator: str, precision: str,
                      checkpointing: bool, max_input_pixels: int, tiled: bool = False) -> int:
    """``size: auto`` for a run of ``pairs`` pairs on ``world`` devices whose first photo is
    ``content``; says what it chose, and why, in one line."""
    from nst.media.images import load_image
    from nst.media.video import ClipOptions, is_video_file, read_clip

    if is_video_file(content):  # a video: its first frame's shape
        photo = read_clip(content, lambda frame: frame, ClipOptions(max_frames=1), max_input_pixels).frame(0)
    else:
        photo = load_image(content, "content image", max_input_pixels)
    size, why = auto_size(tuple(photo.shape[-2:]), math.ceil(pairs / world), accelerator, precision, checkpointing,
                          tiled)
    print(why)
    return size



def auto_tile(pixels: int, accelerator: str, precision: str, checkpointing: bool, halo: int) -> int:
    """``tile_size: auto``: the largest tile (core px, a multiple of 16) whose step fits in the
    free memory beside ``pixels`` pixels of whole-image buffers; says what it chose."""
    device = resolve_accelerator(accelerator)
    free = free_memory(device)
    per_pixel = BYTES_PER_PIXEL[("bf16" in str(precision), bool(checkpointing))]
    budget = free * SAFETY - RESERVE - pixels * TILED_BYTES_PER_PIXEL
    side = int(math.sqrt(max(budget, 0) / per_pixel)) - 2 * halo
    tile = min(MAX_AUTO_TILE, side // 16 * 16)
    if tile < 64:
        raise ConfigError(
            f"tile_size auto found {free / 2**30:.1f} GiB free on {device}: the image's own buffers "
            f"({pixels * TILED_BYTES_PER_PIXEL / 2**30:.1f} GiB) leave no room for a 64 px tile. "
            "Fix: a smaller data.size, or free memory")
    print(f"nst: tile_size auto -> {tile} px ({free / 2**30:.1f} GiB free on {device}; halo {halo} px)")
    return tile


def check_fits(content_hw: tuple[int, int], images: int, device: str, precision: str, checkpointing: bool,
               tiled: bool, size: int) -> None:
    """Refuse, before anything is loaded, a CPU run whose ``images`` images of ``size`` px
    cannot fit in the free memory, naming the size that fits (the measured cost per pixel)."""
    if device != "cpu":  # a GPU's own out-of-memory error says its one line (nst.runs.cli)
        return
    free = free_memory(device)
    h, w = scaled_size(*content_hw, size)
    per_pixel = TILED_BYTES_PER_PIXEL if tiled else BYTES_PER_PIXEL[("bf16" in str(precision), bool(checkpointing))]
    extra = RESERVE + (TILE_SHARE if tiled else 0)
    need = h * w * per_pixel * max(1, images) + extra
    if need <= free * SAFETY:
        return
    fits = largest_fitting(content_hw, images, per_pixel, free * SAFETY - extra)
    tile = "" if tiled else ", or --model.tile_size auto (memory follows the tile)"
    raise ConfigError(
        f"data.size {size} needs about {need / 2**30:.1f} GiB of memory on {device} ({h}x{w} px, "
        f"{per_pixel / 1024:.2f} KiB per pixel, {images} image(s)), and {free / 2**30:.1f} GiB are free. "
        f"Fix: --data.size {fits} (the largest that fits){tile}")
