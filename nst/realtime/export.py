"""A trained style network as a file other runtimes load: TorchScript (``torch.jit``) and ONNX
(``torch.onnx``, opset 18), both with dynamic batch, height and width, so one file paints any size.
The ONNX file carries the style's record and training config as metadata (``nst_realtime``,
``nst_config``), so ``nst.load_style("x.onnx")`` runs it with ONNX Runtime and its outputs
name the model as a checkpoint's do."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from nst.errors import OutputError

OPSET = 18


def export_torchscript(network: nn.Module, path: str | Path) -> Path:
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


def export_onnx(network: nn.Module, path: str | Path, example_size: int = 64,
                record: dict | None = None, config: dict | None = None) -> Path:
    """ONNX with dynamic (batch, height, width): the input ``photo`` Bx3xHxW in [0, 1], the output
    ``stylised`` of the same shape; ``record`` and ``config`` (the checkpoint's) as metadata."""
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
    if record is not None:
        import onnx

        model = onnx.load(str(path))
        for key, value in (("nst_realtime", record), ("nst_config", config or {})):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value, sort_keys=True, default=str)
        onnx.save(model, str(path))
    return path
