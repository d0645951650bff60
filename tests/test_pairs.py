"""Which pairs a run makes (folders, globs, CSV manifests) and each device's share."""

import os
from pathlib import Path

import pytest

from nst.errors import ConfigError
from nst.inputs.pairs import collect_pairs, shard
from tests.conftest import ASSETS


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
