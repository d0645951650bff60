"""Golden runs: every shipped config (and the main variants) at a tiny size with a random network
(on purpose, see conftest) must keep making the same pictures *and the same loss curves*.

What is compared, and why it pins behaviour rather than last bits (docs/tests.md):

* **The loss curves** (every ``loss/*`` TensorBoard scalar at every step of every run of the
  case, in ``losses.json``). A run's first step depends only on its start and its objective,
  so it must match to ``STEP0_RTOL`` (another CPU sums in another order: measured up to 6e-6
  across the emulated CPUs, 1.6e-4 in the video case, which has its own tolerance; relu5_1
  dropped from the classic run moves it by 9.4e-5, from the video run by 1.5e-3); later steps to ``CURVE_RTOL`` (up to 3.3e-3 measured, in the video
  case, whose later frames start from the previous result carried by optical flow). L-BFGS
  evaluates the objective several times a step; the first evaluation is logged (the loss of
  the image the step starts from, as for Adam), so its step 0 is pinned as tightly, but its
  later steps follow a strong-Wolfe line search, a chain of comparisons that one last bit can
  flip: 6.6e-2 measured (ATen default, oneDNN AVX2, 2 threads), hence ``CURVE_RTOL_CASE``. A
  lost style layer, mask or weight, another seed or pair moves the first step by more.
* **The pictures**, by what survives float noise: after a few Adam steps a pixel whose
  gradient is near zero moves by a full ``lr`` either way (Adam divides by sqrt(v)), so a few
  pixels may differ by many grey levels while the picture is the same. A picture matches when
  its mean absolute difference is under ``MEAN_TOL``, at most ``SHARE_TOL`` of its values
  differ by more than ``PIXEL_TOL`` and no channel's mean moves by more than ``COLOUR_TOL``
  (Adam's noise goes either way: 0.06/255 measured at most; another average moves it 0.35/255);
  another lr, average, step count, colour handling or a swapped output fails one of them.

The mutation table in docs/tests.md shows each listed change failing. On the machine that
wrote the references ``NST_GOLDEN_EXACT=1`` demands equality of every pixel and every logged
value; ``NST_WRITE_GOLDEN=1 pytest tests/test_golden.py`` rewrites the references.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import train
from nst.media.images import load_image
from tests.conftest import PROJECT, tiny_overrides

GOLDEN = Path(__file__).resolve().parent / "golden"
CONFIGS = PROJECT / "configs"
STEPS = 4
STEP0_RTOL = 2e-5
STEP0_RTOL_CASE = {"video": 1e-3}  # its frames are decoded, resized and carried by optical flow: 1.6e-4 measured
CURVE_RTOL = 1e-2
CURVE_RTOL_CASE = {"lbfgs": 0.15}  # a strong-Wolfe line search is a chain of decisions: 6.6e-2 measured at step 2
PIXEL_TOL, SHARE_TOL, MEAN_TOL, COLOUR_TOL = 8 / 255, 0.03, 0.006, 0.15 / 255
CASES = {
    **{p.stem: [p.name] for p in sorted(CONFIGS.glob("*.yaml"))
       if p.stem != "classic" and "task: realtime" not in p.read_text()},  # a style network's training: test_realtime.py
    "classic": ["starry.yaml", "--config", str(CONFIGS / "classic.yaml")],  # a fragment: added to a run
    "stages": ["starry.yaml", "--data.size", "48", "--model.stages", "[24, 48]"],
    "multiscale": ["multiscale.yaml", "--scales", "[24, 32]", "--steps_per_scale", "[3, 2]"],
    "histogram": ["starry.yaml", "--model.preserve_color", "histogram"],
    "sliced": ["starry.yaml", "--model.style_loss", "sliced_wasserstein", "--model.style_weight", "30"],
    "noise_tv": ["starry.yaml", "--model.init", "content+noise", "--model.tv_weight", "10"],
    "lbfgs": ["starry.yaml", "--model.optimizer", "lbfgs", "--model.lbfgs_max_iter", "3"],
    "reference_size": ["starry.yaml", "--model.strength_reference_size", "48"],
    "sweep": ["starry.yaml", "--sweep", "model.style_loss=gram,mean_std"],
    "video": ["video.yaml", "--model.max_frames", "2", "--model.steps_first_frame", "3",
              "--model.steps_per_frame", "2"],  # final.png: the last frame
}


def run_case(name: str, tmp_path: Path, *mutation: str) -> tuple[dict[str, torch.Tensor], dict[str, dict]]:
    """(final.png of every run, its loss curves) of case ``name``; ``mutation``: more arguments,
    last (the mutation table in docs/tests.md)."""
    config, *extra = CASES[name]
    fragments = extra[:2] if extra[:1] == ["--config"] else []  # a config fragment goes before the tiny overrides
    args = ["--config", str(CONFIGS / config), *fragments,
            *tiny_overrides(tmp_path, "--model.strength_reference_size", "null", "--trainer.deterministic",
                            "true", *extra[len(fragments):], *mutation, steps=STEPS)]
    assert train.main(args) == 0
    outputs = tmp_path / "outputs"
    finals = {"__".join(p.parent.relative_to(outputs).parts): load_image(p) for p in sorted(outputs.rglob("final.png"))}
    return finals, {"__".join(p.parent.relative_to(outputs).parts): loss_curves(p.parent)
                    for p in sorted(outputs.rglob("events.out.tfevents.*"))}


def loss_curves(folder: Path) -> dict[str, list[float]]:
    """Every ``loss/*`` scalar a run logged, in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"] if tag.startswith("loss/")}


def picture_differences(image: torch.Tensor, expected: torch.Tensor) -> list[str]:
    """What makes ``image`` another picture than ``expected`` (empty: the same picture)."""
    if image.shape != expected.shape:
        return [f"shape {tuple(image.shape)} != {tuple(expected.shape)}"]
    diff = (image - expected).abs()
    share, mean = float((diff > PIXEL_TOL + 1e-6).float().mean()), float(diff.mean())
    colour = float((image.mean((-2, -1)) - expected.mean((-2, -1))).abs().max())  # Adam's noise is symmetric
    problems = [f"{share:.1%} of values differ by more than {PIXEL_TOL * 255:.0f}/255"] if share > SHARE_TOL else []
    problems += [f"mean difference {mean * 255:.2f}/255"] if mean > MEAN_TOL else []
    return problems + ([f"mean colour moved by {colour * 255:.2f}/255"] if colour > COLOUR_TOL else [])


def curve_differences(curves: dict[str, list[float]], expected: dict[str, list[float]], case: str = "") -> list[str]:
    """Where the loss curves of a run differ from the expected ones beyond the tolerances."""
    if sorted(curves) != sorted(expected):
        return [f"logged {sorted(curves)}, expected {sorted(expected)}"]
    problems, step0_rtol, curve_rtol = [], STEP0_RTOL_CASE.get(case, STEP0_RTOL), CURVE_RTOL_CASE.get(case, CURVE_RTOL)
    for tag, values in expected.items():
        if len(curves[tag]) != len(values):
            problems.append(f"{tag}: {len(curves[tag])} steps logged, expected {len(values)}")
            continue
        floor = 1e-2 * max(map(abs, values), default=0)  # a value near 0 (content at step 0) is noise
        for step, (got, want) in enumerate(zip(curves[tag], values)):
            rtol = step0_rtol if step == 0 else curve_rtol
            if abs(got - want) > rtol * max(abs(want), floor):
                problems.append(f"{tag} at step {step}: {got:.7g}, expected {want:.7g} (rtol {rtol:g})")
                break
    return problems


def differences(finals, curves, folder: Path, exact: bool) -> list[str]:
    """Every way the case's results differ from the references in ``folder``."""
    expected = {p.stem: load_image(p) for p in sorted(folder.glob("*.png"))}
    expected_curves = json.loads((folder / "losses.json").read_text())
    if sorted(finals) != sorted(expected) or sorted(curves) != sorted(expected_curves):
        return [f"runs {sorted(finals)} / {sorted(curves)}, expected {sorted(expected)} / {sorted(expected_curves)}"]
    problems = []
    for key, image in finals.items():
        if exact:
            if image.shape != expected[key].shape or not torch.equal(image, expected[key]):
                problems.append(f"{key}: not the same pixels")
        else:
            problems += [f"{key}: {p}" for p in picture_differences(image, expected[key])]
    for key, run in curves.items():
        if exact:
            if run != expected_curves[key]:
                problems.append(f"{key}: not the same logged values")
        else:
            problems += [f"{key}: {p}" for p in curve_differences(run, expected_curves[key], folder.name)]
    return problems


def write_references(finals, curves, folder: Path) -> None:
    from nst.media.images import save_image

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    for key, image in finals.items():
        save_image(image, folder / f"{key}.png")
    (folder / "losses.json").write_text(json.dumps(curves, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("name", CASES)
def test_shipped_configs_make_the_golden_pictures(tmp_path, name):
    finals, curves = run_case(name, tmp_path)
    assert finals, "no final.png written"
    if os.environ.get("NST_WRITE_GOLDEN"):
        write_references(finals, curves, GOLDEN / name)
    problems = differences(finals, curves, GOLDEN / name, bool(os.environ.get("NST_GOLDEN_EXACT")))
    assert not problems, "; ".join(problems)
