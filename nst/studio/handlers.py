"""What the page's events do: check uploads, start and stop runs, keep the results.

The functions take plain values and a :class:`Studio` (the server's sessions and fixed
options) and return or yield plain values; :mod:`nst.studio.page` wires them to components.
"""

from __future__ import annotations

import functools
import hashlib
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

import nst
from nst.errors import ConfigError, ImageError, NSTError
from nst.studio import controls
from nst.studio.masks import content_masks, editor_background
from nst.studio.session import Finished, Lane, Session, watch


@dataclass
class Studio:
    """The server's state: its folder, the tabs' sessions, options every run gets (``--option``)."""

    folder: Path
    fixed: dict = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    lanes: dict[str, Lane] = field(default_factory=lambda: {"run": Lane(), "print": Lane()})

    def session(self, key: str | None) -> Session:
        key = key or "default"
        if key not in self.sessions:
            self.sessions[key] = Session(Path(tempfile.mkdtemp(prefix="tab-", dir=self.folder)))
        return self.sessions[key]

    def forget(self, key: str | None) -> None:
        session = self.sessions.pop(key or "default", None)
        if session is not None:
            session.close()


def problem(error: Exception) -> str:
    """The message box's text for an error (the project's one line)."""
    return f"**⚠ {' '.join(str(error).split())}**"


def upload_path(payload) -> str | None:
    """The server path of a raw (not preprocessed) image upload."""
    if isinstance(payload, dict):
        payload = payload.get("image", payload)  # a gallery item wraps its image
        payload = payload.get("path") if isinstance(payload, dict) else payload
    if payload is None or isinstance(payload, (str, Path)):
        return None if payload is None else str(payload)
    raise ImageError(f"the upload is a {type(payload).__name__}, not a file. Fix: upload an image file")


def take_photo(session: Session, payload) -> tuple[object, object, str]:
    """A new photo: (photo's value, the mask editor's background, message)."""
    try:
        path = upload_path(payload)
        if path is None:
            session.photo = None
            return None, None, ""
        kept = session.set_photo(path)
    except NSTError as e:
        return None, None, problem(e)
    from PIL import Image

    with Image.open(kept) as im:
        background = editor_background(im)
    editor = {"background": background, "layers": [], "composite": background}
    return str(kept), editor, f"photo: {Path(path).name}, {background.width}x{background.height} shown"


def take_paintings(session: Session, payload) -> tuple[object, str]:
    """New paintings: (the gallery's value, message)."""
    try:
        paths = [p for p in (upload_path(item) for item in payload or []) if p]
        kept = session.set_paintings(paths)
    except NSTError as e:
        return [], problem(e)
    return [str(p) for p in kept], f"{len(kept)} painting(s)" if kept else ""


NUMBER_CONTROLS = {"size": (16, 16384), "strength": controls.STRENGTH_RANGE, "stroke_size": (0.01, 100),
                   "smoothness": (0, 10), "seed": (0, 2**63 - 1)}


def same_paintings(session: Session, payload) -> bool:
    """The gallery's value is this session's paintings already (Gradio's copies keep their names):
    its change event after the server set it must not take them in again (a new copy, a new
    value, a new change event: a loop)."""
    try:
        names = [Path(p).name for p in (upload_path(item) for item in payload or []) if p]
    except NSTError:
        return False
    return bool(names) and names == [p.name for p in session.paintings]


def settings_of(values: dict, paintings: int) -> controls.Settings:
    """The controls' values as :class:`controls.Settings` (numbers and blend weights checked)."""
    for name, (low, high) in NUMBER_CONTROLS.items():
        value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ConfigError(f"{name.replace('_', ' ')} {value!r} is not a number in {low:g}..{high:g}. "
                              "Fix: set it again")
    blend = controls.parse_blend(str(values.pop("blend", "") or ""), paintings)
    return controls.Settings(**values, blend=blend)


def run_options(studio: Studio, session: Session, settings: controls.Settings, editor) -> dict:
    """The options of this picture: the controls, the drawn masks, the server's fixed options."""
    from PIL import Image

    session.check_ready()
    options = controls.options(settings, len(session.paintings))
    layers = (editor or {}).get("layers") or []
    with Image.open(session.photo) as im:
        size = im.size
    masks = session.save_masks(content_masks(layers, len(session.paintings), size))
    if masks:
        options["content_masks"] = [str(p) for p in masks]
    return {**options, **studio.fixed}


def instant_options(session: Session, values: dict, editor, photo_size: tuple[int, int]) -> dict:
    """The instant picture's options: the controls (``controls.instant_options``) and the drawn masks
    (at ``photo_size``, width and height)."""
    settings = settings_of(dict(values), len(session.paintings))
    options = controls.instant_options(settings, len(session.paintings))
    masks = content_masks((editor or {}).get("layers") or [], len(session.paintings), photo_size)
    if masks:
        options["content_masks"] = masks
    return options


