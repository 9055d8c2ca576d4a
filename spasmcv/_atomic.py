"""Atomic file writing: a reader sees the old file or the complete new one, never a part.

Every output of spasmcv goes through here, so every output gets the same treatment: written under
a temporary name beside its destination, flushed to disk, given the permissions any other program
would give a new file (0666 less the umask, e.g. 0644), then renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator

_UMASK_LOCK = threading.Lock()


def new_file_mode() -> int:
    """Permission bits a newly created file gets under the process's umask (0o644 under 022)."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def unwritable_reason(folder: str | os.PathLike) -> str | None:
    """Why files cannot be made in ``folder`` (made first if missing): the nearest existing path
    at or above it is a file, or a folder that cannot be written. None when they can."""
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"the folder {existing} is not writable"
    return None


@contextlib.contextmanager
def _named_as(path: Path, tmp: str | None = None) -> Iterator[None]:
    """Report a failed write as one of ``path``, the file the user asked for: the temporary name
    beside it means nothing to them (an error naming another file is left as it is)."""
    try:
        yield
    except OSError as exc:
        temporary = exc.filename is None or str(exc.filename) == str(tmp) or (
            Path(str(exc.filename)).parent == path.parent and Path(str(exc.filename)).name.startswith(f".{path.name}."))
        if temporary:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that needs a file name (a video encoder).

    When the block ends without an exception the file gets :func:`new_file_mode` and is renamed
    onto ``path``; otherwise it is removed and ``path`` is left untouched.
    """
    path = Path(path)
    with _named_as(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        with _named_as(path, tmp):
            yield Path(tmp)
            os.chmod(tmp, new_file_mode())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync and rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    with atomic_path(path) as tmp, _named_as(Path(path), str(tmp)), open(tmp, mode, **open_kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_set(contents: dict) -> list[Path]:
    """Write several files as a set: every file is written to its temporary name first, and only
    when all are complete are they renamed into place (a failure leaves none of them changed).

    ``contents`` maps each path to its text (str) or bytes.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in contents.items():
            path = Path(path)
            with _named_as(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            with _named_as(path, tmp), os.fdopen(fd, "wb") as handle:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
                handle.flush()
                os.fsync(handle.fileno())
                os.chmod(tmp, new_file_mode())
        for tmp, path in staged:
            with _named_as(path, tmp):
                os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return [path for _, path in staged]
