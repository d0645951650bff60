"""Seconds per video frame and the share spent on the optical flow, at several sizes.

    python bench/video_speed.py --sizes 256 512 --steps 5 --rounds 3
    python bench/video_speed.py --flow-only      (accuracy and speed of DIS presets and Farneback)

A later frame costs ``steps_per_frame`` optimisation steps plus one ``Motion.between`` (DIS flow
forward and backward, the consistency mask) plus writing the frame. Steps and flow are timed
interleaved in one process (A B A B: the CPU is shared), median of ``rounds``; s/frame is given
for ``--per-frame`` steps. Real VGG19 weights, Adam, fp32, the bundled tree.avi and Starry Night.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.media.flow import Motion  # noqa: E402
from nst.media.images import load_image, resize_long_side  # noqa: E402
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective  # noqa: E402
from nst.media.video import ClipOptions, read_clip  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402


def flow_table(sizes: list[int], repeats: int = 10) -> None:
    """Accuracy and speed of the flows OpenCV offers without weights, on the bundled building
    photo panned by (3, 2) px (the true backward flow), interior (16 px margin) errors."""
    import cv2

    from nst.media.flow import dis, gray_uint8

    photo = resize_long_side(load_image("assets/building.jpg"), 700)
    truth = torch.tensor([3.0, 2.0]).view(1, 2, 1, 1)
    farneback = lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # noqa: E731
    methods = {f"DIS {p}": (lambda p: lambda a, b: dis(p).calc(a, b, None))(p) for p in ("ultrafast", "fast", "medium")}
    methods["Farneback"] = farneback
    print("| flow | " + " | ".join(f"mean / max error, ms at {s} px" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for name, method in methods.items():
        cells = []
        for size in sizes:
            h = size * 3 // 4
            a = gray_uint8(photo[..., 12:12 + h, 13:13 + size])  # frame t: the window moved by (3, 2)
            b = gray_uint8(photo[..., 10:10 + h, 10:10 + size])  # frame t-1
            flow = torch.from_numpy(method(a, b)).permute(2, 0, 1)[None]
            error = (flow - truth)[..., 16:-16, 16:-16].norm(dim=1)
            began = time.perf_counter()
            for _ in range(repeats):
                method(a, b)
            ms = (time.perf_counter() - began) / repeats * 1000
            cells.append(f"{error.mean():.2f} / {error.max():.2f} px, {ms:.1f} ms")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=5, help="steps per timing round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-frame", type=int, default=60, help="steps_per_frame for the s/frame column")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--weights", default="/work/shared/vgg19/vgg19_features.safetensors")
    parser.add_argument("--flow-only", action="store_true", help="only the table of flow methods")
    a = parser.parse_args()
    flow_table(a.sizes)
    if a.flow_only:
        return
    definition = LossDefinition.from_config()
    vgg = VGGFeatures(load_weights(a.weights), definition.layers)
    style_photo = load_image("assets/starry_night.jpg")
    print(f"torch threads {torch.get_num_threads()}, Adam fp32, DIS preset {a.preset}, median of {a.rounds} rounds\n")
    print("| size | s/step | flow s/frame | s/frame at", a.per_frame, "steps | flow share |")
    print("| --- | --- | --- | --- | --- |")
    for size in a.sizes:
        clip = read_clip("assets/tree.avi", lambda f: resize_long_side(f, size), ClipOptions(1, 2), 10**9)
        first, second = clip.frame(0), clip.frame(1)
        objective = StyleObjective.build(vgg, definition, second, (resize_long_side(style_photo, size),),
                                         LossWeights(*definition.default_weights()))
        image = torch.nn.Parameter(first.clone())
        optimizer = torch.optim.Adam([image], lr=0.02)
        step_times, flow_times = [], []
        for _ in range(a.rounds):
            began = time.perf_counter()
            for _ in range(a.steps):
                optimizer.zero_grad()
                objective(image)["total"].backward()
                optimizer.step()
            step_times.append((time.perf_counter() - began) / a.steps)
            began = time.perf_counter()
            Motion.between(first, second, a.preset)
            flow_times.append(time.perf_counter() - began)
        step, flow = statistics.median(step_times), statistics.median(flow_times)
        frame = a.per_frame * step + flow
        print(f"| {size}x{size * 3 // 4} | {step:.3f} | {flow:.3f} | {frame:.1f} | {flow / frame:.2%} |")


if __name__ == "__main__":
    main()
