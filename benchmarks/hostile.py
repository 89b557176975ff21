"""Hostile files and the cost of reading in isolation.

1. Overhead: chapters 6 and 8 (corpus/psychology-2e) read in this process vs in the limited worker
   (cold: the pool starts; warm: it is running), beside the time a real ingest of them takes.
2. Every hostile case of tests/support/hostile.py read through the worker: wall time, the outcome,
   and the peak memory of the worker processes above the peak for a good file (sampled from /proc
   every 20 ms, since a worker that is killed reports nothing itself).
Targets: each case <= 60 s and <= 1 GB above the good file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

# Light imports only at the top: every parse worker imports this (main) module, as multiprocessing does.
from tests.support.hostile import build_hostile_corpus
from tutor.documents import load_document
from tutor.errors import DocumentError
from tutor.isolation import ParsePool
from tutor.limits import MB, ParseLimits

REPO = Path(__file__).resolve().parents[1]


class DescendantPeak:
    """Peak resident memory of any process descended from this one, sampled from /proc."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DescendantPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            parents: dict[int, int] = {}
            rss: dict[int, int] = {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                        fields = dict(line.split(":", 1) for line in status if ":" in line)
                    parents[int(entry)] = int(fields["PPid"])
                    rss[int(entry)] = max(int(fields.get("VmRSS", "0 kB").split()[0]),
                                          int(fields.get("VmHWM", "0 kB").split()[0])) * 1024
                except (OSError, KeyError, ValueError):
                    continue
            for pid, value in rss.items():
                ancestor, hops = parents.get(pid), 0
                while ancestor and ancestor != me and hops < 10:
                    ancestor, hops = parents.get(ancestor), hops + 1
                if ancestor == me:
                    self.peak = max(self.peak, value)
            self._stop.wait(self.interval)


def overhead(settings_dir: Path) -> dict[str, float]:
    from tutor.service import TutorService  # torch, Chroma: not in the workers
    from tutor.settings import Settings

    files = sorted((REPO / "corpus" / "psychology-2e").glob("0[68]-*.md"))
    limits = ParseLimits()
    started = time.perf_counter()
    for path in files:
        load_document(path, limits)
    in_process = time.perf_counter() - started
    pool = ParsePool(limits)
    started = time.perf_counter()
    for path in files:
        pool.load(path)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    for path in files:
        pool.load(path)
    warm = time.perf_counter() - started
    pool.close()
    corpus = settings_dir / "corpus"
    corpus.mkdir(parents=True)
    for path in files:
        (corpus / path.name).write_bytes(path.read_bytes())
    service = TutorService(Settings(data_dir=settings_dir / "data", corpus_dir=corpus))
    service.embedder.embed_documents(["warm-up"])
    started = time.perf_counter()
    report = service.ingest(quiet=True)
    ingest = time.perf_counter() - started
    assert report.exit_code == 0, report.failed
    return {"files": len(files), "in_process_s": in_process, "isolated_cold_s": cold, "isolated_warm_s": warm,
            "ingest_s": ingest, "overhead_share_cold": (cold - in_process) / ingest}


def hostile_cases(root: Path) -> list[tuple[str, float, int, str]]:
    from tutor.ingest import discover

    corpus = build_hostile_corpus(root / "corpus", root / "outside")
    files, refused, _ = discover([corpus], corpus)
    limits = ParseLimits()
    rows = [(o.source, 0.0, 0, f"refused before reading: {o.error}") for o in refused]
    for path, source in files:
        pool = ParsePool(limits)  # one pool per case: each peak is that case's alone
        with DescendantPeak() as peak:
            started = time.perf_counter()
            try:
                pool.load(path)
                outcome = "read"
            except DocumentError as exc:
                outcome = exc.reason
            seconds = time.perf_counter() - started
            pool.close()
        rows.append((source, seconds, peak.peak, outcome))
    # The same DOCX bomb with the ZIP checks switched off: only the worker's memory limit stands.
    unchecked = ParseLimits(zip_max_ratio=10**9, docx_max_unpacked_bytes=10**12)
    pool = ParsePool(unchecked)
    with DescendantPeak() as peak:
        started = time.perf_counter()
        try:
            pool.load(corpus / "bomb.docx")
            outcome = "read"
        except DocumentError as exc:
            outcome = exc.reason
        seconds = time.perf_counter() - started
        pool.close()
    rows.append(("bomb.docx (ZIP checks off)", seconds, peak.peak, outcome))
    return rows


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__)
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tutor-hostile-") as tmp:
        figures = overhead(Path(tmp) / "overhead")
        print(f"chapters 6+8 ({figures['files']} files): read in process {figures['in_process_s']:.2f} s, "
              f"in the worker {figures['isolated_cold_s']:.2f} s cold / {figures['isolated_warm_s']:.2f} s warm; "
              f"ingest {figures['ingest_s']:.1f} s; cold overhead {figures['overhead_share_cold']:.1%} of the ingest")
        rows = hostile_cases(Path(tmp) / "hostile")
    baseline = next(rss for source, _, rss, _ in rows if source == "good.md")
    print(f"\n{'file':34} {'seconds':>8} {'worker RSS above good.md':>26}  outcome")
    worst_s, worst_rss = 0.0, 0
    for source, seconds, rss, outcome in rows:
        above = max(rss - baseline, 0)
        worst_s, worst_rss = max(worst_s, seconds), max(worst_rss, above)
        print(f"{source:34} {seconds:8.2f} {above / MB:23.0f} MB  {outcome[:90]}")
    print(f"\nworst case: {worst_s:.1f} s (target <= 60 s), {worst_rss / MB:.0f} MB above a good file (target <= 1024 MB)")
    return {**figures, "worst_seconds": worst_s, "worst_rss_mb": worst_rss / MB}


if __name__ == "__main__":
    main()
