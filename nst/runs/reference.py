"""Every config key ``train.py`` accepts, read from the parser it parses with: the rows of the
documentation's config reference (``docs/reference/config.md``, filled in at build time by
``docs/hooks/config_keys.py``) and the short ``python train.py --help``.

    from nst.runs.reference import config_keys, markdown_sections
    print(markdown_sections(config_keys()))
"""

from __future__ import annotations

import argparse
import inspect
import re
from dataclasses import dataclass

from jsonargparse import Namespace

SUPPRESS = argparse.SUPPRESS


@dataclass(frozen=True)
class ConfigKey:
    """One row of the reference: the dotted key, its type, its default and one line of help."""

    name: str
    type: str
    default: str
    help: str


class _Built(Exception):
    def __init__(self, parser):
        super().__init__("parser built")
        self.parser = parser


def build_parser():
    """The parser of :class:`nst.runs.cli.NSTCLI` (project defaults included), built but not used
    on any arguments."""
    from nst.runs.cli import NSTCLI

    class Unparsed(NSTCLI):
        def parse_arguments(self, parser, args) -> None:
            raise _Built(parser)

    try:
        Unparsed([])
    except _Built as built:
        return built.parser
    raise RuntimeError("LightningCLI no longer calls parse_arguments")  # pragma: no cover


def key_actions(parser) -> list[argparse.Action]:
    """The parser's actions that set a key (not the help, per-section config files, subclass
    help or links), once each."""
    from jsonargparse._actions import _ActionConfigLoad, _ActionHelpClassPath
    from jsonargparse._link_arguments import ActionLink

    skip = (argparse._HelpAction, _ActionConfigLoad, _ActionHelpClassPath, ActionLink)
    seen: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if not isinstance(action, skip) and action.option_strings and action.dest not in seen:
            seen[action.dest] = action
    return list(seen.values())


def config_keys(parser=None) -> list[ConfigKey]:
    """Every key ``train.py`` accepts, in the parser's order, plus ``sweep`` (a plan option that
    ``nst.runs.plan`` takes out of the command line before the parser sees it)."""
    parser = parser or build_parser()
    formatter = parser._get_formatter()
    rows = []
    for action in key_actions(parser):
        kind = formatter._get_type_str(action) or ("flags" if action.dest == "print_config" else "path")
        rows.append(ConfigKey(action.dest, kind, default_text(action.default), one_line(help_of(action))))
    rows.append(ConfigKey("sweep", "key=v1,v2,... (repeatable)", "null",
                          "Run each value (their product, repeated) as its own run and write a labelled "
                          "contact sheet (nst.runs.sweep)."))
    return rows


def default_text(value) -> str:
    if value is SUPPRESS or value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Namespace):
        value = value.as_dict()
    if isinstance(value, tuple):
        value = list(value)
    return str(value)


def help_of(action: argparse.Action) -> str:
    """The parser's help, or, where the class documents several arguments on one line
    (``content_weight, style_weight, tv_weight: ...``), that line."""
    if action.help and action.help is not SUPPRESS:
        return action.help
    section, _, name = action.dest.rpartition(".")
    cls = section_classes().get(section)
    return grouped_args(inspect.getdoc(cls) or "").get(name, "") if cls else ""


def section_classes() -> dict[str, type]:
    from nst.runs.arguments import sections

    return sections()


def grouped_args(doc: str) -> dict[str, str]:
    """``Args:`` entries of a Google-style docstring, one per name also where a line names several."""
    out: dict[str, str] = {}
    block = re.split(r"^Args:\s*$", doc, maxsplit=1, flags=re.M)
    if len(block) < 2:
        return out
    names: list[str] = []
    for line in block[1].splitlines():
        entry = re.match(r"^ {4}([\w, ]+):\s*(.*)$", line)
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            for name in names:
                out[name] = entry.group(2)
        elif line.startswith(" " * 8) and names:
            for name in names:
                out[name] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            break
    return out


def one_line(text: str) -> str:
    """The first sentence, on one line, without Sphinx markup."""
    text = " ".join(text.replace("``", "`").split())
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    first = re.split(r"(?<=[a-z0-9)`'\]])\. (?=[A-Z`(])", text, maxsplit=1)[0]
    return first if first.endswith(".") or not first else first + "."


