"""Checks that need the real VGG19 weights; skipped with a reason when they are absent."""

import pytest
import torch

from nst.objective.network.features import VGGFeatures
from nst.media.images import load_image, resize_long_side
from nst.objective.losses import gram_matrix
from nst.objective.network.weights import load_weights_file
from tests.conftest import ASSETS

pytestmark = pytest.mark.real_weights


@pytest.fixture(scope="module")
def real_vgg(request):
    shared = request.getfixturevalue("shared_weights")
    return VGGFeatures(load_weights_file(shared), ["relu3_1", "relu5_4"])


def test_shared_file_is_caffe_vgg19(shared_weights):
    weights = load_weights_file(shared_weights)
    assert weights.preprocessing.name == "caffe"
    torch.testing.assert_close(
        weights.state_dict["0.bias"][:4], torch.tensor([0.7301776, 0.06493629, 0.03428847, 0.8260386])
    )


def test_real_features_tell_images_apart(real_vgg):
    """A trained network separates different photos; a random one sees them all alike."""
    photos = [resize_long_side(load_image(ASSETS / name), 224) for name in ("building.jpg", "fruits.jpg")]
    pooled = []
    for photo in (photos[0], photos[0].flip(-1), photos[1]):
        with torch.no_grad():
            pooled.append(real_vgg(photo)["relu5_4"].mean(dim=(2, 3))[0])
    cos = torch.nn.functional.cosine_similarity
    mirror, other = cos(pooled[0], pooled[1], dim=0), cos(pooled[0], pooled[2], dim=0)
    assert mirror > 0.9 and other < 0.7, (mirror, other)


def test_style_gram_matches_its_own_half(real_vgg):
    """Gram(relu3_1) of the left half of Starry Night is nearer its right half than a photo's."""
    starry = resize_long_side(load_image(ASSETS / "starry_night.jpg"), 256)
    photo = resize_long_side(load_image(ASSETS / "building.jpg"), 256)
    w = starry.shape[-1] // 2
    with torch.no_grad():
        left = gram_matrix(real_vgg(starry[..., :w])["relu3_1"])
        right = gram_matrix(real_vgg(starry[..., w:])["relu3_1"])
        other = gram_matrix(real_vgg(photo[..., : photo.shape[-1] // 2])["relu3_1"])
    assert (left - right).norm() < (left - other).norm()
