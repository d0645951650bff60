"""The studio's page (Gradio Blocks): inputs, controls, the instant picture, the picture as it
forms, results; and a webcam tab painting each frame with the instant style.

Layout and wiring only; what each event does is in :mod:`nst.studio.handlers`. Runs take turns
on the device in the studio's own lane (one at a time, a waiting tab is told its place); the
print-size chain has a lane of its own so it can run in the background; Stop is never held
(a lane of its own, unlimited) and answers at once.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from nst.studio import controls, handlers, realtime
from nst.studio.handlers import Studio

ASSETS = Path(__file__).resolve().parents[1] / "assets"
EXAMPLES = {
    "building + Starry Night": ("building.jpg", ["starry_night.jpg"]),
    "home + Starry Night and fruits": ("home.jpg", ["starry_night.jpg", "fruits.jpg"]),
}
PRINT_SIZES = [1000, 2000, 2500, 4000]
CSS = ".nst-progress {font-variant-numeric: tabular-nums; font-size: 0.9em}"
SETTING_NAMES = ["size", "preset", "strength", "stroke_size", "colours", "style_loss", "smoothness", "seed", "blend"]


def inputs_column() -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.photo = gr.Image(label="Photo", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                        elem_id="photo", height=260)
    ui.paintings = gr.Gallery(label="Paintings (one or more)", type="filepath", interactive=True,
                              sources=["upload", "clipboard"], columns=3, height=180, elem_id="paintings")
    ui.blend = gr.Textbox(label="Blend weights (one per painting; empty: equal)", placeholder="0.7, 0.3",
                          elem_id="blend")
    with gr.Row():
        ui.examples = [gr.Button(f"Example: {name}", size="sm", elem_id=f"example-{i}")
                       for i, name in enumerate(EXAMPLES)]
    ui.message = gr.Markdown(elem_id="message")
    with gr.Accordion("Masks: paint where each painting goes (layer 1 = painting 1, ...)", open=False,
                      elem_id="mask-accordion"):
        ui.editor = gr.ImageEditor(label="Masks", type="pil", elem_id="masks", sources=[], height=360,
                                   layers=gr.LayerOptions(layers=["painting 1"], allow_additional_layers=True),
                                   brush=gr.Brush(colors=["#ff2266"], default_size=40, color_mode="fixed"),
                                   transforms=[], buttons=[])
    return ui


def controls_column() -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.size = gr.Slider(32, 1024, value=400, step=16, label="Size (longest side, px)", elem_id="size")
    ui.preset = gr.Radio(list(controls.PRESETS), value="default", label="Quality (steps: "
                         + ", ".join(f"{k} {v}" for k, v in controls.PRESETS.items()) + ")", elem_id="preset")
    ui.strength = gr.Slider(*controls.STRENGTH_RANGE, value=0.0, step=0.1, elem_id="strength",
                            label="Strength (style weight, log10 around the loss's calibrated weight)",
                            info="instant picture: 0 and above the painting's style, -2 the photo's own")
    ui.stroke_size = gr.Slider(0.25, 2.0, value=1.0, step=0.05, label="Stroke size (style_scale)",
                               elem_id="stroke")
    ui.colours = gr.Radio(list(controls.COLOURS), value="the painting's", label="Colours (preserve_color)",
                          elem_id="colours")
    ui.style_loss = gr.Dropdown([(line, name) for name, line in controls.STYLE_LOSS_LINES.items()],
                                value="gram", label="Style loss (what is matched)", elem_id="style-loss")
    ui.smoothness = gr.Slider(0, 4, value=0, step=0.5, label="Smoothness (TV weight: 0 off, k = 1e(k+2))",
                              elem_id="smoothness")
    ui.seed = gr.Number(0, precision=0, label="Seed", elem_id="seed")
    with gr.Row():
        ui.start = gr.Button("Start", variant="primary", elem_id="start")
        ui.stop = gr.Button("Stop", variant="stop", elem_id="stop")
    return ui


def live_column() -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.instant = gr.Image(label="Instant picture (one pass; follows the controls)",
                          interactive=False, elem_id="instant", format="jpeg", height=300)
    ui.instant_note = gr.Markdown(elem_id="instant-note")
    ui.preview = gr.Image(label="The picture as it forms", interactive=False, elem_id="preview", format="png",
                          height=420)
    ui.progress = gr.HTML(elem_id="progress")
    ui.losses = gr.LinePlot(x="step", y="percent", color="loss", height=280, elem_id="losses",
                            label="Losses (% of each one's largest value in this run)")
    return ui


def results_row() -> SimpleNamespace:
    ui = SimpleNamespace()
    with gr.Row():
        with gr.Column(scale=2):
            ui.gallery = gr.Gallery(label="This session's pictures", columns=4, height=240, elem_id="results",
                                    object_fit="contain", preview=False, fit_columns=False,
                                    interactive=False)  # whole pictures side by side, 4 a row
            ui.download = gr.DownloadButton("Download PNG (config in its metadata; none yet: Start first)",
                                            elem_id="download", interactive=False)
            ui.reproduce = gr.Code(label="Reproduce: the command that makes the same picture",
                                   language="shell", lines=3, elem_id="reproduce", interactive=False)
        with gr.Column(scale=1):
            ui.print_size = gr.Dropdown(PRINT_SIZES, value=2500, label="Print size (px, tiled coarse-to-fine)",
                                        elem_id="print-size")
            with gr.Row():
                ui.print_start = gr.Button("Make it print size", elem_id="print-start")
                ui.print_stop = gr.Button("Stop print", variant="stop", elem_id="print-stop")
            ui.print_progress = gr.HTML(elem_id="print-progress")
            ui.print_image = gr.Image(label="Print size", interactive=False, elem_id="print-image", height=200)
            ui.print_download = gr.DownloadButton("Download print PNG (none yet)", elem_id="print-download",
                                                  interactive=False)
    return ui


def build(studio: Studio, delete_cache: tuple[int, int] | None = None) -> gr.Blocks:
    """The page of ``studio`` (its sessions, its fixed options); ``delete_cache`` as Gradio's."""
    with gr.Blocks(title="nst studio", analytics_enabled=False, delete_cache=delete_cache) as page:
        gr.Markdown("# nst studio\nA photo, one or more paintings, the controls: the instant picture at "
                    "once; Start, and watch the picture form. Stop keeps the current picture.")
        with gr.Tabs():
            with gr.Tab("Picture", id="picture", elem_id="picture-tab"):
                with gr.Row():
                    with gr.Column(scale=1):
                        inputs = inputs_column()
                    with gr.Column(scale=1):
                        knobs = controls_column()
                    with gr.Column(scale=1):
                        live = live_column()
                results = results_row()
                realtime.section()
            with gr.Tab("Webcam", id="webcam", elem_id="webcam-tab"):
                camera = webcam_tab()
        ui = SimpleNamespace(**vars(inputs), **vars(knobs), **vars(live), **vars(results), **vars(camera))
        wire(page, studio, ui)
    return page


