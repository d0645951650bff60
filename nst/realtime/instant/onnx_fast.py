"""The instant style without torch: ONNX Runtime over the float32 exports that the first
conversion cached (``nst.realtime.instant.files.cached_exports``), numpy and Pillow around them.
The same steps as :mod:`nst.realtime.instant.style` (centre square of the painting at 256, the
vector moved toward the photo's own, the working size and the detail carried back), with Pillow's
resampling in place of torch's: the picture agrees with PyTorch's to a few grey levels (tested).
It serves one photo from the command line in well under a second, where importing torch alone
takes longer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nst.media.decode import scaled_size

PAINTING_SIZE, WORK_SIZE = 256, 384  # as nst.realtime.instant.style (a test holds them equal)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # Rec. 601, as nst.media.color.luminance


def resized(image: np.ndarray, size: tuple[int, int], filter=Image.BICUBIC) -> np.ndarray:
    """HxWx3 float32 to (h, w) with Pillow's filter, each channel in float ("F" mode)."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c])).resize((w, h), filter))
              for c in range(image.shape[2])]
    return np.clip(np.stack(planes, axis=2), 0, 1)


def session(path: Path, threads: int | None = None):
    """ONNX Runtime on the CPU (``threads``: its own count where None). Its threads do not spin-wait
    after a picture: they would take the cores from the decoding, encoding and writing between
    pictures (and from PyTorch in the same process; docs/realtime.md, measured)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def batch(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


class OnnxInstant:
    """``OnnxInstant(predictor.onnx, transformer.onnx)``; ``.vector(painting)``, ``.paint(photo, vector)``."""

    def __init__(self, predictor: Path, transformer: Path, threads: int | None = None):
        self.predictor, self.transformer = session(predictor, threads), session(transformer, threads)

    def vector(self, painting: np.ndarray) -> np.ndarray:
        """HxWx3 painting -> 1x100, from its centre square at 256x256."""
        h, w = painting.shape[:2]
        s = min(h, w)
        square = painting[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        return self.predictor.run(None, {"painting": batch(resized(square, (PAINTING_SIZE, PAINTING_SIZE)))})[0]

    def own_vector(self, photo: np.ndarray) -> np.ndarray:
        small = resized(photo, (PAINTING_SIZE, PAINTING_SIZE), Image.BILINEAR)
        return self.predictor.run(None, {"painting": batch(small)})[0]

    def run(self, photo: np.ndarray, vector: np.ndarray) -> np.ndarray:
        out = self.transformer.run(None, {"photo": batch(photo), "vector": vector.astype(np.float32)})[0]
        return out[0].transpose(1, 2, 0)

    def paint(self, photo: np.ndarray, vector: np.ndarray, work: int = WORK_SIZE) -> np.ndarray:
        """HxWx3 photo -> HxWx3 picture: painted at a long side of at most ``work``, enlarged with the
        photo's luminance detail above that scale carried back."""
        h, w = photo.shape[:2]
        if max(h, w) <= work:
            return self.run(photo, vector)
        small = resized(photo, scaled_size(h, w, work))
        up = resized(self.run(small, vector), (h, w))
        detail = (photo - resized(small, (h, w))) @ LUMA
        return np.clip(up + detail[..., None], 0, 1)
