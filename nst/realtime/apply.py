"""A trained style, applied: ``load_style("x.ckpt")`` reads the network out of a training
checkpoint once (cached) and checks it (format version, network variant) in one line; the
:class:`Style` paints a photo in one pass at any size, and a video frame by frame."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import pickle
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nst.errors import ConfigError, ImageError, NSTError
from nst.media.images import load_image, pil_to_float_tensor, resize_long_side, to_uint8
from nst.media.pixels import as_pil
from nst.media.video import VideoWriter
from nst.realtime.module import FORMAT_VERSION
from nst.realtime.network import NETWORKS, build_network


class StyleCheckpointError(NSTError):
    """A checkpoint that is not a real-time style this version can read."""


MIN_SIDE, MAX_SIDE = 16, 16384  # px: the ONNX export's smallest side; the optimisation's largest data.size
PRECISIONS = {"32": "32", "32-true": "32", "bf16": "bf16", "bf16-mixed": "bf16", "bf16-true": "bf16"}


def check_size(size, what: str = "--size") -> int | None:
    """A long side in px a style can paint at (``None``: the photo's own), or a one-line error;
    for every way in (``stylize --size``, ``nst.stylize(size=...)``, the studio)."""
    if size is None:
        return None
    if isinstance(size, str) and size.strip().lstrip("+").isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIDE <= size <= MAX_SIDE:
        raise ConfigError(f"{what} {size!r} is not a size a style paints at. Fix: a whole number of px from "
                          f"{MIN_SIDE} to {MAX_SIDE} (the long side), or none for the photo's own")
    return size


def check_precision(precision, what: str = "--precision") -> str:
    """``32`` or ``bf16`` (Lightning's ``32-true``, ``bf16-mixed`` too), or a one-line error."""
    if str(precision) not in PRECISIONS:
        raise ConfigError(f"{what} {precision!r} is not a precision a style runs in. Fix: 32, or bf16 where "
                          "the CPU/GPU has it")
    return PRECISIONS[str(precision)]


def check_photo_size(image: torch.Tensor, what: str = "the photo") -> torch.Tensor:
    """A photo the network can paint: both sides at least ``MIN_SIDE`` px (its reflection padding)."""
    height, width = image.shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"{what} is {width}x{height} px, under the {MIN_SIDE} px a style needs on each side. "
                         f"Fix: a larger photo, or a larger --size (a thin photo's short side shrinks with it)")
    return image


def read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise StyleCheckpointError(f"style checkpoint {path} is not a file. Fix: the last.ckpt of a run of "
                                   "--config fast_starry.yaml (outputs/<run>/version_N/checkpoints/)")
    try:
        with warnings.catch_warnings():  # torch's "Detected pickle protocol 4" about a file it then refuses
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same one-line problem
        kind = ("empty or cut short" if isinstance(e, (EOFError, OSError)) or "EOF" in str(e) else
                "not a checkpoint of plain tensors (another tool's file, or a pickle that would run code)"
                if "Weights only load failed" in str(e) or isinstance(e, pickle.UnpicklingError) else
                f"{type(e).__name__}: {' '.join(str(e).split())[:120]}")
        raise StyleCheckpointError(f"cannot read style checkpoint {path} ({kind}). "
                                   "Fix: a last.ckpt written by a real-time training run") from None
    if not isinstance(checkpoint, dict):
        raise StyleCheckpointError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint. "
                                   "Fix: a last.ckpt written by a real-time training run")
    return checkpoint


def check_record(record: dict | None, path: Path) -> str:
    """The network variant the checkpoint's record names, or a one-line error."""
    if not isinstance(record, dict):
        raise StyleCheckpointError(f"{path} is not a real-time style (no nst_realtime record: an optimisation's "
                                   "checkpoint?). Fix: a checkpoint of python train.py --config fast_starry.yaml")
    if record.get("format") != FORMAT_VERSION:
        raise StyleCheckpointError(f"{path} is a real-time style of format {record.get('format')}; this nst reads "
                                   f"format {FORMAT_VERSION}. Fix: retrain it with this version, or use the nst that made it")
    if record.get("network") not in NETWORKS:
        raise StyleCheckpointError(f"{path} names network '{record.get('network')}'; this nst knows "
                                   f"{', '.join(NETWORKS)}. Fix: the nst version that trained it")
    return record["network"]


