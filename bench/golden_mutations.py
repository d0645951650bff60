"""The golden test's mutation table (docs/tests.md): each behaviour change, run through the test's
own ``run_case`` and ``differences``, and whether the test fails.

    nice python bench/golden_mutations.py            # every row (about 17 tiny runs)
    nice python bench/golden_mutations.py 4 10       # rows 4 and 10
"""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root))
os.chdir(root)
from tests import test_golden as tg  # noqa: E402
A = root / "assets"
L4 = "{relu1_1: 0.2, relu2_1: 0.2, relu3_1: 0.2, relu4_1: 0.2}"
MUTATIONS = [
    ("another seed", "noise_tv", ["--data.seed", "1"]),
    ("another seed", "sliced", ["--data.seed", "1"]),
    ("a lost mask", "masks", ["--data.content_masks", "null"]),
    ("relu5_1 missing from the style layers", "starry", ["--model.style_layers", L4]),
    ("relu5_1 missing from the style layers", "classic", ["--model.style_layers", L4]),
    ("relu5_1 missing from the style layers", "video", ["--model.style_layers", L4]),
    ("another lr (0.03 -> 0.027)", "starry", ["--model.lr", "0.027"]),
    ("another lr (0.02 -> 0.018)", "classic", ["--model.lr", "0.018"]),
    ("content and style swapped", "starry", ["--data.content", str(A / "starry_night.jpg"), "--data.style", str(A / "building.jpg")]),
    ("another style weight (x1.2)", "classic", ["--model.style_weight", "1.2e4"]),
    ("another average (ema 0.9 -> 0.8)", "starry", ["--model.ema_decay", "0.8"]),
    ("one step fewer", "classic", ["--trainer.max_steps", "3"]),
    ("colour preservation lost", "preserve_color", ["--data.preserve_color", "none"]),
    ("max instead of avg pooling", "avg_pool", ["--model.pooling", "max"]),
    ("temporal loss off", "video", ["--model.temporal_weight", "0"]),
    ("content layer relu4_2 -> relu3_2", "classic", ["--model.content_layers", "[relu3_2]"]),
    ("tv weight 10 -> 8", "noise_tv", ["--model.tv_weight", "8"]),
    ("relu5_1 missing from the style layers", "lbfgs", ["--model.style_layers", L4]),
    ("L-BFGS lr 1.0 -> 0.8", "lbfgs", ["--model.lr", "0.8"]),
    ("L-BFGS 3 -> 2 iterations a step", "lbfgs", ["--model.lbfgs_max_iter", "2"]),
]
only = sys.argv[1:]
for i, (what, case, args) in enumerate(MUTATIONS):
    if only and str(i) not in only:
        continue
    tmp = Path(tempfile.mkdtemp())
    finals, curves = tg.run_case(case, tmp, *args)
    problems = tg.differences(finals, curves, tg.GOLDEN / case, exact=False)
    exp = {p.stem: tg.load_image(p) for p in (tg.GOLDEN / case).glob("*.png")}
    stats = []
    for k, im in finals.items():
        if k in exp and exp[k].shape == im.shape:
            d = (im - exp[k]).abs()
            stats.append(f"mean {float(d.mean())*255:.2f}/255, {float((d > tg.PIXEL_TOL + 1e-6).float().mean()):.1%} > 8/255")
    # the largest relative deviation of the first step's total loss
    ref = json.loads((tg.GOLDEN / case / "losses.json").read_text())
    dev = max((abs(c["loss/total"][0] - ref[k]["loss/total"][0]) / abs(ref[k]["loss/total"][0])
               for k, c in curves.items() if k in ref and "loss/total" in c), default=float("nan"))
    print(json.dumps({"change": what, "case": case, "picture": stats[:1], "step0_total_rel": f"{dev:.2g}",
                      "fails": bool(problems), "first": problems[:1]}), flush=True)
    shutil.rmtree(tmp)
