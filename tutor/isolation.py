"""Untrusted files are parsed in a worker process that may die without taking anything with it.

PDF, DOCX and HTML parsers are large C and Python libraries fed bytes from whoever could write to
the library: a decompression bomb, a pathological nesting or a parser bug must cost one file, not
the ingest run, the web app or the machine. So every file is read by `load_document` in a worker
with an address-space limit (`resource.setrlimit`), a CPU-time limit, and a wall-clock limit per
file (pebble kills and replaces a worker that overruns or crashes). Whatever happens in the worker
comes back as a DocumentError naming the file and the reason.

Start-up cost is paid once per process: workers are forked from a small forkserver, and the pool
is kept for the next file (and the next ingest in the same process, e.g. the next upload in the app).
As everywhere in multiprocessing, the worker imports the caller's main module: keep it light (the
CLI, the app and pytest are) and guard its top level with `if __name__ == "__main__":`.
"""

from __future__ import annotations

import atexit
import multiprocessing
import resource
import signal
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

from tutor.documents import SourceDocument, load_document
from tutor.errors import DocumentError
from tutor.limits import MB, ParseLimits

# A worker is replaced after this many files, so nothing a parser leaks accumulates.
_TASKS_PER_WORKER = 50
# Only our loader module: each format's parser is imported by a worker the first time it meets that
# format (as it would be in-process), so a folder of Markdown never pays for PDF or DOCX imports.
_PRELOAD = ["tutor.documents"]


@dataclass(frozen=True)
class _Outcome:
    document: SourceDocument | None
    reason: str | None


def _address_space() -> int:
    """This process's mapped address space now (VmSize), in bytes; 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _limit_this_process(memory_mb: int, cpu_seconds: int) -> None:
    """Worker initializer: bound memory and CPU for everything the parsers do. The memory limit
    counts from what the worker already maps (the parsers' libraries; the caller's main module, which
    multiprocessing imports in each worker), so it is the room a file gets, whatever imported us."""
    limit = _address_space() + memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing parser leaves no core file behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _read(path: str, limits: ParseLimits) -> _Outcome:
    """Runs in the worker: every failure becomes a reason, never an exception to unpickle."""
    try:
        return _Outcome(load_document(Path(path), limits), None)
    except DocumentError as exc:
        return _Outcome(None, exc.reason)
    except MemoryError:
        return _Outcome(None, f"needed more than {limits.memory_mb} MB to read (TUTOR_PARSE_MEMORY_MB)")
    except RecursionError:
        return _Outcome(None, "is nested too deeply to read")
    except Exception as exc:  # a parser bug on odd input: this file fails, the run goes on
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return _Outcome(None, f"cannot be read ({type(exc).__name__}{': ' + detail if detail else ''})")


class ParsePool:
    """A pool of limited workers for one set of limits; `load` reads one file through it."""

    def __init__(self, limits: ParseLimits, workers: int = 1) -> None:
        self.limits = limits
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        cpu_seconds = max(int(limits.timeout_s * 2), 5)
        self._pool = ProcessPool(max_workers=workers, max_tasks=_TASKS_PER_WORKER,
                                 initializer=_limit_this_process, initargs=(limits.memory_mb, cpu_seconds),
                                 context=context)

    def load(self, path: Path) -> SourceDocument:
        """Read `path` in a worker. Raises DocumentError naming the file and what went wrong."""
        future = self._pool.schedule(_read, args=(str(path), self.limits), timeout=self.limits.timeout_s)
        try:
            outcome: _Outcome = future.result()
        except FutureTimeout:
            raise DocumentError(path, f"took longer than {self.limits.timeout_s:g} s to read and was stopped "
                                      "(TUTOR_PARSE_TIMEOUT)") from None
        except ProcessExpired as exc:
            raise DocumentError(path, _death(exc.exitcode, self.limits)) from None
        except MemoryError:  # the result itself was too big to hand back
            raise DocumentError(path, "its text is too large to index") from None
        if outcome.reason is not None or outcome.document is None:
            raise DocumentError(path, outcome.reason or "could not be read")
        return outcome.document

    def close(self) -> None:
        self._pool.stop()
        self._pool.join()


def _death(exitcode: int, limits: ParseLimits) -> str:
    if exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
        return (f"used too much CPU or memory while being read (limits: {limits.memory_mb} MB, TUTOR_PARSE_MEMORY_MB; "
                f"{limits.timeout_s:g} s, TUTOR_PARSE_TIMEOUT) and was stopped")
    if exitcode < 0:
        return f"crashed the document reader (signal {signal.Signals(-exitcode).name}); the file is probably corrupt"
    return f"crashed the document reader (exit code {exitcode}); the file is probably corrupt"


_pool: ParsePool | None = None
_pool_lock = threading.Lock()


def parse_pool(limits: ParseLimits) -> ParsePool:
    """The process's pool, started on first use and kept until exit (or until other limits are asked
    for: one pool at a time, so at most one idle worker waits per process)."""
    global _pool
    with _pool_lock:
        if _pool is not None and _pool.limits != limits:
            _pool.close()
            _pool = None
        if _pool is None:
            _pool = ParsePool(limits)
        return _pool


def load_isolated(path: Path, limits: ParseLimits) -> SourceDocument:
    """`load_document` in a limited worker process (see the module docstring)."""
    return parse_pool(limits).load(path)


@atexit.register
def shutdown() -> None:
    """Stop the worker (at exit; tests call it to check nothing is left running)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None
