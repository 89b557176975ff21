"""Ingestion benchmark over the whole Psychology 2e book, in one run:

chunks, ingest seconds, raw encoder seconds for the same texts, their ratio, re-ingest seconds of
the unchanged book, and peak memory. Targets: ingest <= 1.2x raw encoding; unchanged re-ingest < 3 s.
The model is loaded and warmed before either timing, so both measure the same encoder work.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from tutor.chunking import embedding_text
from tutor.embeddings import SentenceTransformerEmbedder
from tutor.service import TutorService
from tutor.settings import Settings

DEFAULT_BOOK = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "psychology-2e"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--book", type=Path, default=DEFAULT_BOOK)
    parser.add_argument("--copies", type=int, default=1, help="Index N copies of the book (scale test).")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tutor-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        for n in range(args.copies):
            shutil.copytree(args.book, corpus / f"copy{n}", ignore=shutil.ignore_patterns("LICENSE", "ATTRIBUTION.md"))
        settings = Settings(data_dir=Path(tmp) / "data", corpus_dir=corpus)
        embedder = SentenceTransformerEmbedder(settings.embedding_model_path, settings.embedding_batch_size)
        embedder.embed_documents(["warm-up"])  # load the model outside both timings

        started = time.perf_counter()
        report = TutorService(settings, embedder=embedder).ingest(quiet=True)
        ingest_seconds = time.perf_counter() - started
        assert report.exit_code == 0, report.failed

        service = TutorService(settings, embedder=embedder)
        texts = [embedding_text(c) for c in service.store.all_chunks()]
        started = time.perf_counter()
        embedder.model.encode(texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True,
                              show_progress_bar=False)
        raw_seconds = time.perf_counter() - started

        started = time.perf_counter()
        again = TutorService(settings, embedder=embedder).ingest(quiet=True)
        reingest_seconds = time.perf_counter() - started
        assert again.embedded == 0

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ratio = ingest_seconds / raw_seconds
    figures = {"files": report.count("added"), "chunks": len(texts), "ingest_s": ingest_seconds,
               "raw_encode_s": raw_seconds, "ratio": ratio, "reingest_unchanged_s": reingest_seconds,
               "peak_rss_mb": peak_mb}
    print(f"book: {args.book} x{args.copies}")
    print(f"files                     {report.count('added')}")
    print(f"chunks                    {len(texts)}")
    print(f"ingest                    {ingest_seconds:8.1f} s")
    print(f"raw encoding, same texts  {raw_seconds:8.1f} s")
    print(f"ratio ingest / raw        {ratio:8.2f} x   (target <= 1.20: {'met' if ratio <= 1.2 else 'MISSED'})")
    print(f"re-ingest, unchanged      {reingest_seconds:8.2f} s   (target < 3 s: "
          f"{'met' if reingest_seconds < 3 else 'MISSED'})")
    print(f"peak memory (RSS)         {peak_mb:8.0f} MB")
    return figures


if __name__ == "__main__":
    main()
