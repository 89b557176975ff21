"""The one inter-process lock helper: a file lock in the data directory that waits a bounded time,
says so while it waits, and turns "still busy" into an IndexBusy naming what holds it.

Used for the single-writer lock of the embedded store (ingest, remove, rebuild) and for serialising
the first open of a data directory (Chroma's table creation races otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from tutor.errors import IndexBusy


@contextmanager
def held(path: Path, timeout: float, *, busy: str, waiting: str | None = None,
         on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock file at `path`. If another process holds it, report `waiting` through on_wait,
    wait up to `timeout` seconds, then raise IndexBusy(busy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait and waiting:
            on_wait(waiting)
        try:
            lock.acquire(timeout=timeout)
        except Timeout as exc:
            raise IndexBusy(busy) from exc
    try:
        yield
    finally:
        lock.release()


def is_held(path: Path) -> bool:
    """True when some process holds the lock at `path` now (for status: running vs interrupted)."""
    if not path.exists():
        return False
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False
