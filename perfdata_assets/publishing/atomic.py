"""Writing export files so that a reader never sees half a file, nor a mix of old and new.

Every file is first written in full to a temporary file in the target
directory (same file system, so the rename is atomic) and flushed to disk;
only when all of them are safely there are they renamed over the old ones.
A failure before that point (an unwritable directory, a full disk) leaves
every previous file exactly as it was; only a failing rename itself, which
needs the directory to change under us, could leave some files replaced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class ExportError(Exception):
    """The export files could not be written. The message names the path."""


def _fsync_directory(directory: Path) -> None:
    # Makes the renames themselves durable (POSIX); not possible on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _stage(directory: Path, name: str, data: bytes) -> Path:
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; these files are for publishing
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Path(temp)


def write_files(directory: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``{name: bytes}`` into ``directory`` atomically; returns the final paths."""
    staged: dict[str, Path] = {}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            staged[name] = _stage(directory, name, data)
        for name, temp in staged.items():
            os.replace(temp, directory / name)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(f"cannot write export files to {directory}: {reason}") from None
    finally:
        for temp in staged.values():
            temp.unlink(missing_ok=True)  # only the ones never renamed are still there
    _fsync_directory(directory)
    return [directory / name for name in files]
