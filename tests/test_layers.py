import math

import pytest

from nst.errors import ConfigError
from nst.objective.network.layers import VGG19_LAYERS, layer_index, parse_layer_weights, truncation_index


def test_names_follow_vgg19_features_positions():
    assert len(VGG19_LAYERS) == 37  # len(torchvision.models.vgg19().features)
    assert layer_index("conv1_1") == 0
    assert layer_index("relu1_1") == 1
    assert layer_index("pool1") == 4
    assert layer_index("relu4_2") == 22
    assert layer_index("relu5_1") == 29
    assert layer_index("relu5_4") == 35
    assert VGG19_LAYERS[-1] == "pool5"


def test_unknown_layer_lists_valid_names_and_suggests():
    with pytest.raises(ConfigError) as e:
        layer_index("relu4_5")
    message = str(e.value)
    assert "relu4_5" in message and "relu4_4" in message and "conv1_1" in message
    assert "\n" not in message


def test_truncation_point_is_deepest_layer_plus_one():
    assert truncation_index(["relu4_2", "relu1_1", "relu5_1"]) == 30
    assert truncation_index(["conv1_1"]) == 1


def test_plain_list_gets_equal_weights():
    weights = parse_layer_weights(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    assert list(weights) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert all(math.isclose(w, 0.2) for w in weights.values())


def test_mapping_and_pairs_keep_weights():
    assert parse_layer_weights({"relu1_1": 0.2, "relu3_1": 3}) == {"relu1_1": 0.2, "relu3_1": 3.0}
    eight = [(f"conv{b}_{i}", 0.125) for b, i in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (4, 1), (4, 2)]]
    parsed = parse_layer_weights([list(p) for p in eight])
    assert len(parsed) == 8 and sum(parsed.values()) == 1.0


def test_comma_string_is_accepted():
    assert list(parse_layer_weights("relu1_1, relu2_1")) == ["relu1_1", "relu2_1"]


@pytest.mark.parametrize(
    "spec",
    [
        {"relu1_1": -1.0},
        {"relu1_1": float("nan")},
        {"relu1_1": "heavy"},
        [],
        ["relu1_1", ["relu2_1", 0.5]],
        [["relu1_1", 0.5], ["relu1_1", 0.5]],
        ["nope"],
    ],
)
def test_bad_specs_raise_config_error(spec):
    with pytest.raises(ConfigError):
        parse_layer_weights(spec)
