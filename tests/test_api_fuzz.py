"""The Python API fuzzed like the command line: ``nst.stylize`` with inputs of every kind (paths
missing or corrupt, PIL images of every mode, arrays of every dtype, shape and range, tensors of
other dtypes and devices, lists of styles, None) and options from tests/test_cli.py's BAD_VALUES;
``nst.save`` and the studio's handlers the same way. Each call returns a picture or raises an
``NSTError`` with a one-line message, never another exception, and leaves no files behind.

Derandomised here (tests/conftest.py's "ci" profile, few examples); the long search is
``OMP_NUM_THREADS=1 nice python bench/fuzz_api.py CASES SEED``. Random weights on purpose
(see conftest), 32 px, 1 step.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import nst
from nst.errors import NSTError
from tests.conftest import ASSETS
from tests.test_cli import BAD_VALUES

TINY = dict(size=32, steps=1, weights="random", style_weight=1e4, precision="32-true", accelerator="cpu")
FUZZ_EXAMPLES = int(os.environ.get("NST_API_FUZZ_EXAMPLES", "12"))

# --- inputs, as descriptions (printable, so a failure is a case to paste) ------------------------
PATHS = ["photo", "painting", "missing", "empty", "truncated", "text", "folder", "one pixel", "relative"]
MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "F", "LA", "PA", "RGBX", "La"]
DTYPES = ["uint8", "int8", "int16", "int32", "int64", "uint16", "float16", "float32", "float64", "bool",
          "complex64", "object"]
TENSOR_DTYPES = ["float32", "float16", "bfloat16", "float64", "uint8", "int64", "bool", "complex64"]
SIDES = st.sampled_from([0, 1, 15, 16, 17, 40])


def shapes(h: int, w: int) -> list[tuple]:
    return [(), (w,), (h, w), (h, w, 1), (h, w, 2), (h, w, 3), (h, w, 4), (h, w, 5), (3, h, w), (1, 3, h, w),
            (2, h, w, 3), (0, 0, 3)]


def tensor_shapes(h: int, w: int) -> list[tuple]:
    return [(3, h, w), (1, 3, h, w), (1, h, w), (4, h, w), (h, w, 3), (2, 3, h, w), (h, w), (1, 1, 3, h, w), ()]


RANGES = [(0, 1), (0, 255), (-1, 1), (0, 65535), (0.4, 0.6), "nan", "inf"]

usable = st.sampled_from([("path", "photo"), ("path", "painting"), ("path", "relative"), ("pil", "RGB", 40, 32),
                          ("array", "uint8", (32, 40, 3), (0, 255)), ("tensor", "float32", (1, 3, 32, 40), "cpu", (0, 1))])
any_input = st.one_of(
    st.tuples(st.just("path"), st.sampled_from(PATHS)),
    st.tuples(st.just("pil"), st.sampled_from(MODES), SIDES, SIDES),
    SIDES.flatmap(lambda h: st.tuples(st.just("array"), st.sampled_from(DTYPES), st.sampled_from(shapes(h, h + 8)),
                                      st.sampled_from(RANGES))),
    SIDES.flatmap(lambda h: st.tuples(st.just("tensor"), st.sampled_from(TENSOR_DTYPES),
                                      st.sampled_from(tensor_shapes(h, h + 8)), st.sampled_from(["cpu", "meta"]),
                                      st.sampled_from(RANGES))),
    st.sampled_from([("none",), ("junk", 3), ("junk", b"\x89PNG"), ("junk", {"a": 1}), ("junk", 1.5)]),
)
image_inputs = st.one_of(usable, any_input)  # half usable, so that options get to a run too
style_inputs = st.one_of(image_inputs, st.lists(image_inputs, max_size=3).map(lambda xs: ("list", xs)))


def names_of(key: str) -> list[str]:
    """A key by its dotted name and by its leaf (not content/style: stylize's own arguments)."""
    leaf = key.rsplit(".", 1)[-1]
    return [key] if leaf in ("content", "style", "config") else [key, leaf]


option_values = st.sampled_from(sorted(BAD_VALUES)).flatmap(
    lambda key: st.tuples(st.sampled_from(names_of(key)), st.sampled_from(BAD_VALUES[key]),
                          st.booleans()))
options = st.lists(option_values, max_size=3, unique_by=lambda kv: kv[0])


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def path_input(kind: str, folder: Path) -> str:
    make = {
        "photo": lambda: str(ASSETS / "home.jpg"), "painting": lambda: str(ASSETS / "starry_night.jpg"),
        "missing": lambda: str(folder / "nope.jpg"), "empty": lambda: write(folder / "empty.png", b""),
        "truncated": lambda: write(folder / "cut.jpg", (ASSETS / "home.jpg").read_bytes()[:3000]),
        "text": lambda: write(folder / "notes.png", b"not a picture"), "folder": lambda: str(folder),
        "one pixel": lambda: Image.new("RGB", (1, 1)).save(folder / "dot.png") or str(folder / "dot.png"),
        "relative": lambda: "starry_night.jpg",  # a bare bundled sample's name
    }
    return make[kind]()


def array_of(dtype: str, shape: tuple, value_range) -> np.ndarray:
    rng = np.random.default_rng(0)
    lo, hi = value_range if isinstance(value_range, tuple) else (0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = np.asarray(lo + (hi - lo) * rng.random(shape)).astype(dtype)
        if value_range in ("nan", "inf") and array.size and array.dtype.kind in "fc":
            array.flat[0] = float(value_range)
    return array


def build(description, folder: Path):
    """The input a description names (files it needs go into ``folder``)."""
    kind = description[0]
    if kind == "path":
        return path_input(description[1], folder)
    if kind == "pil":
        _, mode, w, h = description
        return Image.new(mode, (w, h))
    if kind == "array":
        return array_of(*description[1:])
    if kind == "tensor":
        _, dtype, shape, device, value_range = description
        values = torch.as_tensor(array_of("float64", shape, value_range))
        return values.to(getattr(torch, dtype)).to(device)
    if kind == "list":
        return [build(d, folder) for d in description[1]]
    return None if kind == "none" else description[1]


def option_dict(drawn) -> dict:
    """CLI values as they are (strings), or as YAML reads them (numbers, lists, dicts)."""
    out = {}
    for key, value, parsed in drawn:
        if parsed:
            with contextlib.suppress(yaml.YAMLError):
                value = yaml.safe_load(value)
        out[key] = value
    return out


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


@contextlib.contextmanager
def sandbox():
    """A fresh cwd and temporary folder; yields (cwd, inputs folder, output folder)."""
    old_cwd, old_tmp = os.getcwd(), tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="nst-fuzz-") as root:
        root = Path(root)
        for sub in ("cwd", "tmp", "inputs"):
            (root / sub).mkdir()
        os.chdir(root / "cwd")
        tempfile.tempdir = str(root / "tmp")
        try:
            yield root / "cwd", root / "inputs", root / "out"
        finally:
            os.chdir(old_cwd)
            tempfile.tempdir = old_tmp


def assert_one_line(error: BaseException, call) -> None:
    assert isinstance(error, NSTError), (call, f"{type(error).__name__}: {error}")
    message = str(error)
    assert message and "\n" not in message and "Fix:" in message, (call, message)


OUTPUT_PLACES = ("default_root_dir", "dirpath", "output_dir")


def asks_for_outputs(opts: dict) -> bool:
    """A call that names where its outputs go (``trainer.default_root_dir: x``, ``checkpoint.dirpath:
    ''``: the working folder) gets them there, as train.py does."""
    return any(str(key).rsplit(".", 1)[-1] in OUTPUT_PLACES and key != "output_dir" for key in opts)


def check_stylize(content_d, style_d, drawn, use_output_dir: bool) -> str:
    """One fuzzed call; returns "picture" or the error's class name. Fails on anything else."""
    call = (content_d, style_d, drawn, use_output_dir)
    with sandbox() as (cwd, inputs, out):
        content, style = build(content_d, inputs), build(style_d, inputs)
        opts = {**TINY, **option_dict(drawn)}
        if use_output_dir:
            opts.setdefault("output_dir", str(out))
        before = files_under(inputs)
        try:
            result = nst.stylize(content, style, **opts)
        except Exception as e:  # noqa: BLE001  (the property: only NSTError)
            assert_one_line(e, call)
            outcome = type(e).__name__
            assert files_under(out) == set(), (call, "outputs of a failed call", files_under(out))
        else:
            assert isinstance(result, (Image.Image, list)), (call, type(result))
            outcome = "picture"
        if not asks_for_outputs(opts):
            assert files_under(cwd) == set(), (call, "left in the working folder", files_under(cwd))
        assert files_under(Path(tempfile.gettempdir())) == set(), (call, "left in the temporary folder")
        assert files_under(inputs) == before, (call, "the inputs' folder changed")
    return outcome


SAVE_TARGETS = ["png", "nested", "folder", "proc", "jpg", "none", "empty"]


def check_save(picture_d, target: str) -> str:
    call = (picture_d, target)
    with sandbox() as (cwd, inputs, out):
        picture = build(picture_d, inputs)
        path = {"png": out / "x.png", "nested": out / "a" / "b.png", "folder": inputs, "proc": "/proc/nope/x.png",
                "jpg": out / "x.jpg", "none": None, "empty": ""}[target]
        try:
            nst.save(picture, path)
        except Exception as e:  # noqa: BLE001
            assert_one_line(e, call)
            outcome = type(e).__name__
        else:
            outcome = "saved"
        assert files_under(cwd) == set(), (call, "left in the working folder", files_under(cwd))
        assert not [p for p in files_under(out) if p.endswith((".part", ".tmp"))], call
    return outcome


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(image_inputs, style_inputs, options, st.booleans())
def test_fuzzed_stylize_calls_make_a_picture_or_say_one_line(content, style, drawn, use_output_dir):
    check_stylize(content, style, drawn, use_output_dir)


@settings(max_examples=FUZZ_EXAMPLES * 3, deadline=None, suppress_health_check=list(HealthCheck))
@given(image_inputs, st.sampled_from(SAVE_TARGETS))
def test_fuzzed_save_calls_save_or_say_one_line(picture, target):
    check_save(picture, target)


# --- the studio's handlers, called as the page calls them -------------------------------------
payloads = st.one_of(image_inputs, image_inputs.map(lambda d: ("dict", d)), image_inputs.map(lambda d: ("item", d)))
NUMBERS = [0, -1, 1, 32, 48, 1e9, float("nan"), float("inf"), "x", None, 2.5]
handler_values = (
    st.fixed_dictionaries({"size": st.sampled_from(NUMBERS), "preset": st.sampled_from(["preview", "x", None, ""]),
                           "strength": st.sampled_from(NUMBERS), "stroke_size": st.sampled_from(NUMBERS),
                           "colours": st.sampled_from(["the painting's", "x", None]),
                           "style_loss": st.sampled_from(["gram", "mrf", "x", None]),
                           "smoothness": st.sampled_from(NUMBERS), "seed": st.sampled_from(NUMBERS),
                           "blend": st.sampled_from(["", "1", "0.7, 0.3", "x", "nan, 1", None, "-1, 2"])}))


def payload(description, folder: Path):
    """An upload as Gradio hands it over: a path, ``{"path": ...}``, or a gallery item."""
    if description[0] == "dict":
        return {"path": build(description[1], folder)}
    if description[0] == "item":
        return {"image": {"path": build(description[1], folder)}, "caption": None}
    return build(description, folder)


def check_handlers(photo_d, paintings_d, values) -> str:
    """take_photo, take_paintings and the run's options: values and a message, or an NSTError
    (the page shows it) for the settings; never another exception, nothing outside the tab's folder."""
    from nst.studio import handlers

    call = (photo_d, paintings_d, values)
    with sandbox() as (cwd, inputs, out):
        studio = handlers.Studio(out)
        out.mkdir()
        session = studio.session("fuzz")
        photo, _, message = handlers.take_photo(session, payload(photo_d, inputs))
        assert isinstance(message, str) and "\n" not in message, call
        gallery, message = handlers.take_paintings(session, [payload(d, inputs) for d in paintings_d])
        assert isinstance(message, str) and "\n" not in message, call
        try:
            settings_ = handlers.settings_of(dict(values), len(session.paintings))
            handlers.run_options(studio, session, settings_, None)
        except Exception as e:  # noqa: BLE001
            assert_one_line(e, call)
            outcome = type(e).__name__
        else:
            outcome = "options"
        assert files_under(cwd) == set(), (call, files_under(cwd))
        studio.forget("fuzz")
        assert files_under(out) == set(), (call, "the tab's folder outlived it", files_under(out))
    return outcome


@settings(max_examples=FUZZ_EXAMPLES * 3, deadline=None, suppress_health_check=list(HealthCheck))
@given(payloads, st.lists(payloads, max_size=3), handler_values)
def test_fuzzed_studio_handlers_answer_or_say_one_line(photo, paintings, values):
    check_handlers(photo, paintings, values)


API_FUZZ_FOUND = [  # what the fuzz (bench/fuzz_api.py) found, fixed, kept as explicit cases
    ("stylize", ("tensor", "float32", (3, 40, 48), "meta", (0, 1)), ("path", "painting"), [], False),  # NotImplementedError
    ("stylize", ("pil", "CMYK", 40, 32), ("path", "painting"), [], False),  # OSError: cannot write mode CMYK as PNG
    ("stylize", ("pil", "RGB", 0, 0), ("path", "painting"), [], False),  # ValueError: cannot write empty image
    ("stylize", ("array", "float64", (32, 40, 3), (0, 255)), ("path", "painting"), [], False),  # was clipped: white
    ("stylize", ("path", "photo"), ("list", []), [], False),  # "style_blend_weights must be finite ... got []", no Fix
    ("stylize", ("pil", "RGB", 15, 15), ("path", "painting"), [], True),  # its TensorBoard logs left in output_dir
    ("save", ("path", "photo"), "png"),  # AttributeError: 'str' object has no attribute 'info'
    ("save", ("pil", "RGB", 40, 32), "none"),  # TypeError on a None path
    ("handlers", ("dict", ("array", "uint8", (32, 40, 3), (0, 255))), [], {  # TypeError: a path that is an array
        "size": 32, "preset": "preview", "strength": 0, "stroke_size": 1, "colours": "the painting's",
        "style_loss": "gram", "smoothness": 0, "seed": 0, "blend": ""}),
    ("handlers", ("path", "photo"), [("path", "painting")], {  # TypeError: int(None) for an empty size box
        "size": None, "preset": "preview", "strength": 0, "stroke_size": 1, "colours": "the painting's",
        "style_loss": "gram", "smoothness": 0, "seed": 0, "blend": ""}),
]


@pytest.mark.parametrize("case", API_FUZZ_FOUND, ids=repr)
def test_what_the_long_api_fuzz_found(case):
    check = {"save": check_save, "handlers": check_handlers, "stylize": check_stylize}[case[0]]
    check(*case[1:])
