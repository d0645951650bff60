"""What the page's events do: check uploads, start and stop runs, keep the results.

The functions take plain values and a :class:`Studio` (the server's sessions and fixed
options) and return or yield plain values; :mod:`nst.studio.page` wires them to components.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

import nst
from nst.errors import ImageError, NSTError
from nst.studio import controls
from nst.studio.masks import content_masks, editor_background
from nst.studio.session import Finished, Session, watch


@dataclass
class Studio:
    """The server's state: its folder, the tabs' sessions, options every run gets (``--option``)."""

    folder: Path
    fixed: dict = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)

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


def settings_of(values: dict, paintings: int) -> controls.Settings:
    """The controls' values as :class:`controls.Settings` (blend weights checked)."""
    blend = controls.parse_blend(values.pop("blend", "") or "", paintings)
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


def preview_every(steps: int) -> int:
    """Steps between two looks: often enough to watch (a look costs one image copy)."""
    return max(2, min(10, steps // 30))


def progress_html(look: nst.Progress) -> str:
    """A progress bar with the step, the stage and the time left."""
    step, total = look.step, max(1, look.max_steps)
    left = look.elapsed * (total - step) / step if step else math.nan
    stage = f" · stage {look.stage}/{look.stages}" if look.stages > 1 else ""
    eta = "" if math.isnan(left) else f" · about {left:.0f} s left" + (" in this stage" if stage else "")
    return (f'<progress max="{total}" value="{step}" style="width:100%"></progress>'
            f'<div class="nst-progress">step {step}/{total}{stage} · {look.elapsed:.1f} s{eta}</div>')


def loss_rows(look: nst.Progress, offset: int) -> list[dict]:
    """The look's losses as rows of the loss curve (log10, as they span decades)."""
    return [{"step": offset + look.step, "loss": name.removeprefix("loss/"), "log10": math.log10(value)}
            for name, value in look.losses.items() if value > 0 and math.isfinite(value)]


def run_picture(studio: Studio, session: Session, options: dict, stop, caption: str) -> Iterator[tuple]:
    """Yield (image, progress html, losses frame, Picture or None, message) as a run goes."""
    rows: list[dict] = []
    offset, last_stage, steps = 0, 1, 0
    every = preview_every(int(options.get("steps", 200)))
    for look in watch(session.photo, session.paintings, options, stop, every):
        if isinstance(look, Finished):
            if look.error:
                yield None, "", None, None, problem(look.error)
                return
            stopped = stop.is_set()
            picture = keep(session, look.image, options, caption, steps, stopped)
            yield look.image, None, None, picture, ("stopped: kept the picture at step "
                                                    f"{steps}" if stopped else "done")
            return
        if look.stage != last_stage:
            offset, last_stage = offset + steps, look.stage
        steps = look.step
        rows += loss_rows(look, offset)
        yield look.image, progress_html(look), loss_frame(rows), None, ""


def loss_frame(rows: list[dict]) -> pd.DataFrame | None:
    """The loss curve's data, or None before the first loss (an empty frame has no types)."""
    if not rows:
        return None
    return pd.DataFrame(rows, columns=["step", "loss", "log10"]).astype({"step": int, "log10": float})


def keep(session: Session, image, options: dict, caption: str, steps: int, stopped: bool):
    """Keep a finished picture with the command that makes it again."""
    made = dict(options)
    if stopped and "scales" not in made:  # the same picture: the run up to where it stopped
        made["steps"] = steps
        caption += f" · stopped at step {steps}"
    style = [str(p) for p in session.paintings] if len(session.paintings) > 1 else str(session.paintings[0])
    command = nst.command_line(str(session.photo), style, **made)
    return session.keep_picture(image, caption, command, made, steps)
