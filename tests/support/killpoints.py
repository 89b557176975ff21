"""Run the `tutor` command and SIGKILL it at an exact point: just before the Nth call of a
ChunkStore method. A real kill (no cleanup, no finally blocks), at a reproducible place.

    python -m tests.support.killpoints ChunkStore.record_file 5 -- ingest --rebuild
"""

from __future__ import annotations

import functools
import os
import signal
import sys


def arm(method: str, nth: int) -> None:
    from tutor import store

    owner_name, attribute = method.split(".")
    owner = getattr(store, owner_name)
    original = getattr(owner, attribute)
    calls = 0

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(owner, attribute, wrapper)


def main() -> None:
    method, nth, separator, *command = sys.argv[1:]
    if separator != "--":
        raise SystemExit("usage: python -m tests.support.killpoints Class.method N -- tutor-args...")
    arm(method, int(nth))
    from tutor.cli import main as tutor

    sys.argv = ["tutor", *command]
    tutor()


if __name__ == "__main__":
    main()
