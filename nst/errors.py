"""The project's own error type: a one-line message that names the problem and the fix."""


class NSTError(Exception):
    """Base class: ``train.py`` prints ``str(error)`` as one line and exits with status 2."""


class ConfigError(NSTError, ValueError):
    """A configuration value is invalid (unknown name, negative weight, ...)."""


class ImageError(NSTError):
    """An input image is missing, unreadable or unusable."""


class OutputError(NSTError):
    """An output cannot be written (disk full, no permission)."""


class WeightsError(NSTError):
    """The VGG19 weights cannot be found, downloaded or loaded."""


def one_line(error: BaseException) -> str:
    """An error's message on one line, ending with the remedy (Lightning's own checks say the
    problem, not the fix)."""
    message = " ".join(str(error).split())
    if "Fix:" not in message:
        message = f"{message.rstrip('.')}. Fix: change that value (python train.py --help lists them)"
    return message


def is_out_of_memory(error: BaseException) -> bool:
    """A device ran out of memory: torch's ``OutOfMemoryError`` (CUDA, MPS) or the CPU
    allocator's ``RuntimeError`` ("DefaultCPUAllocator: can't allocate memory")."""
    return type(error).__name__ == "OutOfMemoryError" or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error))


RESUME = "run the same command again (it resumes)"


def write_failure(error: OSError, path, kept: str = "", resume: str = RESUME) -> "OutputError":
    """The one line for a write of ``path`` that failed with ``error``: which folder, what went
    wrong there (a full disk, a file where a folder must be, no permission) and its own fix."""
    import errno
    from pathlib import Path

    folder = Path(path).parent
    code = error.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        problem, fix = (f"no space left in {folder} ({error.strerror or 'disk full'})",
                        f"free disk space there, then {resume}, or write to another disk")
    elif code in (errno.EEXIST, errno.ENOTDIR):
        problem, fix = (f"a file stands where a folder of {folder} must be",
                        "another output path, or move that file away")
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        problem, fix = f"{folder} cannot be written ({error.strerror})", "an output in a folder you can write"
    else:
        problem, fix = f"{error.strerror or error}", "an output in a folder you can write, on a disk with room"
    kept = f"; {kept}" if kept else ""
    return OutputError(f"cannot write {path}: {problem}{kept}. Fix: {fix}")
