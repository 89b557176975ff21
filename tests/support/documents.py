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
