"""python -m nst.objective.visualize: feature maps and Gram matrices as PNGs, without a run."""

from PIL import Image

from nst.objective.visualize import main as visualize_main
from tests.conftest import ASSETS


def test_visualize_command_writes_pngs(tmp_path):
    out = tmp_path / "viz"
    assert visualize_main(["--image", str(ASSETS / "home.jpg"), "--layers", "relu1_1,relu3_1",
                           "--out", str(out), "--weights", "random", "--size", "64", "--top_k", "4"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["home_relu1_1_features.png", "home_relu1_1_gram.png",
                     "home_relu3_1_features.png", "home_relu3_1_gram.png"]
    gram = Image.open(out / "home_relu3_1_gram.png")
    assert gram.size[0] == gram.size[1] >= 256  # 256 channels, one pixel each at least


def test_visualize_rejects_unknown_layer(tmp_path, capsys):
    assert visualize_main(["--image", str(ASSETS / "home.jpg"), "--layers", "relu9_9",
                           "--out", str(tmp_path), "--weights", "random"]) == 2
    assert "unknown VGG19 layer" in capsys.readouterr().err