@functools.lru_cache(maxsize=256)
def file_digest(path: Path) -> str:
    """A kept input's content (its name is its own: it never changes)."""
    return hashlib.sha1(path.read_bytes()).hexdigest()


def instant_key(session: Session, values: dict, editor) -> str:
    """What the instant picture is made of: the inputs' content (the same upload taken in twice is
    the same), the controls, the drawn layers."""
    digest = hashlib.sha1()
    for layer in (editor or {}).get("layers") or []:
        digest.update(layer.tobytes() if layer is not None else b"-")
    inputs = [file_digest(Path(p)) for p in [session.photo, *session.paintings]]
    return repr((sorted(values.items()), inputs, digest.hexdigest()))


def instant_picture(session: Session, values: dict, editor) -> tuple[object, str] | None:
    """The photo painted at once with the paintings and the controls (one pass of the instant
    network): (picture, a line with its time), (None, "") until both are in, the problem, or
    None when it would be the picture already made of the same inputs."""
    if session.photo is None or not session.paintings:
        session.instant_key = ""
        return None, ""
    key = instant_key(session, values, editor)
    if key == session.instant_key:
        return None
    session.instant_key = key
    paintings = list(session.paintings)
    try:
        began = time.perf_counter()
        photo = session.instant_photo()
        options = instant_options(session, values, editor, (photo.shape[-1], photo.shape[-2]))
        image = nst.stylize(photo, [str(p) for p in paintings], model="instant", **options)
    except NSTError as e:
        return None, problem(e)
    return image, (f"instant picture: {max(image.size)} px in {time.perf_counter() - began:.2f} s · instant "
                   f"strength {options['strength']:.2f} · Start optimises it")


WEBCAM_SIZES = [256, 384, 512]


def paint_frame(session: Session, frame, values: dict, size: int) -> tuple[object, str]:
    """A webcam frame painted with the instant style of this tab's paintings and the controls
    (not the masks: they are drawn on the photo): (picture, line), or (None, the problem)."""
    if frame is None:
        return None, ""
    if not session.paintings:
        return None, problem("no painting yet. Fix: upload one or more paintings in the Picture tab "
                             "(or click an example)")
    try:
        settings = settings_of(dict(values), len(session.paintings))
        options = {**controls.instant_options(settings, len(session.paintings)), "size": int(size)}
        began = time.perf_counter()
        image = nst.stylize(frame, [str(p) for p in session.paintings], model="instant", **options)
    except NSTError as e:
        return None, problem(e)
    return image, (f"painted with the instant style of {len(session.paintings)} painting(s): {max(image.size)} px "
                   f"in {time.perf_counter() - began:.2f} s")