def webcam_tab() -> SimpleNamespace:
    ui = SimpleNamespace()
    gr.Markdown("Each frame of the camera painted with the instant style of the Picture tab's paintings, "
                "with its strength, stroke size, colours and blend weights.")
    with gr.Row():
        ui.camera = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="pil", elem_id="camera",
                             height=360)
        ui.painted = gr.Image(label="Painted", interactive=False, elem_id="painted", format="jpeg", height=360)
    ui.camera_size = gr.Radio(handlers.WEBCAM_SIZES, value=384, label="Long side (px)", elem_id="camera-size")
    ui.camera_note = gr.Markdown(elem_id="camera-note")
    return ui


def wire(page: gr.Blocks, studio: Studio, ui: SimpleNamespace) -> None:
    """Connect the events; every handler finds its tab's session by Gradio's session hash."""
    def photo_changed(payload, request: gr.Request):
        session = studio.session(request.session_hash)
        with session.taking_inputs():
            return handlers.take_photo(session, payload)

    def paintings_changed(payload, request: gr.Request):
        session = studio.session(request.session_hash)
        if handlers.same_paintings(session, payload):  # the gallery showing what it was just given
            return gr.skip(), gr.skip()
        with session.taking_inputs():
            return handlers.take_paintings(session, payload)

    instant = wire_instant(studio, ui)
    ui.photo.upload(photo_changed, ui.photo, [ui.photo, ui.editor, ui.message], preprocess=False).then(**instant)
    ui.photo.clear(photo_changed, ui.photo, [ui.photo, ui.editor, ui.message], preprocess=False).then(**instant)
    ui.paintings.upload(paintings_changed, ui.paintings, [ui.paintings, ui.message],
                        preprocess=False).then(**instant)
    ui.paintings.change(paintings_changed, ui.paintings, [ui.paintings, ui.message],
                        preprocess=False).then(**instant)
    for button, (photo, paintings) in zip(ui.examples, EXAMPLES.values()):
        def example(request: gr.Request, photo=photo, paintings=paintings):
            session = studio.session(request.session_hash)
            with session.taking_inputs():
                photo_value, editor, _ = handlers.take_photo(session, str(ASSETS / photo))
                gallery, message = handlers.take_paintings(session, [str(ASSETS / p) for p in paintings])
            return photo_value, editor, gallery, message

        button.click(example, None, [ui.photo, ui.editor, ui.paintings, ui.message]).then(**instant)
    wire_runs(studio, ui)
    wire_webcam(studio, ui)
    def closed(request: gr.Request):
        studio.forget(request.session_hash)

    page.unload(closed)


