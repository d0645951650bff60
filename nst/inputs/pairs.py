"""Which (content, style) pairs a run makes: one pair, contents x styles from folders or globs,
or a CSV manifest; and which of them each device (rank) takes."""

from __future__ import annotations

import csv
import glob
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from nst.errors import ConfigError
from nst.media.images import IMAGE_SUFFIXES
from nst.media.video import VIDEO_SUFFIXES

CONTENT_SUFFIXES = (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES)  # each video is one pair, like a photo


class PairSpec(NamedTuple):
    """A pair to make: its output name, the content path and the style path(s) (blended)."""

    name: str
    content: str
    styles: tuple[str, ...]


def is_pattern(value: str) -> bool:
    """A folder or a glob pattern (several images), as opposed to one image file."""
    return os.path.isdir(value) or any(c in value for c in "*?[")


def expand_images(value: str, what: str, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[str]:
    """A folder (its images, sorted), a glob (its matches, sorted) or one path."""
    if not is_pattern(value):
        return [value]
    pattern = os.path.join(value, "*") if os.path.isdir(value) else value
    found = sorted(p for p in glob.glob(os.path.expanduser(pattern))
                   if Path(p).suffix.lower() in suffixes and os.path.isfile(p))
    if not found:
        raise ConfigError(f"{what} '{value}' matches no image files ({', '.join(suffixes)}). "
                          "Fix: check the folder or pattern")
    return found


def stem(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", Path(path).stem)


def collect_pairs(content: str | None, style, manifest: str | None = None,
                  frames_folder: bool = False) -> list[PairSpec]:
    """The run's pairs, in a fixed order: the manifest's rows, or every content x every style.

    ``style`` as a list of files is one blended style (``style_blend_weights``); a folder or glob
    gives one pair per style image. A content folder or glob gives one pair per photo or video,
    or with ``frames_folder`` one video pair of its frames. Names are ``<content>__<style>``
    (made unique)."""
    if manifest is not None:
        specs = read_manifest(manifest)
    else:
        for key, value in (("content", content), ("style", style)):
            if value is None:
                raise ConfigError(f"data.{key} is required. Fix: give --data.{key} (or --{key}), "
                                  "a --config, or data.pairs (a CSV manifest of pairs)")
        contents = [str(content)] if frames_folder else expand_images(str(content), "content", CONTENT_SUFFIXES)
        if isinstance(style, (str, os.PathLike)) and is_pattern(str(style)):
            style_sets = [(s,) for s in expand_images(str(style), "style")]
        else:
            style_sets = [tuple(str(s) for s in ([style] if isinstance(style, (str, os.PathLike)) else style))]
        specs = [PairSpec(f"{stem(c)}__{'+'.join(stem(s) for s in ss)}", c, ss)
                 for c in contents for ss in style_sets]
    return unique_names(specs)


def read_manifest(path: str) -> list[PairSpec]:
    """CSV with a header ``content,style[,name]``; paths relative to the CSV's folder; several
    blended styles in one cell separated by ``|``."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"pairs manifest {file} does not exist. Fix: check data.pairs")
    with file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"content", "style"} <= set(rows[0]):
        raise ConfigError(f"{file}: a pairs manifest needs a header line 'content,style' (and "
                          "optionally ',name') and one row per pair")
    specs = []
    for line, row in enumerate(rows, start=2):
        if not row.get("content") or not row.get("style"):
            raise ConfigError(f"{file}, line {line}: empty content or style. Fix: fill both cells")
        content = str(file.parent / row["content"].strip())
        styles = tuple(str(file.parent / s.strip()) for s in row["style"].split("|"))
        name = (row.get("name") or "").strip() or f"{stem(content)}__{'+'.join(map(stem, styles))}"
        specs.append(PairSpec(stem(name), content, styles))
    return specs


def unique_names(specs: Sequence[PairSpec]) -> list[PairSpec]:
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        count = seen.get(spec.name, 0)
        seen[spec.name] = count + 1
        out.append(spec if count == 0 else spec._replace(name=f"{spec.name}_{count + 1}"))
    return out


def shard(count: int, rank: int, world_size: int) -> list[int]:
    """The pair indices of ``rank``: every ``world_size``-th, so each pair is made exactly once."""
    if count < world_size:
        raise ConfigError(f"{count} pair(s) for {world_size} devices: every device needs at least "
                          f"one. Fix: --trainer.devices {count} or more pairs")
    return list(range(rank, count, world_size))
