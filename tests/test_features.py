import pytest
import torch
from torch import nn

from nst.errors import ConfigError, WeightsError
from nst.objective.network.features import VGGFeatures
from nst.objective.network.weights import CAFFE, VGGWeights, load_weights


@pytest.fixture(scope="module")
def random_weights():
    torch.manual_seed(0)
    return load_weights("random")  # random on purpose: structure tests need no training


def test_truncated_after_deepest_layer(random_weights):
    vgg = VGGFeatures(random_weights, ["relu4_2", "relu1_1", "relu5_1"])
    assert vgg.depth == 30 and vgg.deepest_layer == "relu5_1"
    assert VGGFeatures(random_weights, ["relu1_1"]).depth == 2


def test_returns_requested_layers_with_expected_shapes(random_weights):
    vgg = VGGFeatures(random_weights, ["conv1_1", "relu2_1", "relu4_2"])
    out = vgg(torch.rand(1, 3, 32, 48))
    assert list(out) == ["conv1_1", "relu2_1", "relu4_2"]
    assert out["conv1_1"].shape == (1, 64, 32, 48)
    assert out["relu2_1"].shape == (1, 128, 16, 24)
    assert out["relu4_2"].shape == (1, 512, 4, 6)


def test_conv_output_is_not_overwritten_by_relu(random_weights):
    out = VGGFeatures(random_weights, ["conv1_1", "relu1_1"])(torch.rand(1, 3, 16, 16))
    assert (out["conv1_1"] < 0).any()
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp(min=0))


def test_frozen_and_always_eval(random_weights):
    vgg = VGGFeatures(random_weights, ["relu1_1"])
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training and not vgg.net.training


def test_avg_pooling_swaps_pools_only(random_weights):
    vgg = VGGFeatures(random_weights, ["relu3_1"], pooling="avg")
    kinds = [type(m) for m in vgg.net]
    assert nn.AvgPool2d in kinds and nn.MaxPool2d not in kinds
    with pytest.raises(ConfigError):
        VGGFeatures(random_weights, ["relu3_1"], pooling="median")


def test_caffe_preprocessing():
    state = {k: v for k, v in VGGFeatures(load_weights("random"), ["pool5"]).net.state_dict().items()}
    vgg = VGGFeatures(VGGWeights(state, CAFFE, "test"), ["relu1_1"])
    x = torch.full((1, 3, 2, 2), 0.5)
    expected = torch.tensor([127.5 - 123.68, 127.5 - 116.779, 127.5 - 103.939]).view(1, 3, 1, 1)
    torch.testing.assert_close(vgg.normalize(x), expected.expand(1, 3, 2, 2))


def test_wrong_shapes_give_weights_error():
    bad = {"0.weight": torch.zeros(64, 1, 3, 3), "0.bias": torch.zeros(64)}
    with pytest.raises(WeightsError, match="do not fit"):
        VGGFeatures(VGGWeights(bad, CAFFE, "bad.safetensors"), ["relu1_1"])


def test_in_place_relus_keep_tapped_conv_outputs_and_gradients(random_weights):
    """ReLUs run in place except after a tapped conv: the conv output keeps its negative
    values, and features and the image gradient equal those of an all-out-of-place network."""
    vgg = VGGFeatures(random_weights, ["conv2_1", "relu2_1", "relu3_1"])
    inplace = {i: m.inplace for i, m in enumerate(vgg.net) if isinstance(m, nn.ReLU)}
    assert inplace[1] is True and inplace[6] is False  # relu1_1; relu2_1 follows tapped conv2_1
    reference = VGGFeatures(random_weights, ["conv2_1", "relu2_1", "relu3_1"])
    for m in reference.net:
        if isinstance(m, nn.ReLU):
            m.inplace = False
    image = torch.rand(1, 3, 24, 24)
    grads = []
    for net in (vgg, reference):
        x = image.clone().requires_grad_(True)
        out = net(x)
        assert (out["conv2_1"] < 0).any()
        torch.testing.assert_close(out["relu2_1"], out["conv2_1"].clamp(min=0))
        sum(f.square().mean() for f in out.values()).backward()
        grads.append((x.grad, out))
    torch.testing.assert_close(grads[0][0], grads[1][0])


def test_activation_checkpointing_gives_the_same_features_and_gradient(random_weights):
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    image = torch.rand(1, 3, 40, 36)
    results = []
    for checkpointing in (False, True):
        vgg = VGGFeatures(random_weights, layers, activation_checkpointing=checkpointing)
        x = image.clone().requires_grad_(True)
        out = vgg(x)
        sum(f.square().mean() for f in out.values()).backward()
        results.append((out, x.grad))
    for name in layers:
        torch.testing.assert_close(results[0][0][name], results[1][0][name])
    torch.testing.assert_close(results[0][1], results[1][1])


@pytest.mark.parametrize("checkpointing", [False, True])
def test_the_rgb_layer_is_the_image_itself(random_weights, checkpointing):
    vgg = VGGFeatures(random_weights, ["rgb", "relu1_1"], activation_checkpointing=checkpointing)
    image = torch.rand(1, 3, 16, 12, requires_grad=True)
    out = vgg(image)
    assert list(out) == ["rgb", "relu1_1"] and out["rgb"] is image and vgg.depth == 2
    assert VGGFeatures(random_weights, ["rgb"]).depth == 0