def wire_instant(studio: Studio, ui: SimpleNamespace) -> dict:
    """The instant picture follows the controls it uses; returns the event (as ``.then`` keywords)
    that the uploads and examples chain after taking their files in. Asked again with the same
    inputs (the gallery's own change event, the editor's), it keeps the picture it shows."""
    def instant(size, preset, strength, stroke_size, colours, style_loss, smoothness, seed, blend, editor,
                request: gr.Request):
        values = dict(size=size, preset=preset, strength=strength, stroke_size=stroke_size, colours=colours,
                      style_loss=style_loss, smoothness=smoothness, seed=seed, blend=blend)
        session = studio.session(request.session_hash)
        made = handlers.instant_picture(session, values, editor)
        return (gr.skip(), gr.skip()) if made is None else made

    event = dict(fn=instant, inputs=[*(getattr(ui, name) for name in SETTING_NAMES), ui.editor],
                 outputs=[ui.instant, ui.instant_note], show_progress="hidden", concurrency_limit=2,
                 concurrency_id="instant")
    for control in (ui.size, ui.strength, ui.stroke_size, ui.colours, ui.editor):
        control.change(**event, trigger_mode="always_last")
    ui.blend.submit(**event)
    ui.blend.blur(**event)
    return event


def wire_webcam(studio: Studio, ui: SimpleNamespace) -> None:
    """Each camera frame, painted with the instant style of the tab's paintings and controls."""
    def frame(image, size, preset, strength, stroke_size, colours, style_loss, smoothness, seed, blend, long_side,
              request: gr.Request):
        values = dict(size=size, preset=preset, strength=strength, stroke_size=stroke_size, colours=colours,
                      style_loss=style_loss, smoothness=smoothness, seed=seed, blend=blend)
        return handlers.paint_frame(studio.session(request.session_hash), image, values, long_side)

    ui.camera.stream(frame, [ui.camera, *(getattr(ui, name) for name in SETTING_NAMES), ui.camera_size],
                     [ui.painted, ui.camera_note], stream_every=0.2, time_limit=600, concurrency_limit=4,
                     concurrency_id="webcam", show_progress="hidden")


def wire_runs(studio: Studio, ui: SimpleNamespace) -> None:
    """Start and Stop. Every click answers: Start is not held in Gradio's queue (which would show
    nothing while another tab runs) but waits in the studio's own lane, saying so."""
    settings_inputs = [getattr(ui, name) for name in SETTING_NAMES]
    live_outputs = [ui.preview, ui.progress, ui.losses, ui.gallery, ui.download, ui.reproduce, ui.message]

    def start(size, preset, strength, stroke_size, colours, style_loss, smoothness, seed, blend, editor,
              request: gr.Request):
        values = dict(size=size, preset=preset, strength=strength, stroke_size=stroke_size, colours=colours,
                      style_loss=style_loss, smoothness=smoothness, seed=seed, blend=blend)
        session = studio.session(request.session_hash)
        yield from stream(handlers.start_run(studio, session, values, editor), session)

    def stop(request: gr.Request):
        yield from handlers.stop_run(studio.session(request.session_hash))

    ui.start.click(start, [*settings_inputs, ui.editor], live_outputs, concurrency_limit=None,
                   concurrency_id="start", show_progress="hidden", trigger_mode="multiple")
    ui.stop.click(stop, None, ui.message, concurrency_limit=None, concurrency_id="stop", show_progress="hidden",
                  trigger_mode="multiple")  # in the queue: its line comes before the run's last one
    wire_print(studio, ui)


def stream(updates, session, print_size: bool = False):
    """A run's updates as the page's outputs (the gallery, download and reproduce at the end)."""
    for image, progress, losses, picture, message in updates:
        if picture is None:
            live = [image if image is not None else gr.skip(), progress if progress is not None else gr.skip()]
            if print_size:
                yield *live, gr.skip(), message or gr.skip()
            else:
                yield *live, losses if losses is not None else gr.skip(), *[gr.skip()] * 3, message or gr.skip()
            continue
        download = gr.DownloadButton(download_label(picture, print_size), value=str(picture.path), interactive=True)
        ended = progress if progress is not None else gr.skip()  # "stopped at step 37 · 9.1 s"
        if print_size:
            yield image, ended, download, message
        else:
            gallery = [(str(p.path), p.caption) for p in session.pictures]
            yield image, ended, gr.skip(), gallery, download, picture.command, message


def download_label(picture, print_size: bool) -> str:
    """The download button's words once it has a picture (it said "none yet" before)."""
    number = picture.path.stem.rsplit("_", 1)[-1]
    if print_size:
        return f"Download print PNG: picture {number}, {(picture.options.get('scales') or ['?'])[-1]} px"
    return f"Download PNG: picture {number} (config in its metadata)"


def wire_print(studio: Studio, ui: SimpleNamespace) -> None:
    """The print-size chain of the last picture, in its own lane with its own progress."""
    def make_print(target, request: gr.Request):
        session = studio.session(request.session_hash)
        yield from stream(handlers.print_run(studio, session, target), session, print_size=True)

    def stop_print(request: gr.Request):
        yield from handlers.stop_run(studio.session(request.session_hash), "print")

    ui.print_start.click(make_print, ui.print_size, [ui.print_image, ui.print_progress, ui.print_download,
                                                    ui.message], concurrency_limit=None, concurrency_id="print",
                         show_progress="hidden", trigger_mode="multiple")
    ui.print_stop.click(stop_print, None, ui.message, concurrency_limit=None, concurrency_id="stop",
                        show_progress="hidden", trigger_mode="multiple")