def preview_every(steps: int) -> int:
    """Steps between two looks: often enough to watch (a look costs one image copy)."""
    return max(2, min(10, steps // 30))


def progress_html(look: nst.Progress, label: str = "") -> str:
    """A progress bar with what the picture is (preset, size, loss), the step, the stage and the time left."""
    step, total = look.step, max(1, look.max_steps)
    left = look.elapsed * (total - step) / step if step else math.nan
    stage = f" · stage {look.stage}/{look.stages}" if look.stages > 1 else ""
    eta = "" if math.isnan(left) else f" · about {left:.0f} s left" + (" in this stage" if stage else "")
    return (f'<progress max="{total}" value="{step}" style="width:100%"></progress>'
            f'<div class="nst-progress">{label + " · " if label else ""}step {step}/{total}{stage} · '
            f'{look.elapsed:.1f} s{eta}</div>')


def loss_rows(look: nst.Progress, offset: int) -> list[dict]:
    """The look's losses as rows of the loss curve (their values; :func:`loss_frame` scales them)."""
    return [{"step": offset + look.step, "loss": name.removeprefix("loss/"), "value": value}
            for name, value in look.losses.items() if value >= 0 and math.isfinite(value)]


def say(message: str) -> tuple:
    """An update that only sets the message line."""
    return None, None, None, None, message


INPUTS_WAIT = 120  # s a Start waits for uploads still being taken in


def start_run(studio: Studio, session: Session, values: dict, editor) -> Iterator[tuple]:
    """What Start does: every click gets an answer. A run already going in this tab says so;
    uploads still in flight (an example just clicked) are waited for; bad settings get their
    line; another tab's run is queued behind, visibly; then the run streams."""
    if not session.claim("run"):
        yield say(problem("a run is already going in this tab. Fix: Stop it, or wait for it to end"))
        return
    try:
        session.stop.clear()
        if session.loading:
            yield say("waiting for the photo and paintings to finish loading…")
        if not session.wait_inputs(INPUTS_WAIT):
            yield say(problem("the uploads are still loading after 2 min. Fix: upload them again"))
            return
        try:
            settings = settings_of(dict(values), len(session.paintings))
            options = run_options(studio, session, settings, editor)
        except NSTError as e:
            yield say(problem(e))
            return
        label = f"{settings.preset} · {options['size']} px · {options['style_loss']}"
        yield from in_turn(studio.lanes["run"], session, session.stop, options, settings.caption(), label)
    finally:
        session.release("run")


def in_turn(lane: Lane, session: Session, stop, options: dict, caption: str, label: str) -> Iterator[tuple]:
    """Wait (saying so) for the lane's turn, then run; Stop while waiting ends the wait."""
    ticket = object()
    lane.join(ticket)
    try:
        ahead = lane.wait(ticket, 0)
        while ahead and not stop.is_set():
            yield say(f"waiting for {ahead} run(s) of other tabs to end, then: {label}")
            ahead = lane.wait(ticket, 0.5)
        if stop.is_set():
            yield say("stopped before it started")
            return
        yield None, "", None, None, f"starting: {label}…"  # and the last run's progress bar goes
        yield from run_picture(session, session.photo, list(session.paintings), options, stop, caption, label)
    finally:
        lane.leave(ticket)


def stop_run(session: Session, what: str = "run") -> Iterator[str]:
    """What Stop (or Stop print) says at once, then it stops; the run itself then says where it
    stopped. Saying it first keeps the order on the page: the run's last line comes after."""
    if what not in session.busy:
        yield f"nothing to stop: no {'print' if what == 'print' else 'run'} is going in this tab"
        return
    yield "stopping: the picture at this step is kept…"
    (session.stop_print if what == "print" else session.stop).set()


def print_run(studio: Studio, session: Session, target) -> Iterator[tuple]:
    """The print-size chain of the last picture, in its own lane."""
    finished = [p for p in session.pictures if "scales" not in p.options]
    if not finished:
        yield say(problem("no picture yet. Fix: make one with Start first"))
        return
    if not session.claim("print"):
        yield say(problem("a print is already being made in this tab. Fix: Stop print, or wait for it"))
        return
    try:
        session.stop_print.clear()
        last = finished[-1]
        base = {k: v for k, v in last.options.items() if k != "steps"}
        try:
            chain = controls.print_chain(str(last.path), int(base["size"]), int(target))
        except (NSTError, TypeError, ValueError) as e:
            yield say(problem(e if isinstance(e, NSTError) else f"print size {target!r}: {e}. Fix: pick one"))
            return
        caption = f"print {target} px of picture {len(session.pictures)}"
        yield from in_turn(studio.lanes["print"], session, session.stop_print, {**base, **chain}, caption,
                           f"print {target} px")
    finally:
        session.release("print")


def run_picture(session: Session, photo: Path, paintings: list[Path], options: dict, stop, caption: str,
                label: str = "") -> Iterator[tuple]:
    """Yield (image, progress html, losses frame, Picture or None, message) as a run goes; the
    inputs are the ones of its Start (a new upload meanwhile is for the next run)."""
    rows: list[dict] = []
    offset, last_stage, steps, seconds = 0, 1, 0, 0.0
    every = preview_every(int(options.get("steps", 200)))
    for look in watch(photo, paintings, options, stop, every):
        if isinstance(look, Finished):
            if look.error:
                yield None, "", None, None, problem(look.error)
                return
            stopped = stop.is_set()
            picture = keep(session, (photo, paintings), look.image, options, caption, steps, stopped)
            number = len(session.pictures)
            ended = f"{'stopped at' if stopped else 'finished:'} step {steps} · {seconds:.1f} s"
            yield look.image, f'<div class="nst-progress">{label} · {ended}</div>', None, picture, (
                f"stopped: kept the picture at step {steps}, picture {number} ({label})" if stopped
                else f"done: picture {number} ({label})")
            return
        seconds = look.elapsed
        if look.stage != last_stage:
            offset, last_stage = offset + steps, look.stage
        steps = look.step
        rows += loss_rows(look, offset)
        yield look.image, progress_html(look, label), loss_frame(rows), None, ""


def loss_frame(rows: list[dict]) -> pd.DataFrame | None:
    """The loss curves, each as a percentage of its own largest value so far: the run's own range
    (100 at the start of a falling loss), whatever the losses' sizes. None before the first loss."""
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["step", "loss", "value"]).astype({"step": int, "value": float})
    peak = frame.groupby("loss")["value"].transform("max").where(lambda p: p > 0, 1.0)
    return frame.assign(percent=100 * frame["value"] / peak)[["step", "loss", "percent"]]


def keep(session: Session, inputs: tuple[Path, list[Path]], image, options: dict, caption: str, steps: int,
         stopped: bool):
    """Keep a finished picture with the command that makes it again (from its run's inputs)."""
    made = dict(options)
    if stopped and "scales" not in made:  # the same picture: the run up to where it stopped
        made["steps"] = steps
        caption += f" · stopped at step {steps}"
    photo, paintings = inputs
    style = [str(p) for p in paintings] if len(paintings) > 1 else str(paintings[0])
    command = nst.command_line(str(photo), style, **made)
    return session.keep_picture(image, caption, command, made, steps)
