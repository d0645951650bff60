"""A trained style network as a file other runtimes load: TorchScript (``torch.jit``) and ONNX
(``torch.onnx``, opset 18), both with dynamic batch, height and width, so one file paints any size."""

from __future__ import annotations

from pathlib import Path

import torch

from nst.errors import OutputError
from nst.realtime.network import TransformerNet

OPSET = 18


def export_torchscript(network: TransformerNet, path: str | Path) -> Path:
    """``torch.jit.script`` of the network: the padding to a multiple of 4 stays dynamic."""
    path = Path(path)
    network = network.eval()
    with torch.no_grad():
        scripted = torch.jit.script(network)
    try:
        scripted.save(str(path))
    except (OSError, RuntimeError) as e:
        raise OutputError(f"cannot write {path} ({e}). Fix: a folder you can write") from None
    return path


def export_onnx(network: TransformerNet, path: str | Path, example_size: int = 64) -> Path:
    """ONNX with dynamic (batch, height, width): the input ``photo`` Bx3xHxW in [0, 1], the output
    ``stylised`` of the same shape."""
    path = Path(path)
    network = network.eval()
    example = torch.rand(1, 3, example_size, example_size + 4)
    batch, height, width = torch.export.Dim("batch", max=64), torch.export.Dim("height", min=16, max=8192), \
        torch.export.Dim("width", min=16, max=8192)
    try:
        torch.onnx.export(network, (example,), str(path), input_names=["photo"], output_names=["stylised"],
                          dynamic_shapes={"image": {0: batch, 2: height, 3: width}}, opset_version=OPSET,
                          dynamo=True, external_data=False)
    except OSError as e:
        raise OutputError(f"cannot write {path} ({e.strerror or e}). Fix: a folder you can write") from None
    return path
