"""--ckpt_path: a file that is not a checkpoint, or a pickle that would run code, is refused
with one line before anything runs (and no image is written for a run that never started)."""

import os
import pickle

import pytest
import torch

import train
from tests.conftest import tiny_args


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this should never run",))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("just a line of text\n"), "is not a readable checkpoint"),
    (lambda p: torch.save({"state_dict": RunsCode()}, p), "could run code when loaded; refused"),
    (lambda p: torch.save({"weights": torch.zeros(2)}, p), "is not a Lightning checkpoint (no state_dict"),
    (lambda p: p.write_bytes(pickle.dumps([1, 2])), "is not a readable checkpoint"),
])
def test_what_is_not_a_checkpoint_is_one_line(tmp_path, capsys, make, message):
    path = tmp_path / "given.ckpt"
    make(path)
    assert train.main(tiny_args(tmp_path, "--ckpt_path", str(path), steps=1)) == 2
    err = capsys.readouterr().err
    assert message in one_line_error_of(err) and "this should never run" not in err
    assert not list(tmp_path.rglob("*.png"))  # nothing started, so no interrupted.png


def one_line_error_of(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]