def markdown_table(rows: list[ConfigKey]) -> str:
    """A table of ``rows``: key, type, default, help."""
    def cell(text: str, code: bool = False) -> str:  # a pipe inside a code span is no cell border
        return f"`{text}`" if code and text else text.replace("|", "\\|")

    lines = ["| key | type | default | what |", "| --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| `{row.name}` | {cell(row.type, True)} | {cell(row.default, True)} | {cell(row.help)} |")
    return "\n".join(lines) + "\n"


SECTION_ORDER = ("", "data", "model", "trainer", "image_saver", "eval_metrics", "run_guard", "converged",
                 "timelapse", "video_frames", "checkpoint")


def markdown_sections(rows: list[ConfigKey]) -> str:
    """The reference page's body: one table per section (the run's own keys first, then
    ``data``, ``model``, ``trainer`` and the callbacks), each under the class it configures."""
    groups: dict[str, list[ConfigKey]] = {}
    for row in rows:
        groups.setdefault(row.name.rpartition(".")[0], []).append(row)
    order = [*SECTION_ORDER, *sorted(set(groups) - set(SECTION_ORDER))]
    classes = section_classes()
    parts = []
    for section in (s for s in order if s in groups):
        cls = classes.get(section)
        if cls is None:
            title, about = "The run", "Keys of the command itself (no section)."
        else:
            title = f"`{section}`"
            about = f"`{cls.__module__}.{cls.__qualname__}`: {one_line(inspect.getdoc(cls) or '')}"
        parts.append(f"## {title}\n\n{about}\n\n{markdown_table(groups[section])}")
    return "\n".join(parts)


SHORT_HELP = {  # what most runs set, grouped; the defaults come from the parser
    "What to stylise": {
        "config": "a config file; a bare name is configs/<name> (starry.yaml, preview.yaml)",
        "data.content": "the photo (also --content): a path, a folder or glob, or a video",
        "data.style": "the painting (also --style), or a list of paintings to blend",
        "data.size": "longest side of the result in px (auto: the largest that fits)",
        "trainer.max_steps": "optimiser steps",
    },
    "How it looks": {
        "model.style_weight": "strength: the style term's weight (null: the loss's own)",
        "model.content_weight": "the content term's weight (null: the loss's own)",
        "model.style_loss": "what 'style' means: gram, wasserstein2, nnst, ... (the cost lab)",
        "data.preserve_color": "colours: none (the painting's), luminance, histogram, neighbour",
        "data.style_scale": "stroke size: the painting's size relative to size",
        "scales": "coarse to fine, e.g. [400,1000,2000] (with --steps_per_scale)",
        "model.tile_size": "print size: the network on tiles of this many px (or auto)",
    },
    "Where it goes": {
        "output_dir": "root of all runs: <output_dir>/<run_name>/version_N/",
        "run_name": "the run's folder name (default: the config's name, or content_style)",
        "image_saver.format": "png, png16, tiff16, jpeg or webp",
        "ckpt_path": "resume: a checkpoint file, or last for the newest run of this name",
    },
    "Where it runs": {
        "trainer.accelerator": "cpu, cuda, mps or auto",
        "trainer.devices": "how many devices (auto: one per pair, up to the GPUs there are)",
        "trainer.precision": "bf16-mixed where native, else 32-true or 16-mixed (said once)",
    },
}


def short_help(parser, prog: str = "train.py") -> str:
    """``python train.py --help``: the keys most runs set, one line each, and where the rest is."""
    defaults = {row.name: row.default for row in config_keys(parser)}
    width = max(len(key) for group in SHORT_HELP.values() for key in group) + 4
    lines = [f"usage: python {prog} [--config FILE] [--KEY VALUE ...]",
             "",
             "Neural style transfer (Gatys et al.) with Lightning: python train.py --config starry.yaml,",
             "or python train.py --content photo.jpg --style painting.jpg. A key goes on the command line",
             "as --section.key value (--data.size 256) or in a YAML config under its section (data: size: 256).",
             ]
    for title, keys in SHORT_HELP.items():
        lines += ["", f"{title}:"]
        for key, words in keys.items():
            default = "" if defaults[key] == "null" or key == "config" else f" (default: {defaults[key]})"
            lines.append(f"  --{key:<{width}}{words}{default}")
    lines += ["", "More:",
              "  --print_config        every key with its value for this command line, as YAML, and exit",
              "  --sweep KEY=V1,V2     one run per value and a contact sheet",
              "  --help all            every key (jsonargparse's full listing)",
              "Every key with its type, default and meaning: the documentation's config reference",
              "(docs/reference/config.md; mkdocs serve shows the site)."]
    return "\n".join(lines)
