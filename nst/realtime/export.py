"""A trained style network as a file other runtimes load: TorchScript (``torch.jit``) and ONNX
(``torch.onnx``, opset 18), both with dynamic batch, height and width, so one file paints any size.
The ONNX file carries the style's record and training config as metadata (``nst_realtime``,
``nst_config``), so ``nst.load_style("x.onnx")`` runs it with ONNX Runtime and its outputs
name the model as a checkpoint's do."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import torch
from torch import nn

from nst.errors import write_failure

OPSET = 18


@contextlib.contextmanager
def atomic_target(path: Path):
    """A temporary name beside ``path`` to write, moved into place (``os.replace``) once whole; a
    failed or killed write leaves no ``path`` half-written, and an earlier file there intact."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise write_failure(e, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def export_torchscript(network: nn.Module, path: str | Path) -> Path:
    """``torch.jit.script`` of the network: the padding to a multiple of 4 stays dynamic."""
    path = Path(path)
    network = network.eval()
    with torch.no_grad():
        scripted = torch.jit.script(network)
    buffer = io.BytesIO()  # in memory first: torch's C++ writer aborts the process on a full disk
    torch.jit.save(scripted, buffer)
    with atomic_target(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
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
    program = torch.onnx.export(network, (example,), None, input_names=["photo"], output_names=["stylised"],
                                dynamic_shapes={"image": {0: batch, 2: height, 3: width}}, opset_version=OPSET,
                                dynamo=True, external_data=False)
    model = program.model_proto
    if record is not None:
        for key, value in (("nst_realtime", record), ("nst_config", config or {})):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value, sort_keys=True, default=str)
    data = model.SerializeToString()
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
    return path
