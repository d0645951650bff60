"""The command: ``python train.py --config starry.yaml``, also installed as ``nst`` (``nst
--config starry.yaml``, ``nst --version``): the same arguments, the same outputs.

Also ``python train.py --content photo.jpg --style painting.jpg`` without a config, any dotted
override (``--trainer.max_steps 50``, ``--data.size 256``), ``--print_config``, and
``--ckpt_path last`` to resume the newest run of the same name.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from pathlib import Path

CONFIG_DIR = (Path(__file__).resolve().parents[1] / "configs").resolve()  # the checkout's configs/ (through the link), or the wheel's copy
OUTPUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "remote worker crashing",  # gloo
             "timed out in blocking wait", "Watchdog caught collective operation timeout",  # NCCL (nst.runs.distributed)
             "ncclRemoteError", "NCCL communicator was aborted")
SHORT_FORMS = {"--content": "--data.content", "--style": "--data.style"}


def resolve_config(value: str) -> str:
    """A bare config name resolves to ``configs/<name>`` (``.yaml`` optional); a path works too."""
    if Path(value).is_file():
        return value
    for candidate in (CONFIG_DIR / value, CONFIG_DIR / f"{value}.yaml"):
        if candidate.is_file():
            return str(candidate)
    return value  # let the parser report the missing file


def rewrite_argv(argv: list[str]) -> list[str]:
    """Expand the short forms (``--content``, ``--style``) and bare config names (not in the
    ``stylize`` and ``export`` commands, whose ``--style`` is their own)."""
    if argv[:1] in (["stylize"], ["export"]):
        return list(argv)
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        key = SHORT_FORMS.get(key, key)
        if key in ("--config", "-c"):
            if eq:
                out.append(f"{key}={resolve_config(value)}")
            elif i + 1 < len(argv):
                out += [key, resolve_config(argv[i + 1])]
                i += 1
            else:
                out.append(key)
        else:
            out.append(f"{key}={value}" if eq else key)
        i += 1
    return out


def version() -> str:
    """The installed distribution's version; a checkout that is not installed says so."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("nst")
    except PackageNotFoundError:
        return "(not installed: a checkout)"


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    if raw[:1] == ["stylize"] and "instant" in raw and "--verbose" not in raw:
        fast = fast_instant(raw[1:])  # one photo, an instant style: no torch, no Lightning (under a second)
        if fast is not None:
            return fast
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from nst.runs.cli import run
    from nst.errors import NSTError, one_line

    from nst.runs.preflight import COMMAND_LINE

    COMMAND_LINE["this"] = argv is None or list(argv) == sys.argv[1:]
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["studio"]:  # nst studio: the web page, a box above this one (nst/studio)
        import subprocess

        return subprocess.call([sys.executable, "-m", "nst.studio.server", *argv[1:]])
    argv = rewrite_argv(argv)
    if argv[:1] == ["--version"]:
        print(f"nst {version()}")
        return 0
    verbose = "--verbose" in argv or bool(os.environ.get("NST_DEBUG"))
    started = time.monotonic()
    try:
        if argv[:1] in (["stylize"], ["export"]):  # a trained real-time style: applied, or exported
            from nst.runs.realtime_cli import export_command, stylize_command

            command = stylize_command if argv[0] == "stylize" else export_command
            return command([a for a in argv[1:] if a != "--verbose"])
        result = run([a for a in argv if a != "--verbose"])
    except SystemExit as e:  # Lightning ends a run stopped by SIGTERM or Ctrl-C with SystemExit
        code = stopped_code(e)
        if code is None:
            raise
        print(f"nst: run stopped by {'SIGTERM' if code == 143 else 'Ctrl-C'}; exit {code}", file=sys.stderr)
        return code
    except (NSTError, MisconfigurationException) as e:
        if verbose:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # under DDP: another device stopped, and its connection with it
        if verbose or not any(s in str(e) for s in PEER_GONE):
            raise
        print("error: another device of this multi-device run stopped (its own error is above); this one "
              "stopped too, keeping its images. Fix: the other device's error", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. a checkpoint on a full disk (images say it themselves)
        if verbose or e.errno not in OUTPUT_ERRNOS:
            raise
        print(f"error: cannot write {e.filename or 'an output'} ({e.strerror}). Fix: free disk space, or "
              "--output_dir on another disk you can write", file=sys.stderr)
        return 2
    line = finished_line(result, time.monotonic() - started)
    if line:
        print(line)
    return 0


def fast_instant(argv: list[str]) -> int | None:
    """``nst.runs.instant_fast`` where it applies: its exit code, or ``None`` for the full path."""
    from nst.errors import NSTError, one_line
    from nst.runs.instant_fast import fast_stylize

    try:
        return fast_stylize(argv)
    except NSTError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2


def stopped_code(exit: SystemExit) -> int | None:
    """130 for a run that Ctrl-C stopped, 143 for SIGTERM (the shell's 128 + signal), so that
    a scheduler or ``&&`` never takes a stopped run for a finished one; None for other exits."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(exit, SIGTERMException):
        return 128 + signal.SIGTERM
    if isinstance(exit.__context__, KeyboardInterrupt):  # Lightning: sys.exit(1) after a graceful stop
        return 128 + signal.SIGINT
    return None


def finished_line(result, seconds: float) -> str:
    """The run's last line: its picture (path, size) and time, and the TensorBoard command."""
    from nst.runs.outputs import finished_pictures

    pictures, logs = finished_pictures(result)
    if not pictures:
        return ""
    first = pictures[0]
    try:
        from PIL import Image

        with Image.open(first) as image:
            size = f"{image.width}x{image.height}"
    except OSError:
        size = "?"
    more = f" (+{len(pictures) - 1} more in {first.parent.parent})" if len(pictures) > 1 else ""
    board = f"; watch it: tensorboard --logdir {logs}" if logs else ""
    return f"nst: done in {seconds:.1f} s: {first} ({size}){more}{board}"


def cli() -> None:
    """The installed ``nst`` command."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
