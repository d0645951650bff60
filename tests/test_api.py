"""The Python API (``nst.stylize``): the same picture as ``train.py``, inputs of every kind,
watching and stopping, one-line errors, nothing written unless asked. Random weights on
purpose (see conftest), 32 px."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

import nst
import train
from nst.errors import ConfigError, ImageError
from nst.media.images import load_image
from tests.conftest import ASSETS

PHOTO, PAINTING = str(ASSETS / "home.jpg"), str(ASSETS / "starry_night.jpg")
TINY = dict(size=32, steps=4, weights="random", style_weight=1e4, precision="32-true", accelerator="cpu",
            **{"trainer.deterministic": True})


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_stylize_makes_the_picture_train_py_makes(tmp_path):
    picture = nst.stylize(PHOTO, PAINTING, **TINY)
    args = ["--data.content", PHOTO, "--data.style", PAINTING, "--data.size", "32", "--trainer.max_steps", "4",
            "--model.weights", "random", "--model.style_weight", "1e4", "--trainer.precision", "32-true",
            "--trainer.accelerator", "cpu", "--trainer.deterministic", "true", "--output_dir", str(tmp_path),
            "--trainer.enable_progress_bar", "false"]
    assert train.main(args) == 0
    [final] = tmp_path.rglob("final.png")
    assert picture.size == (32, 24) and "nst:config" in picture.info
    assert np.array_equal(pixels(picture), pixels(Image.open(final)))


def test_command_line_is_the_same_run(tmp_path):
    line = nst.command_line(PHOTO, PAINTING, size=32, style_weight=1e4, steps=2)
    assert line.startswith("python train.py ") and "--data.size=32" in line and "--model.style_weight=10000.0" in line
    assert "--trainer.max_steps=2" in line


def test_in_memory_inputs_give_the_picture_of_their_files(tmp_path):
    photo = Image.open(PHOTO).convert("RGB")
    by_path = pixels(nst.stylize(PHOTO, PAINTING, **TINY))
    as_array = np.array(photo)
    as_tensor = torch.from_numpy(as_array).permute(2, 0, 1).float() / 255
    for content in (photo, as_array, as_tensor):
        assert np.abs(pixels(nst.stylize(content, PAINTING, **TINY)) - by_path).max() <= 1


def test_progress_every_n_steps_and_stop_keeps_the_current_picture():
    seen = []

    def watch(progress):
        seen.append(progress)
        return progress.step < 2  # False at step 2: stop there

    stopped = nst.stylize(PHOTO, PAINTING, on_progress=watch, progress_every=1, **{**TINY, "steps": 20})
    assert [p.step for p in seen] == [0, 1, 2, 2] and seen[-1].done
    assert all(p.image.size == (32, 24) for p in seen) and seen[1].losses["loss/total"] > 0
    two_steps = nst.stylize(PHOTO, PAINTING, **{**TINY, "steps": 2})
    assert np.array_equal(pixels(stopped), pixels(two_steps))


def test_a_stop_event_set_from_another_thread_ends_the_run():
    stop = threading.Event()
    steps = []

    def watch(progress):
        steps.append(progress.step)
        if progress.step >= 3:
            stop.set()

    nst.stylize(PHOTO, PAINTING, on_progress=watch, progress_every=1, stop=stop, **{**TINY, "steps": 500})
    assert max(steps) <= 4


def test_coarse_to_fine_and_tensor_result():
    stages = []
    image = nst.stylize(PHOTO, PAINTING, scales=[24, 32], steps_per_scale=[2, 2], return_tensor=True,
                        on_progress=lambda p: stages.append((p.stage, p.stages, p.image.size)), **TINY)
    assert image.shape == (1, 3, 24, 32)
    assert (1, 2, (24, 18)) in stages and (2, 2, (32, 24)) in stages


def test_nothing_is_written_unless_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    nst.stylize(PHOTO, PAINTING, **TINY)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["tmp"]
    nst.stylize(PHOTO, PAINTING, output_dir=tmp_path / "runs", **TINY)
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").rglob("final.png"))


@pytest.mark.parametrize("options, error, words", [
    ({"style_wieght": 1.0}, ConfigError, "did you mean style_weight"),
    ({"every_n_steps": 5}, ConfigError, "ambiguous"),
    ({"pooling": "min"}, ConfigError, "pooling"),
])
def test_bad_options_are_one_line_errors(options, error, words):
    with pytest.raises(error) as e:
        nst.stylize(PHOTO, PAINTING, **{**TINY, **options})
    assert words in str(e.value) and "Fix:" in str(e.value) and "\n" not in str(e.value)


def test_a_missing_photo_and_a_non_image_array_are_one_line_errors(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        nst.stylize(str(tmp_path / "nope.jpg"), PAINTING, **TINY)
    with pytest.raises(ConfigError, match="not an image"):
        nst.stylize(np.zeros((5, 5, 7)), PAINTING, **TINY)


def test_a_second_call_reuses_the_loaded_network():
    from nst.objective.network.weights import load_weights

    assert load_weights("random") is load_weights("random")


def test_load_image_accepts_the_api_result():
    image = nst.stylize(PHOTO, PAINTING, return_tensor=True, **TINY)
    assert image.shape[:2] == (1, 3) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert isinstance(load_image(PHOTO), torch.Tensor)


def test_save_keeps_the_config_in_the_png(tmp_path):
    picture = nst.stylize(PHOTO, PAINTING, **TINY)
    path = nst.save(picture, tmp_path / "x.png")
    with Image.open(path) as again:
        assert again.info["nst:config"] == picture.info["nst:config"]
        assert np.array_equal(pixels(again), pixels(picture))


def test_several_styles_with_masks_and_a_config_work_as_on_the_command_line(tmp_path):
    picture = nst.stylize(str(ASSETS / "building.jpg"), [PAINTING, str(ASSETS / "fruits.jpg")], config="masks.yaml",
                          content_masks=[str(ASSETS / "masks" / "building_top.png"),
                                         str(ASSETS / "masks" / "building_bottom.png")], **TINY)
    args = ["--config", "masks.yaml", "--data.size", "32", "--trainer.max_steps", "4", "--model.weights", "random",
            "--model.style_weight", "1e4", "--trainer.precision", "32-true", "--trainer.accelerator", "cpu",
            "--trainer.deterministic", "true", "--output_dir", str(tmp_path), "--trainer.enable_progress_bar", "false"]
    assert train.main(args) == 0
    [final] = tmp_path.rglob("final.png")
    assert np.array_equal(pixels(picture), pixels(Image.open(final)))


def test_tiles_and_video_through_the_api():
    tiled = nst.stylize(PHOTO, PAINTING, tile_size=16, tile_halo=16, **{**TINY, "size": 48, "steps": 2})
    assert tiled.size == (48, 36)
    video = {k: v for k, v in TINY.items() if k != "steps"}  # a video's steps come from its frames
    frames = nst.stylize(str(ASSETS / "tree.avi"), PAINTING, max_frames=2, steps_first_frame=2, steps_per_frame=1,
                         **video)
    assert isinstance(frames, list) and len(frames) == 2 and frames[0].size == (32, 24)
