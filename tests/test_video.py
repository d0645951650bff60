"""Video content (nst.media.video, nst.model.temporal, callbacks.video_frames): clips in and out, the
frame-by-frame run with its outputs, flicker with and without the temporal loss, bad input,
interruption and resume. Random VGG weights on purpose (see tests.conftest), tiny frames."""

from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch
from lightning.pytorch import Callback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from nst.runs.cli import NSTCLI, run
from nst.media.flow import Motion, flicker
from nst.media.images import load_image, resize_long_side, save_image
from nst.media.video import Clip, ClipOptions, read_clip, write_video
from tests.conftest import ASSETS, panned_frames, tiny_overrides
from tests.test_cli import one_line_error

FPS = Fraction(12)


def make_clip(path: Path, frames: int = 4, **pan) -> str:
    write_video([(f[0] * 255).round().to(torch.uint8) for f in panned_frames(frames, **pan)], path, FPS)
    return str(path)


def video_args(tmp_path: Path, content: str, *extra: str, first: int = 6, per_frame: int = 3) -> list[str]:
    return ["--content", content, "--style", str(ASSETS / "starry_night.jpg"),
            *tiny_overrides(tmp_path, "--model.steps_first_frame", str(first), "--model.steps_per_frame",
                            str(per_frame), *extra, size=48)]


