"""Shared test helpers.

Most tests use ``weights: random`` ON PURPOSE: a randomly initialised VGG19 exercises every code
path in seconds without downloading anything. Tests that need the real ImageNet-trained
weights are marked ``real_weights`` and skip, with the reason, when they are absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

PROJECT = Path(__file__).resolve().parent.parent
ASSETS = PROJECT / "assets"
SHARED_VGG = Path(os.environ.get("NST_SHARED_VGG", PROJECT.parent / "shared" / "vgg19"))
SHARED_WEIGHTS = SHARED_VGG / "vgg19_features.safetensors"


# Hypothesis profiles. "ci" (the default, and what CI=true picks) is derandomised: the same
# examples every run, so the README's `pytest` passes or fails by the code, not by luck. "fuzz"
# draws new examples every run, for the long local search (README, Tests):
#   NST_HYPOTHESIS_PROFILE=fuzz NST_FUZZ_EXAMPLES=3000 nice pytest tests/test_cli.py -k fuzz
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, deadline=None, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("NST_HYPOTHESIS_PROFILE", "ci")
settings.load_profile(HYPOTHESIS_PROFILE)


def tiny_args(tmp_path: Path, *extra: str, steps: int = 10, size: int = 32) -> list[str]:
    """CLI arguments for a fast run on the bundled images with a random network."""
    return [
        "--data.content", str(ASSETS / "home.jpg"),
        "--data.style", str(ASSETS / "starry_night.jpg"),
        *tiny_overrides(tmp_path, *extra, steps=steps, size=size),
    ]


def tiny_overrides(tmp_path: Path, *extra: str, steps: int = 10, size: int = 32) -> list[str]:
    """As :func:`tiny_args`, but keeping the images a config names."""
    return [
        "--model.weights", "random",  # random on purpose: see the module docstring
        "--model.style_weight", "1e4",  # a random net's Gram values are tiny; this balances them
        "--data.size", str(size),
        "--trainer.max_steps", str(steps),
        "--trainer.accelerator", "cpu",
        "--trainer.precision", "32-true",  # the default is bf16 where native: tests compare float32 pictures
        "--trainer.enable_progress_bar", "false",
        "--trainer.log_every_n_steps", "1",
        "--output_dir", str(tmp_path / "outputs"),
        *extra,
    ]


@pytest.fixture(scope="session")
def random_weights():
    """An untrained VGG19's weights (random on purpose: see the module docstring)."""
    from nst.objective.network.weights import load_weights

    return load_weights("random")


def tiny_pair(style: str = "starry_night.jpg", size: int = 32, **options):
    """One :class:`nst.inputs.pair.Pair` of the bundled home photo (no Trainer, no CLI)."""
    from nst.inputs.pair import pair_from_paths

    styles = [str(ASSETS / s) for s in style.split("|")]
    return pair_from_paths(str(ASSETS / "home.jpg"), styles if len(styles) > 1 else styles[0], size, **options)


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """The real VGG19 (caffe) weights: ``../shared/vgg19/`` or the converted cache."""
    from nst.objective.network.weights import CACHE_FILE, cache_dir

    candidates = [SHARED_WEIGHTS, cache_dir() / CACHE_FILE]
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip(f"real VGG19 weights not found at {' or '.join(map(str, candidates))}")


@pytest.fixture()
def styles(tmp_path) -> Path:
    """A folder of two paintings (and a file that is not an image)."""
    folder = tmp_path / "styles"
    folder.mkdir()
    for name in ("starry_night.jpg", "fruits.jpg"):
        shutil.copy(ASSETS / name, folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def panned_frames(frames: int = 4, step: tuple[int, int] = (3, 2), width: int = 64, height: int = 48):
    """A synthetic clip whose true motion is known: a window over the bundled building photo
    moved by ``step`` = (dx, dy) pixels per frame, so a point at x in frame t is at x + step in
    frame t-1 (the backward flow is ``step`` everywhere)."""
    from nst.media.images import load_image, resize_long_side

    photo = resize_long_side(load_image(ASSETS / "building.jpg"), max(width, height) * 2)
    dx, dy = step
    return [photo[..., 4 + t * dy: 4 + t * dy + height, 4 + t * dx: 4 + t * dx + width] for t in range(frames)]


@pytest.fixture(autouse=True)
def _run_in_a_temporary_folder(tmp_path, monkeypatch):
    """Every test runs in its own temporary folder: a run with a relative (or empty) output
    folder, checkpoint folder or run name writes there, never into the checkout (.ci/run fails
    when the suite leaves a file in it)."""
    monkeypatch.chdir(tmp_path)
