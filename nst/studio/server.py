"""``python studio.py`` / ``nst studio``: serve the studio page on http://127.0.0.1:7860.

The server loads the networks once (``nst.api.warm_up``, and the instant network of the
instant picture and the webcam), listens on 127.0.0.1 unless ``--host``
or ``--share`` says otherwise, limits uploads, and keeps every file it reads or writes (uploads,
pictures, the runs' scratch folders, Gradio's cache) in one temporary folder of its own,
removed when it stops.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from nst.errors import ConfigError

MAX_UPLOAD = "50mb"
CACHE_AGE = 3600  # s: Gradio's copies of uploads, previews and pictures are removed after an hour


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="studio.py", description="the nst studio: make a picture in the "
                                     "browser and watch it form")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--share", action="store_true", help="also a public gradio.live link (needs internet)")
    parser.add_argument("--weights", default="vgg19-caffe",
                        help="vgg19-caffe (default), vgg19-torchvision, a file, or random (tests)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a stylize option every run gets, over the controls (e.g. precision=32-true)")
    parser.add_argument("--no-warm-up", action="store_true", help="load the network at the first run instead")
    return parser.parse_args(argv)


def fixed_options(pairs: list[str], weights: str) -> dict:
    """``--option key=value`` as stylize options (values read as YAML: numbers, lists, null)."""
    import yaml

    options = {"weights": weights}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"--option {pair} is not KEY=VALUE. Fix: e.g. --option precision=32-true")
        options[key] = yaml.safe_load(value)
    return options


def own_folder() -> Path:
    """The server's temporary folder; Gradio's cache and every run's scratch folder go inside."""
    folder = Path(tempfile.mkdtemp(prefix="nst-studio-"))
    for sub in ("gradio", "tmp"):
        (folder / sub).mkdir()
    os.environ["GRADIO_TEMP_DIR"] = str(folder / "gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    tempfile.tempdir = str(folder / "tmp")  # nst.stylize's scratch folders
    return folder


def few_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates an arena of its own and keeps their memory: the
    server's runs and Gradio's workers are many threads, and its resident memory grew by ~80 MB
    a run (docs/studio-reliability.md). Two arenas keep it flat; elsewhere nothing to do."""
    import ctypes
    import ctypes.util

    if sys.platform.startswith("linux") and (libc := ctypes.util.find_library("c")):
        try:
            ctypes.CDLL(libc).mallopt(-8, arenas)  # M_ARENA_MAX
        except (OSError, AttributeError):  # not glibc (musl): no mallopt
            pass


def warm_instant() -> None:
    """Paint a bundled pair with the instant network now: its weights load and its kernels are
    made (seconds on a CPU), so that the page's first instant picture takes ~0.1 s; without its
    weights the studio still serves (the instant picture then says why it is absent)."""
    import nst
    from nst.errors import NSTError

    try:
        nst.stylize("building.jpg", "starry_night.jpg", model="instant", size=400, strength=0.5)
    except NSTError as e:
        print(f"nst studio: no instant picture ({' '.join(str(e).split())})", file=sys.stderr, flush=True)


def launch(args: argparse.Namespace):
    """Build and start the page; returns (page, folder) with the server running in a thread."""
    fixed = fixed_options(args.option, args.weights)
    few_malloc_arenas()
    folder = own_folder()
    import nst
    from nst.studio.handlers import Studio
    from nst.studio.page import CSS, build

    if not args.no_warm_up:
        try:
            nst.warm_up(weights=args.weights)
            warm_instant()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    studio = Studio(folder / "sessions", fixed)
    studio.folder.mkdir()
    page = build(studio, delete_cache=(CACHE_AGE // 6, CACHE_AGE))
    page.queue(default_concurrency_limit=4)
    page.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD,
                allowed_paths=[str(studio.folder)], prevent_thread_lock=True, css=CSS, footer_links=[],
                quiet=True)
    print(f"nst studio: {page.local_url}" + (f" (public: {page.share_url})" if page.share_url else ""), flush=True)
    return page, folder


def main(argv: list[str] | None = None) -> int:
    from nst.errors import NSTError

    args = parse_args(argv)
    try:
        page, folder = launch(args)
    except NSTError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that the folder goes on SIGTERM too
    try:
        page.block_thread()
    finally:
        page.close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
