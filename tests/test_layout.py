"""The package's layout is its architecture: imports flow one way, from the top box down
(api -> runs with callbacks -> model -> objective -> inputs -> media -> shared modules), and the
wheel holds ``nst`` alone."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT

LAYERS = ["shared", "media", "inputs", "objective", "model", "realtime", "runs", "api", "studio"]
SHARED = {"errors", "config_types", "seeds", "hardware", "linalg", "cache"}


def layer(module: str) -> int:
    """The rank of ``nst.<box>...`` (callbacks belong to the runs box)."""
    parts = module.split(".")
    box = parts[1] if len(parts) > 1 else "api"
    box = {"callbacks": "runs"}.get(box, "shared" if box in SHARED else box)
    assert box in LAYERS, f"{module} is in no box of the layout (docs/architecture.md)"
    return LAYERS.index(box)


def modules():
    for path in sorted((PROJECT / "nst").rglob("*.py")):
        relative = path.relative_to(PROJECT / "nst")
        if relative.parts[0] in ("callbacks", "configs", "assets"):
            continue  # links to the top-level folders: read below as nst.callbacks
        yield ("nst." + ".".join(relative.with_suffix("").parts)).removesuffix(".__init__"), path
    for path in sorted((PROJECT / "callbacks").glob("*.py")):
        yield f"nst.callbacks.{path.stem}".removesuffix(".__init__"), path


def imports(path: Path, module: str):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y inside a package (callbacks/__init__.py)
                package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
                yield package.rsplit(".", node.level - 1)[0] + (f".{node.module}" if node.module else "")
            elif node.module:
                yield node.module


def test_no_import_runs_back_up():
    upward = []
    for module, path in modules():
        if module == "nst":
            continue  # the package's lazy public names point at every box
        for target in imports(path, module):
            if target.startswith("nst.") and layer(target) > layer(module):
                upward.append(f"{module} imports {target}")
            assert not target.split(".")[0] == "callbacks", f"{module} imports the top-level callbacks: use nst.callbacks"
    assert not upward, upward


def test_a_handful_of_boxes_not_a_flat_list():
    top = sorted(p.name for p in (PROJECT / "nst").iterdir() if p.suffix == ".py" or (p.is_dir() and p.name != "__pycache__"))
    boxes = [name for name in top if (PROJECT / "nst" / name).is_dir()]
    assert len([name for name in top if name.endswith(".py")]) <= 8, top
    assert {"media", "inputs", "objective", "model", "runs", "callbacks"} <= set(boxes), boxes
