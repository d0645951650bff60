"""Flicker of a stylised clip, independent frames vs the temporal method (Ruder et al. 2016),
with the same style loss and steps; and seconds per frame with the share spent on the flow.

    python bench/video_flicker.py --size 192 --frames 8 --first 150 --per-frame 60
    python bench/video_flicker.py --size 32 --weights random   (a smoke test)
    ... --reuse --sheet docs/guide/video/video_flicker.png   (the table and the picture again from the runs)
    ... --methods "" --network outputs/fast_starry_cpu/version_0/checkpoints/last.ckpt   (a real-time style's row)

Flicker: the mean absolute difference (0-255) between stylised frame t and stylised frame t-1
warped onto t, over the pixels the content frames' flow trusts (``nst.media.flow.flicker``); also for
the content clip itself, the floor. Style: mean per-frame ``video/style`` (unweighted).
Prints a markdown table; ``--sheet`` writes rows = methods, columns = consecutive frames.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from nst.runs.cli import run  # noqa: E402
from nst.media.flow import Motion, flicker  # noqa: E402
from nst.media.images import load_image, resize_long_side, save_image  # noqa: E402
from nst.media.video import ClipOptions, read_clip  # noqa: E402

METHODS = {
    "independent (content init, no temporal loss)": ["--model.video_init", "content", "--model.temporal_weight", "0"],
    "warped init only": ["--model.temporal_weight", "0"],
    "temporal (warped init + temporal loss)": [],
}


def per_frame(run_dir: Path) -> dict[str, list[float]]:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"] if tag.startswith("video/")}


def clip_flicker(frames: list[torch.Tensor], motions: list[Motion]) -> float:
    return statistics.mean(flicker(frames[t - 1], frames[t], motions[t - 1]) for t in range(1, len(frames)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content", default="assets/tree.avi")
    parser.add_argument("--style", default="assets/starry_night.jpg")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--first", type=int, default=150)
    parser.add_argument("--per-frame", type=int, default=60)
    parser.add_argument("--weights", default="/work/shared/vgg19/vgg19_features.safetensors")
    parser.add_argument("--methods", default=",".join(str(i) for i in range(len(METHODS))))
    parser.add_argument("--output-dir", default="/tmp/nst_video_flicker")
    parser.add_argument("--network", default=None, help="a real-time style (last.ckpt or .onnx): its row, one pass a frame")
    parser.add_argument("--sheet", default=None, help="PNG: rows = methods, columns = frames")
    parser.add_argument("--reuse", action="store_true", help="read runs already in --output-dir")
    parser.add_argument("extra", nargs="*", help="more overrides, e.g. --model.temporal_weight=300")
    a = parser.parse_args()

    fit = lambda f: resize_long_side(f, a.size)  # noqa: E731  the run's own resize
    clip = read_clip(a.content, fit, ClipOptions(a.stride, a.frames), 10**9)
    frames = [clip.frame(i) for i in range(len(clip))]
    motions = [Motion.between(frames[t - 1], frames[t]) for t in range(1, len(frames))]
    rows = [("content clip (the floor)", clip_flicker(frames, motions), float("nan"), float("nan"), float("nan"))]
    chosen = [list(METHODS)[int(i)] for i in a.methods.split(",") if i]
    made = {}
    for i, name in enumerate(chosen):
        args = ["--data.content", a.content, "--data.style", a.style, "--data.size", str(a.size),
                "--data.max_frames", str(a.frames), "--data.frame_stride", str(a.stride),
                "--model.weights", a.weights, "--model.steps_first_frame", str(a.first),
                "--model.steps_per_frame", str(a.per_frame), "--output_dir", a.output_dir,
                "--run_name", f"method_{i}", "--trainer.enable_progress_bar", "false",
                "--image_saver.every_n_steps", "100000", "--eval_metrics.enabled", "false",
                *a.extra, *METHODS[name]]  # the method's own settings win
        run_dir = Path(a.output_dir) / f"method_{i}" / "version_0"
        if not (a.reuse and (run_dir / "final.mp4").is_file()):
            run_dir = Path(run(args).trainer.log_dir)
        made[name] = [load_image(p) for p in sorted((run_dir / "frames").glob("frame_*.png"))]
        logged = per_frame(run_dir)
        later = slice(1, None)  # frame 0 is the same in every method
        seconds = statistics.mean(logged["video/seconds"][later])
        flow = statistics.mean(logged["video/flow_seconds"][later])
        rows.append((name, clip_flicker(made[name], motions), statistics.mean(logged["video/style"][later]),
                     seconds, flow / seconds))
    if a.network:
        name = f"real-time network ({Path(a.network).name}, one pass a frame)"
        made[name], seconds = network_frames(a.network, frames)
        rows.append((name, clip_flicker(made[name], motions), float("nan"), seconds, 0.0))
        chosen.append(name)
    print(f"\n{a.content}, {len(frames)} frames at {a.size} px, {a.first} steps for frame 0, {a.per_frame} per later "
          f"frame, style {a.style}, extra {a.extra}\n")
    print("| method | flicker (0-255) | style loss (frames 1..) | s/frame (frames 1..) | flow share |")
    print("| --- | --- | --- | --- | --- |")
    for name, flick, style, seconds, share in rows:
        print(f"| {name} | {flick:.2f} | {style:.4g} | {seconds:.2f} | {share:.1%} |")
    if a.sheet:
        picture = [torch.cat(frames, -1)]
        for n in chosen:
            picture += [torch.cat(made[n], -1), torch.cat([torch.zeros_like(frames[0])] + changes(made[n], motions), -1)]
        print(f"sheet: {save_image(torch.cat(picture, -2), a.sheet)} (rows: content, then per method: "
              f"{', '.join(chosen)}: its frames, and |frame t - frame t-1 carried to t| x 4 where trusted)")


def network_frames(model: str, frames: list[torch.Tensor]) -> tuple[list[torch.Tensor], float]:
    """Each frame through a trained style (``nst.load_style``), and the mean seconds a frame."""
    from nst.realtime.apply import load_style

    style = load_style(model)
    style(frames[0], return_tensor=True)  # one untimed
    began = time.perf_counter()
    out = [style(frame, return_tensor=True) for frame in frames]
    return out, (time.perf_counter() - began) / len(frames)


def changes(frames: list[torch.Tensor], motions: list[Motion]) -> list[torch.Tensor]:
    """What the motion does not explain, amplified x 4, grey: the flicker, pixel by pixel."""
    return [((frames[t] - motions[t - 1].carry(frames[t - 1])).abs().mean(1, keepdim=True) * 4
             * motions[t - 1].mask).clamp(0, 1).expand(-1, 3, -1, -1) for t in range(1, len(frames))]


if __name__ == "__main__":
    main()
