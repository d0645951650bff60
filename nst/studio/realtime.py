"""The studio's trained styles: a dropdown of the real-time style checkpoints found under
``outputs/`` (``docs/realtime.md``); the picture appears as soon as a photo is dropped."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import yaml

from nst.errors import NSTError

SIZES = [256, 512, 1024]


def trained_styles(root: str | Path = "outputs") -> list[tuple[str, str]]:
    """(label, path) of every ``last.ckpt`` under ``root`` whose run says ``task: realtime``."""
    found = []
    for ckpt in sorted(Path(root).glob("**/checkpoints/last.ckpt")):
        config = ckpt.parent.parent / "config.yaml"
        try:
            task = (yaml.safe_load(config.read_text()) or {}).get("task") if config.is_file() else None
        except (OSError, yaml.YAMLError):
            continue
        if task == "realtime":
            found.append((str(ckpt.parent.parent.relative_to(root)), str(ckpt)))
    return found


def paint(checkpoint: str | None, photo: str | None, size: int):
    """The stylised photo, or a message saying what is missing."""
    from nst.realtime.apply import load_style

    if not checkpoint or not photo:
        return None, "Choose a trained style and drop a photo." if not checkpoint else "Drop a photo."
    try:
        return load_style(checkpoint)(photo, int(size)), ""
    except NSTError as e:
        return None, str(e)


def section(root: str | Path = "outputs") -> None:
    """The trained-styles accordion, wired (inside the page's Blocks)."""
    with gr.Accordion("Trained styles (real-time, one pass)", open=False):
        with gr.Row():
            choices = trained_styles(root)
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Trained style",
                                info=f"last.ckpt of runs under {root}/ (python train.py --config fast_starry.yaml)")
            size = gr.Dropdown(SIZES, value=512, label="Long side (px)")
        with gr.Row():
            photo = gr.Image(label="Photo", type="filepath", sources=["upload", "clipboard"], height=300)
            picture = gr.Image(label="Painted", interactive=False, format="png", height=300)
        message = gr.Markdown()
        for event in (photo.change, model.change, size.change):
            event(paint, [model, photo, size], [picture, message])
