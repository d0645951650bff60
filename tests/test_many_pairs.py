"""Many (content, style) pairs in one run: which pairs, batching, outputs, and DDP on CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train
from conftest import ASSETS, PROJECT, tiny_overrides
from nst.cli import run
from nst.errors import ConfigError
from nst.pairs import collect_pairs, shard


@pytest.fixture()
def styles(tmp_path) -> Path:
    folder = tmp_path / "styles"
    folder.mkdir()
    for name in ("starry_night.jpg", "fruits.jpg"):
        shutil.copy(ASSETS / name, folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def test_contents_times_styles_from_glob_and_folder(styles):
    specs = collect_pairs(str(ASSETS / "[bh]*.jpg"), str(styles))
    assert [s.name for s in specs] == ["building__fruits", "building__starry_night",
                                       "home__fruits", "home__starry_night"]
    assert all(len(s.styles) == 1 for s in specs)
    blend = collect_pairs(str(ASSETS / "home.jpg"), [str(styles / "fruits.jpg"), str(styles / "starry_night.jpg")])
    assert len(blend) == 1 and len(blend[0].styles) == 2  # a list is one blended style


def test_manifest_rows_relative_paths_names_and_blends(tmp_path):
    manifest = tmp_path / "pairs.csv"
    rel = os.path.relpath(ASSETS, tmp_path)
    manifest.write_text(
        "content,style,name\n"
        f"{rel}/home.jpg,{rel}/starry_night.jpg,night\n"
        f"{rel}/home.jpg,{rel}/starry_night.jpg|{rel}/fruits.jpg,\n"
        f"{rel}/home.jpg,{rel}/starry_night.jpg,night\n"
    )
    specs = collect_pairs(None, None, str(manifest))
    assert [s.name for s in specs] == ["night", "home__starry_night+fruits", "night_2"]
    assert Path(specs[0].content).resolve() == (ASSETS / "home.jpg").resolve()
    assert len(specs[1].styles) == 2


@pytest.mark.parametrize("bad, message", [
    ("content,painting\na.jpg,b.jpg\n", "header line"),
    ("content,style\na.jpg,\n", "line 2: empty content or style"),
])
def test_bad_manifests_say_what_to_fix(tmp_path, bad, message):
    (tmp_path / "m.csv").write_text(bad)
    with pytest.raises(ConfigError, match=message):
        collect_pairs(None, None, str(tmp_path / "m.csv"))


def test_no_matching_images_and_too_many_devices_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="matches no image files"):
        collect_pairs(str(tmp_path / "*.jpg"), str(ASSETS / "starry_night.jpg"))
    assert shard(5, 1, 2) == [1, 3] and shard(5, 0, 2) == [0, 2, 4]
    with pytest.raises(ConfigError, match="every device needs at least one"):
        shard(1, 0, 2)


def test_batch_of_pairs_equals_each_pair_run_alone(tmp_path, styles):
    """Two pairs of one size are one 2-image parameter; each image ends exactly as in its own
    one-pair run (losses are per image and summed), and the outputs are named after the pair."""
    batch = run(["--model.content", str(ASSETS / "home.jpg"), "--model.style", str(styles),
                 *tiny_overrides(tmp_path / "batch", "--model.init", "content+noise", steps=6)])
    model = batch.model
    assert [tuple(p.shape) for p in model.images] == [(2, 3, 24, 32)] and model.groups == [[0, 1]]
    run_dir = Path(batch.trainer.log_dir)
    for name, style in (("home__fruits", "fruits.jpg"), ("home__starry_night", "starry_night.jpg")):
        for file in ("final.png", "step_00000.png", "metrics.json"):
            assert (run_dir / name / file).is_file(), (name, file)
        seed = ["--model.seed", "1"] if name == "home__starry_night" else []  # pair index 1: seed + 1
        alone = run(["--model.content", str(ASSETS / "home.jpg"), "--model.style", str(styles / style),
                     *tiny_overrides(tmp_path / name, "--model.init", "content+noise", *seed, steps=6)])
        np.testing.assert_array_equal(pixels(run_dir / name / "final.png"),
                                      pixels(Path(alone.trainer.log_dir) / "final.png"))


def test_several_sizes_are_several_parameters(tmp_path, styles):
    cli = run(["--model.content", str(ASSETS / "[bh]*.jpg"), "--model.style", str(styles / "fruits.jpg"),
               *tiny_overrides(tmp_path, steps=2)])
    assert sorted(tuple(p.shape) for p in cli.model.images) == [(1, 3, 22, 32), (1, 3, 24, 32)]


@pytest.mark.parametrize("extra, message", [
    (["--model.optimizer", "lbfgs"], "L-BFGS"),
    (["--model.content_masks", f"[{ASSETS / 'masks' / 'building_top.png'}]"], "masks belong to one photo"),
    (["--sweep", "model.lr=0.01,0.02"], "--sweep with several pairs"),
    (["--scales", "[32, 48]"], "scales with several pairs"),
])
def test_batch_refuses_what_couples_or_does_not_fit_pairs(tmp_path, capsys, styles, extra, message):
    args = ["--model.content", str(ASSETS / "home.jpg"), "--model.style", str(styles),
            *tiny_overrides(tmp_path, *extra, steps=1)]
    assert train.main(args) == 2
    assert message in capsys.readouterr().err


def test_ddp_on_two_cpu_processes_makes_each_pair_once_as_one_process_does(tmp_path, styles):
    """--trainer.devices 2 --trainer.strategy ddp: ranks take every other pair; every output
    appears once and equals the single-process result (images are never averaged)."""
    common = ["--model.content", str(ASSETS / "[bh]*.jpg"), "--model.style", str(styles),
              *tiny_overrides(tmp_path, "--model.init", "content+noise", steps=4)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    for name, extra in (("one", []), ("two", ["--trainer.devices", "2", "--trainer.strategy", "ddp"])):
        done = subprocess.run([sys.executable, str(PROJECT / "train.py"), *common, "--run_name", name, *extra],
                              cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    one, two = (tmp_path / "outputs" / n / "version_0" for n in ("one", "two"))
    names = sorted(p.parent.name for p in two.glob("*/final.png"))
    assert names == ["building__fruits", "building__starry_night", "home__fruits", "home__starry_night"]
    assert not list(tmp_path.glob("outputs/two/version_1"))  # both ranks wrote into one run folder
    for name in names:
        np.testing.assert_array_equal(pixels(one / name / "final.png"), pixels(two / name / "final.png"))
        assert (pixels(two / name / "final.png") != pixels(two / name / "step_00000.png")).any()
