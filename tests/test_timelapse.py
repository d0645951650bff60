"""The time-lapse: timelapse.mp4 (and .gif) of the picture forming, decoded back with PyAV."""

from __future__ import annotations

import av
import numpy as np
from PIL import Image

import train
from tests.conftest import tiny_args


def test_a_coarse_to_fine_run_makes_a_playable_timelapse_at_the_final_size(tmp_path):
    args = tiny_args(tmp_path, "--timelapse.enabled", "true", "--timelapse.every_n_steps", "2",
                     "--timelapse.gif", "true", "--model.stages", "[32,64]", steps=7, size=64)
    assert train.main(args) == 0
    run_dir = tmp_path / "outputs" / "home_starry_night" / "version_0"
    with av.open(str(run_dir / "timelapse.mp4")) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert stream.average_rate == 10
    assert len(frames) == 5  # steps 0, 2, 4, 6 and the final step 7
    assert all(frame.shape == (48, 64, 3) for frame in frames)  # the 32 px stage upscaled to 64 px
    final = np.asarray(Image.open(run_dir / "final.png").convert("RGB"), float)
    corner = (slice(0, 24), slice(32, 64))  # away from the step label in the bottom-left corner
    assert np.abs(frames[-1][corner] - final[corner]).mean() < 6  # the last frame is the result (H.264, crf 18)
    assert np.abs(frames[0][corner] - final[corner]).mean() > np.abs(frames[-2][corner] - final[corner]).mean()
    label = frames[0][-12:, :20].astype(float)  # white text on black
    assert label.min() < 40 and label.max() > 200
    with Image.open(run_dir / "timelapse.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (64, 48)


def test_no_timelapse_unless_asked(tmp_path):
    assert train.main(tiny_args(tmp_path, steps=2)) == 0
    assert not list((tmp_path / "outputs").rglob("timelapse.*"))


def test_a_chain_of_scales_joins_its_stages_timelapses_at_the_final_size(tmp_path):
    args = tiny_args(tmp_path, "--timelapse.enabled", "true", "--timelapse.every_n_steps", "1",
                     "--scales", "[32,48]", "--steps_per_scale", "[2,3]", "--run_name", "chain")
    assert train.main(args) == 0
    chain = tmp_path / "outputs" / "chain" / "multiscale_0"
    counts = []
    for clip in (chain / "scale_32" / "version_0" / "timelapse.mp4", chain / "scale_48" / "version_0" / "timelapse.mp4",
                 chain / "timelapse.mp4"):
        with av.open(str(clip)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        counts.append(len(frames))
    assert counts == [3, 4, 7]  # steps 0-2 at 32 px, then 0-3 at 48 px, one after the other
    assert frames[0].shape == (36, 48, 3)  # the 32 px stage upscaled to the final 48x36
