"""``bench/fast_train.py --reference``: the optimisation's numbers measured once per painting,
size and step count, and read back by later benches instead of optimising again."""

import importlib.util
import json
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def bench():
    spec = importlib.util.spec_from_file_location("fast_train_bench", PROJECT / "bench" / "fast_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_is_read_only_for_the_same_painting_size_and_steps(tmp_path):
    read_reference = bench().read_reference
    key = {"painting": "/a/starry_night.jpg", "size": 256, "opt_steps": 200}
    photos = {"building.jpg": {"metrics": {"eval/sliced_wasserstein": 2484.0}, "seconds": 41.0,
                               "layers": {}, "picture": "/x/opt_building.png"}}
    path = tmp_path / "reference.json"
    assert read_reference(None, key) == {}
    assert read_reference(str(path), key) == {}  # not written yet: optimise
    path.write_text(json.dumps({**key, "photos": photos}))
    assert read_reference(str(path), key) == photos
    for other in ({"painting": "/a/doesburg.jpg"}, {"size": 512}, {"opt_steps": 100}):
        assert read_reference(str(path), {**key, **other}) == {}
