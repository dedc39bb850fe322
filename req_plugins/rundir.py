"""Run folders that never lose or mix results: an exclusive lock and atomic files.

Two rules keep a run folder consistent whatever happens to the process:

* one process at a time: :class:`RunLock` holds an exclusive ``flock`` on
  ``<folder>/.lock`` for the life of a run. The kernel drops it when the process
  dies, so a crash never leaves a folder locked; the lock file names the holder's
  pid, so a refused process can say who holds it, and a run taking over from a
  dead one can say so;
* no half-written file: :func:`atomic_open` writes to a temporary file in the same
  folder and renames it over the target only once it is complete and synced, so a
  kill at any moment leaves either the previous version or the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LOCK_FILE = ".lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's lock."""

    def __init__(self, folder: Path, holder: int | None) -> None:
        who = f"process {holder}" if holder else "another process"
        super().__init__(
            f"{str(folder)!r} is in use by {who} (lock file {str(folder / LOCK_FILE)!r}); "
            "wait for it to finish or choose another folder."
        )
        self.folder = folder
        self.holder = holder


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def lock_holder(folder: str | os.PathLike) -> int | None:
    """Pid of the live process holding ``folder``'s lock (0 if unknown), None if it is free.

    Only reads: a folder that is not locked is left exactly as it is.
    """
    try:
        fd = os.open(Path(folder) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(fd) or 0
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    """Exclusive lock on a run folder (created if missing), as a context manager.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with RunLock(folder):
    ...     try:
    ...         RunLock(folder).acquire()
    ...     except RunLockedError as error:
    ...         print(error.holder == os.getpid())
    True

    ``stale_holder`` is the pid of a process that died holding the lock, if any:
    the new holder took it over.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.stale_holder: int | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise RunLockedError(self.folder, holder) from None
        # A release empties the file, so a pid left in it is a holder that died.
        self.stale_holder = _read_pid(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success, rename it over ``path``.

    ``mode`` is ``"w"`` or ``"wb"`` (plus ``open``'s keyword arguments). If the block
    raises, or the process dies inside it, ``path`` keeps its previous content.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"`mode` must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