class Style:
    """One trained style network. ``style(photo, size=512)`` -> PIL image (``return_tensor``:
    1x3xHxW in [0, 1]); ``photo`` a path, PIL image, HxWx3 uint8 array or (1x)3xHxW tensor."""

    def __init__(self, network: torch.nn.Module | None, path: Path, record: dict, config: dict):
        self.network = network.eval().requires_grad_(False) if network is not None else None  # None: ONNX
        self.path, self.record, self.config = path, record, config
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()

    @property
    def metadata(self) -> dict[str, str]:
        """What every output carries: the model's identity and its training config."""
        text = json.dumps(self.config, sort_keys=True, default=str)
        return {"nst:model": str(self.path), "nst:model_sha256": self.sha256, "nst:network": self.record["network"],
                "nst:style": str(self.record.get("style")), "nst:config": text,
                "nst:config_sha256": hashlib.sha256(text.encode()).hexdigest()}

    def tensor(self, photo: torch.Tensor, precision: str = "32") -> torch.Tensor:
        """Bx3xHxW in [0, 1] -> the stylised batch (float32), on the network's device."""
        device = next(self.network.parameters()).device
        autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if "bf16" in precision
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            return self.network(photo.to(device)).float()

    def __call__(self, photo, size: int | None = None, return_tensor: bool = False, precision: str = "32"):
        size, precision = check_size(size), check_precision(precision)
        image = as_tensor(photo)
        if size is not None:
            image = resize_long_side(image, size)
        out = self.tensor(check_photo_size(image), precision).cpu()
        return out if return_tensor else Image.fromarray(to_uint8(out).permute(1, 2, 0).numpy())

    def video(self, source: str | Path, target: str | Path, size: int | None = None,
              precision: str = "32") -> tuple[Path, int]:
        """Every frame of ``source`` stylised, encoded as H.264 MP4 at the source's rate; returns
        (the MP4, how many frames it holds)."""
        import av

        from nst.media.video import is_video_file

        if not is_video_file(source) or not Path(source).is_file():
            raise ConfigError(f"{source} is not a video file. Fix: an .mp4/.avi/.mov/... file")
        size, precision = check_size(size), check_precision(precision)
        writer = None
        try:
            with av.open(str(source)) as container:
                stream = container.streams.video[0]
                fps = Fraction(stream.average_rate or 25)
                for frame in container.decode(stream):
                    out = self(frame.to_ndarray(format="rgb24"), size, return_tensor=True, precision=precision)
                    if writer is None:
                        writer = VideoWriter(Path(target), fps, tuple(out.shape[-2:]), "the frames before are lost")
                    writer.add(to_uint8(out).permute(1, 2, 0).numpy())
        except (av.error.FFmpegError, IndexError) as e:  # a damaged stream: keep the frames decoded so far
            if writer is None:
                raise ConfigError(f"cannot decode video {source} ({' '.join(str(e).split())[:120]}). Fix: re-encode "
                                  "it (e.g. to H.264 MP4)") from None
            print(f"nst: {source}: decoding stopped after {writer.frames} frames; using those")
        except BaseException:  # a frame too small, Ctrl-C, a full disk: no half-written clip left
            if writer is not None:
                writer.discard()
            raise
        if writer is None:
            raise ConfigError(f"{source} has no frames. Fix: a video with at least one frame")
        return writer.close(), writer.frames


def as_tensor(photo) -> torch.Tensor:
    """Bx3xHxW float in [0, 1]: a float (B|1x)3xHxW tensor as it is; a path, a PIL image, an
    array or any other tensor through the API's checks (``nst.media.pixels.as_pil``: one line for what is
    not a picture)."""
    if isinstance(photo, (str, Path)):
        return load_image(photo, "photo")
    if (isinstance(photo, torch.Tensor) and photo.is_floating_point() and photo.device.type != "meta"
            and photo.dim() in (3, 4) and photo.shape[-3] == 3 and photo.numel()):
        photo = (photo if photo.dim() == 4 else photo.unsqueeze(0)).float()
        if not torch.isfinite(photo).all():
            raise ImageError("the photo tensor holds NaN or infinity. Fix: finite values in 0..1")
        return photo
    if isinstance(photo, (Image.Image, np.ndarray, torch.Tensor)):
        return pil_to_float_tensor(as_pil(photo, "photo"))
    raise ConfigError(f"a photo must be a path, PIL image, array or tensor, not {type(photo).__name__}. "
                      "Fix: pass a photo's path or its pixels")


