"""Build real documents of each supported format (and broken ones) for ingestion tests."""

from __future__ import annotations

from pathlib import Path


def write_pdf(path: Path, paragraphs: list[str], title: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for paragraph in paragraphs:
        pdf.multi_cell(0, 8, paragraph)
        pdf.ln(4)
    pdf.output(str(path))
    return path


def write_encrypted_pdf(path: Path, paragraphs: list[str]) -> Path:
    from pypdf import PdfWriter

    plain = write_pdf(path.with_suffix(".plain.pdf"), paragraphs)
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    writer.write(str(path))
    plain.unlink()
    return path


def write_docx(path: Path, title: str, sections: dict[str, list[str]]) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=1)
    for heading, paragraphs in sections.items():
        document.add_heading(heading, level=2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def numbered_paragraph(n: int, name: str) -> str:
    """A ~150-character paragraph: with TUTOR_CHUNK_SIZE=200 every paragraph is one chunk."""
    words = ("memory", "learning", "stimulus", "response", "neuron", "cortex", "sleep", "habit", "reward",
             "attention", "recall", "schema", "emotion", "motivation", "perception", "language")
    picks = " ".join(words[(n * 7 + k * 3) % len(words)] for k in range(6))
    return f"Passage {n} of {name} relates {picks} in experiment number {n * 31 % 9973} of the series."


def write_large_library(corpus: Path, big_paragraphs: int, small_files: int, small_paragraphs: int) -> None:
    """One large file (a passage about "quokkaphobia" in its middle) beside small ones. Also used by
    `python -m benchmarks.big_file` at tens of thousands of chunks."""
    corpus.mkdir(parents=True, exist_ok=True)
    big = [f"## Part {n // 50}\n\n" * (n % 50 == 0) + numbered_paragraph(n, "big") for n in range(big_paragraphs)]
    big[len(big) * 5 // 9] = ("Quokkaphobia is the invented fear of small marsupials, described only in this one "
                              "passage of the large file.")
    (corpus / "big.md").write_text("# A very large handbook\n\n" + "\n\n".join(big) + "\n", encoding="utf-8")
    for f in range(small_files):
        (corpus / f"small-{f:02d}.md").write_text(
            f"# Small file {f}\n\n" + "\n\n".join(numbered_paragraph(n, f"small {f}") for n in range(small_paragraphs)) + "\n")
