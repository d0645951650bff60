"""One browser tab's work: its inputs, its pictures and its runs, in a folder of its own.

Each tab gets a :class:`Session` (keyed by Gradio's session hash), so two tabs never see each
other's pictures. A run is ``nst.stylize`` in a thread; its looks at the picture come back
through a queue, which the page's generator turns into updates, so the page streams the
picture as it forms and Stop (an ``Event``) ends the run with the current picture.
"""

from __future__ import annotations

import queue
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from PIL import Image, PngImagePlugin

import nst
from nst.errors import ImageError, NSTError

MAX_INPUT_PIXELS = 50_000_000  # the studio refuses larger uploads (train.py allows 200 MP)
INSTANT_SIDE = 1024  # the size slider's top: the instant picture never needs more of the photo


@dataclass
class Picture:
    """A finished (or stopped) picture of this session."""

    path: Path
    caption: str
    command: str
    options: dict
    steps_done: int


@dataclass
class Finished:
    """What a run ends with: the picture or the one-line error."""

    image: Image.Image | None = None
    error: str | None = None


class Lane:
    """Runs that share a device, one at a time in the order they asked; a waiting run knows its
    place, so the page can say "waiting for 1 run ahead" instead of nothing."""

    def __init__(self) -> None:
        self.turns: list[object] = []
        self.changed = threading.Condition()

    def join(self, ticket: object) -> None:
        with self.changed:
            self.turns.append(ticket)

    def wait(self, ticket: object, timeout: float) -> int:
        """Wait up to ``timeout`` s for ``ticket``'s turn; the number of runs still ahead (0: go)."""
        with self.changed:
            self.changed.wait_for(lambda: self.turns[0] is ticket, timeout)
            return self.turns.index(ticket)

    def leave(self, ticket: object) -> None:
        with self.changed:
            if ticket in self.turns:
                self.turns.remove(ticket)
            self.changed.notify_all()


@dataclass
class Session:
    folder: Path
    photo: Path | None = None
    paintings: list[Path] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    stop_print: threading.Event = field(default_factory=threading.Event)
    busy: set[str] = field(default_factory=set)  # "run", "print": what this tab has going or waiting
    loading: int = 0  # uploads and example clicks being taken in (a run waits for them)
    kept: int = 0  # input files kept so far (each has a name of its own: a run reads its own)
    instant_key: str = ""  # what the instant picture shown was made of (the same again: kept)
    small_photo: tuple = (None, None)  # (photo, it decoded at most INSTANT_SIDE px): the instant picture's
    changed: threading.Condition = field(default_factory=threading.Condition)

    @contextmanager
    def taking_inputs(self):
        """Around an upload or an example click: a Start meanwhile waits for it to finish."""
        with self.changed:
            self.loading += 1
        try:
            yield
        finally:
            with self.changed:
                self.loading -= 1
                self.changed.notify_all()

    def wait_inputs(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the uploads in flight; True when none is left."""
        with self.changed:
            return self.changed.wait_for(lambda: self.loading == 0, timeout)

    def claim(self, what: str) -> bool:
        """Mark ``what`` ("run", "print") as going in this tab; False if it already is."""
        with self.changed:
            if what in self.busy:
                return False
            self.busy.add(what)
            return True

    def release(self, what: str) -> None:
        with self.changed:
            self.busy.discard(what)

    def keep_input(self, upload: str | Path, name: str, what: str) -> Path:
        """Check an upload with the engine's own reader (one-line errors) and keep a copy of
        its bytes in this session's folder, so the reproduce line can name it."""
        upload = Path(upload)
        nst.load_image(upload, what, max_pixels=MAX_INPUT_PIXELS)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.changed:
            self.kept += 1
            kept = self.folder / f"{name}_{self.kept}{upload.suffix.lower() or '.png'}"
        shutil.copyfile(upload, kept)
        return kept

    def set_photo(self, upload: str | Path) -> Path:
        self.photo = None
        self.photo = self.keep_input(upload, "photo", "photo")
        return self.photo

    def instant_photo(self):
        """The photo as a tensor of at most ``INSTANT_SIDE`` px, decoded once per photo: the
        instant picture reads it at every move of a control (a 50 MP photo takes seconds)."""
        from nst.media.images import resize_long_side

        photo = self.photo
        if photo is None:
            raise ImageError("no photo yet. Fix: upload a photo (or click an example)")
        if self.small_photo[0] != photo:
            image = nst.load_image(photo, "photo", max_pixels=MAX_INPUT_PIXELS)
            if max(image.shape[-2:]) > INSTANT_SIDE:
                image = resize_long_side(image, INSTANT_SIDE)
            self.small_photo = (photo, image)
        return self.small_photo[1]

    def set_paintings(self, uploads: list[str | Path]) -> list[Path]:
        self.paintings = []
        kept = [self.keep_input(u, f"painting{i}", f"painting {i + 1}") for i, u in enumerate(uploads)]
        self.paintings = kept
        return kept

    def save_masks(self, masks: list[Image.Image] | None) -> list[Path] | None:
        if masks is None:
            return None
        paths = [self.folder / f"mask_{len(self.pictures)}_{i}.png" for i in range(len(masks))]
        for mask, path in zip(masks, paths):
            mask.save(path)
        return paths

    def check_ready(self) -> None:
        if self.photo is None:
            raise ImageError("no photo yet. Fix: upload a photo (or click an example)")
        if not self.paintings:
            raise ImageError("no painting yet. Fix: upload one or more paintings (or click an example)")

    def keep_picture(self, image: Image.Image, caption: str, command: str, options: dict, steps: int) -> Picture:
        """Write the picture as PNG with the run's config in its text chunks."""
        path = self.folder / f"picture_{len(self.pictures) + 1}.png"
        save_png(image, path)
        picture = Picture(path, caption, command, options, steps)
        self.pictures.append(picture)
        return picture

    def close(self) -> None:
        self.stop.set()
        self.stop_print.set()
        shutil.rmtree(self.folder, ignore_errors=True)


def save_png(image: Image.Image, path: Path) -> Path:
    """Save keeping the ``nst:config`` text chunks ``stylize`` put in ``image.info``."""
    info = PngImagePlugin.PngInfo()
    for key, value in image.info.items():
        if isinstance(value, str):
            info.add_text(key, value)
    tmp = path.with_suffix(".part")
    image.save(tmp, format="PNG", pnginfo=info)
    tmp.replace(path)
    return path


def watch(photo: Path, paintings: list[Path], options: dict, stop: threading.Event,
          every: int) -> Iterator[nst.Progress | Finished]:
    """Run ``nst.stylize`` in a thread and yield each look at the picture, then a
    :class:`Finished` (``stop`` as it is: set already, the run ends at its first step). A failing run yields its one-line error; the server keeps serving."""
    looks: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            style = [str(p) for p in paintings] if len(paintings) > 1 else str(paintings[0])
            image = nst.stylize(str(photo), style, on_progress=looks.put, progress_every=every,
                                stop=stop, **options)
            looks.put(Finished(image=image))
        except NSTError as e:
            looks.put(Finished(error=" ".join(str(e).split())))
        except Exception as e:  # noqa: BLE001  (a bug must not take the server down)
            looks.put(Finished(error=f"the run failed ({type(e).__name__}: {e}). Fix: other settings; "
                                     "the server log has the traceback"))
            raise

    thread = threading.Thread(target=work, name="nst-run", daemon=True)
    thread.start()
    try:
        while True:
            look = looks.get()
            yield look
            if isinstance(look, Finished):
                return
    finally:  # the tab went away or the page stopped listening: end the run too
        stop.set()