def load_style(path: "str | Path | Style") -> Style:
    """The style network of a training checkpoint, or of its ONNX export (``train.py export``: run
    by ONNX Runtime); cached while the file is unchanged."""
    if isinstance(path, Style):
        return path  # a style loaded before (nst.load_style): as it is
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise ConfigError(f"model {path!r} is not a style. Fix: model='last.ckpt' (a trained style's checkpoint), "
                          "its .onnx export, or nst.load_style(...)'s result")
    path = Path(path).expanduser().resolve()
    return _load(path, path.stat().st_mtime_ns if path.is_file() else 0)


class OnnxStyle(Style):
    """An exported style run by ONNX Runtime (on this project's CPUs about a quarter faster than
    PyTorch: docs/realtime.md); float32 only."""

    def __init__(self, session, path: Path, record: dict, config: dict):
        super().__init__(None, path, record, config)
        self.session = session

    def tensor(self, photo: torch.Tensor, precision: str = "32") -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"photo": photo.float().cpu().contiguous().numpy()})[0])


def onnx_session(path: Path, threads: int | None = None):
    """ONNX Runtime on the CPU with as many threads as torch would use (or ``threads``), not spin-waiting
    (``nst.realtime.instant.onnx_fast.session``)."""
    from nst.realtime.instant.onnx_fast import session

    return session(path, threads or torch.get_num_threads())


def load_onnx(path: Path) -> OnnxStyle:
    try:
        import onnxruntime  # noqa: F401 - here only to say what is missing
    except ImportError:
        raise StyleCheckpointError(f"{path} is an ONNX model, which needs ONNX Runtime. Fix: pip install "
                                   "onnxruntime (or nst[export]), or use the last.ckpt") from None
    if not path.is_file():
        raise StyleCheckpointError(f"style model {path} is not a file. Fix: the .onnx that train.py export wrote")
    try:
        session = onnx_session(path)
    except Exception as e:  # noqa: BLE001 - any unreadable model is the same one-line problem
        raise StyleCheckpointError(f"cannot read ONNX model {path} ({' '.join(str(e).split())[:160]}). "
                                   "Fix: an .onnx written by train.py export") from None
    meta = session.get_modelmeta().custom_metadata_map
    if "nst_realtime" not in meta:
        raise StyleCheckpointError(f"{path} is not an exported nst style (no nst_realtime metadata). "
                                   "Fix: train.py export --model last.ckpt --output style.onnx")
    try:
        record, config = json.loads(meta["nst_realtime"]), json.loads(meta.get("nst_config", "{}"))
    except ValueError:
        record = config = None
    check_record(record, path)
    if not isinstance(config, dict):
        raise StyleCheckpointError(f"{path}: its nst_config metadata is not a mapping. Fix: an .onnx written by "
                                   "train.py export")
    return OnnxStyle(session, path, record, config)


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime: int) -> Style:
    if path.suffix.lower() == ".onnx":
        return load_onnx(path)
    checkpoint = read_checkpoint(path)
    variant = check_record(checkpoint.get("nst_realtime"), path)
    record = checkpoint["nst_realtime"]  # older records have no from_photo / painting_colours: false
    # (instant: the state dict holds every weight, the pretrained ones are not read)
    network = build_network(variant, bool(record.get("from_photo", False)), bool(record.get("painting_colours", False)))
    weights, config = checkpoint.get("state_dict", {}), checkpoint.get("hyper_parameters", {})
    if not isinstance(weights, dict) or not isinstance(config, dict):
        raise StyleCheckpointError(f"{path}: its state_dict or hyper_parameters is not a mapping. "
                                   "Fix: a checkpoint this nst wrote")
    state = {k.removeprefix("network."): v for k, v in weights.items() if isinstance(k, str) and k.startswith("network.")}
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise StyleCheckpointError(f"{path}: its weights do not fit the '{variant}' network "
                                   f"({' '.join(str(e).split())[:160]}). Fix: a checkpoint this nst wrote") from None
    return Style(network, path, checkpoint["nst_realtime"], dict(config))