def decoded(path: Path) -> tuple[int, Fraction, tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, Fraction(stream.average_rate), (stream.height, stream.width)


def test_clip_round_trip_keeps_frames_rate_and_selection(tmp_path):
    clip = make_clip(tmp_path / "pan.mp4", frames=6)
    assert decoded(Path(clip)) == (6, FPS, (48, 64))
    every = read_clip(clip, lambda f: f, ClipOptions(), 10**6)
    assert len(every) == 6 and every.fps == FPS and every.frames.dtype == torch.uint8
    assert (every.frame(0) - panned_frames(1)[0]).abs().mean() < 0.02  # H.264 at crf 18: close
    strided = read_clip(clip, lambda f: f, ClipOptions(frame_stride=2, max_frames=2), 10**6)
    assert len(strided) == 2 and strided.fps == FPS / 2 and torch.equal(strided.frames[1], every.frames[2])
    later = read_clip(clip, lambda f: f, ClipOptions(start_time=0.25, end_time=0.45), 10**6)
    assert torch.equal(later.frames, every.frames[3:6])  # t = 3/12, 4/12, 5/12 s


def scalars(run_dir: Path) -> dict[str, list[float]]:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_short_form_writes_final_mp4_frames_and_per_frame_scalars(tmp_path):
    clip = make_clip(tmp_path / "pan.mp4", frames=4)
    assert train.main(video_args(tmp_path, clip)) == 0
    run_dir = tmp_path / "outputs" / "pan_starry_night" / "version_0"
    assert decoded(run_dir / "final.mp4") == (4, FPS, (36, 48))
    assert sorted(p.name for p in (run_dir / "frames").iterdir()) == [f"frame_{i:05d}.png" for i in range(4)]
    logged = scalars(run_dir)
    assert len(logged["video/content"]) == 4 and len(logged["video/flicker"]) == 3
    assert len(logged["video/temporal"]) == 3 and all(v >= 0 for v in logged["video/temporal"])
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and not list(run_dir.rglob("last-v*.ckpt"))


def clip_flicker(frames_dir: Path, clip: Clip) -> float:
    """Mean flicker of stylised frames, with the flow of the content frames."""
    made = [load_image(p) for p in sorted(frames_dir.glob("frame_*.png"))]
    return sum(flicker(made[t - 1], made[t], Motion.between(clip.frame(t - 1), clip.frame(t)))
               for t in range(1, len(made))) / (len(made) - 1)


def test_temporal_method_flickers_less_than_independent_frames(tmp_path):
    path = make_clip(tmp_path / "pan.mp4", frames=3)
    clip = read_clip(path, lambda f: resize_long_side(f, 48), ClipOptions(), 10**6)  # as the run resizes
    results = {}
    for name, extra in {"independent": ["--model.video_init", "content", "--model.temporal_weight", "0"],
                        "temporal": []}.items():
        args = video_args(tmp_path, path, "--run_name", name, *extra, first=12, per_frame=6)
        assert train.main(args) == 0
        results[name] = clip_flicker(tmp_path / "outputs" / name / "version_0" / "frames", clip)
    print(results)
    assert results["temporal"] < results["independent"] / 2, results


class Interrupt(Callback):
    def __init__(self, at_step):
        self.at_step = at_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.at_step:
            raise KeyboardInterrupt


def test_interrupted_video_keeps_frames_and_partial_video_and_resumes(tmp_path):
    clip = make_clip(tmp_path / "pan.mp4", frames=4)
    args = video_args(tmp_path, clip, "--run_name", "cut")  # frames end at steps 6, 9, 12, 15
    cli = NSTCLI(train.rewrite_argv(args))
    cli.trainer.callbacks.append(Interrupt(10))  # in frame 2
    with pytest.raises(SystemExit):
        cli.fit()
    run_dir = Path(cli.trainer.log_dir)
    assert decoded(run_dir / "interrupted.mp4")[0] == 2
    finished = {p.name: p.stat().st_mtime_ns for p in (run_dir / "frames").glob("*.png")}
    assert sorted(finished) == ["frame_00000.png", "frame_00001.png"]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 10  # mid frame 2
    resumed = run(train.rewrite_argv([*args, "--ckpt_path", "last"]))
    assert resumed.trainer.global_step == 15 and Path(resumed.trainer.log_dir) == run_dir
    assert decoded(run_dir / "final.mp4")[0] == 4
    assert all((run_dir / "frames" / name).stat().st_mtime_ns == t for name, t in finished.items())  # kept as made


def test_several_videos_and_a_folder_of_frames_with_preserved_colour(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    make_clip(videos / "a.mp4", frames=2)
    make_clip(videos / "b.avi", frames=3, step=(1, 0))
    frames = tmp_path / "frames"
    for i, frame in enumerate(panned_frames(3)):
        save_image(frame, frames / f"{i:03d}.png")
    assert train.main(video_args(tmp_path, str(videos), "--data.preserve_color", "luminance",
                                 "--run_name", "two")) == 0
    for name, count in (("a__starry_night", 2), ("b__starry_night", 3)):
        assert decoded(tmp_path / "outputs" / "two" / "version_0" / name / "final.mp4")[0] == count
    assert train.main(video_args(tmp_path, str(frames), "--data.frames_folder", "true", "--model.max_frames", "2",
                                 "--run_name", "folder")) == 0
    count, fps, _ = decoded(tmp_path / "outputs" / "folder" / "version_0" / "final.mp4")
    assert count == 2 and fps == 25


def write_text(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


BAD_VIDEOS = {
    "unreadable": (lambda d: write_text(d / "x.mp4", "not a video at all"), [], "cannot read content video"),
    "no frames in range": (lambda d: make_clip(d / "c.mp4", 2), ["--data.start_time", "10"], "no frames"),
    "huge frames": (lambda d: make_clip(d / "c.mp4", 2), ["--data.max_input_pixels", "1000"], "over the limit"),
    "missing": (lambda d: str(d / "nope.mp4"), [], "does not exist"),
    "converged": (lambda d: make_clip(d / "c.mp4", 2), ["--converged.tolerance", "0.01"], "steps_per_frame"),
}


@pytest.mark.parametrize("case", BAD_VIDEOS)
def test_bad_video_is_one_line(tmp_path, capsys, case):
    make, extra, message = BAD_VIDEOS[case]
    assert train.main(video_args(tmp_path, make(tmp_path), *extra)) == 2
    line = one_line_error(capsys)
    assert message in line and "Fix:" in line


def test_video_as_style_is_refused_with_a_fix(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mp4", 2)
    args = [*video_args(tmp_path, clip), "--style", clip]
    assert train.main(args) == 2
    assert "is a video; a style is one painting" in one_line_error(capsys)
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.png"))


def test_size_auto_reads_a_videos_first_frame(tmp_path):
    from nst.inputs.memory import resolve_auto_size

    clip = make_clip(tmp_path / "c.mp4", 2)  # 64x48
    assert resolve_auto_size(clip, 1, 1, "cpu", "32-true", False, 10**6) == 64  # never above the video's own size
