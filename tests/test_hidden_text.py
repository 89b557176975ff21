"""Hidden text is dropped at load time, one hiding trick at a time (HTML and PDF), and visible text
that merely looks alike is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor.documents import load_document
from tutor.hidden import indistinct, parse_colour, visible_operations

SECRET = "zanzibar"
VISIBLE = "Short-term memory holds about seven items for roughly twenty seconds."


def _html(tmp_path: Path, element: str, head: str = "", body_attrs: str = "") -> str:
    path = tmp_path / "page.html"
    path.write_text(f"<html><head><title>T</title>{head}</head><body {body_attrs}><p>{VISIBLE}</p>{element}"
                    "</body></html>", encoding="utf-8")
    return load_document(path).text


@pytest.mark.parametrize("element", [
    f'<p style="display:none">{SECRET}</p>',
    f'<p style="DISPLAY: NONE !important">{SECRET}</p>',
    f'<div style="visibility:hidden"><p>{SECRET}</p></div>',
    f'<p style="font-size:0">{SECRET}</p>',
    f'<p style="font-size: 0px">{SECRET}</p>',
    f'<p style="opacity:0">{SECRET}</p>',
    f'<p style="color:#ffffff">{SECRET}</p>',
    f'<p style="color:rgb(254, 254, 254)">{SECRET}</p>',
    f'<p style="color:white">{SECRET}</p>',
    f'<p style="color:transparent">{SECRET}</p>',
    f'<div style="background-color:#123456"><p style="color:#123456">{SECRET}</p></div>',
    f'<p style="position:absolute; left:-9999px">{SECRET}</p>',
    f'<p hidden>{SECRET}</p>',
    f'<div aria-hidden="true"><p>{SECRET}</p></div>',
    f'<p class="x">{SECRET}</p>',
], ids=["display", "display-important", "visibility", "font-size-0", "font-size-0px", "opacity", "white-hex",
        "near-white-rgb", "white-name", "transparent", "same-as-background", "off-screen", "hidden-attr",
        "aria-hidden", "stylesheet-class"])
def test_hidden_html_is_dropped(tmp_path: Path, element: str) -> None:
    text = _html(tmp_path, element, head="<style>.x { display: none; }</style>")
    assert VISIBLE in text and SECRET not in text


@pytest.mark.parametrize("element", [
    f'<p style="color:#333">{SECRET}</p>',
    f'<div style="background:#000"><p style="color:#fff">{SECRET}</p></div>',  # white on black: visible
    f'<p style="font-size:14px">{SECRET}</p>',
    f'<p class="y">{SECRET}</p>',
], ids=["dark-grey", "white-on-black", "normal-size", "unrelated-class"])
def test_visible_html_is_kept(tmp_path: Path, element: str) -> None:
    text = _html(tmp_path, element, head="<style>.x { display: none; } .y:hover { display: none }</style>")
    assert SECRET in text


def test_white_text_on_a_white_page_with_a_dark_body_is_visible(tmp_path: Path) -> None:
    text = _html(tmp_path, f'<p style="color:#fff">{SECRET}</p>', body_attrs='style="background:#111"')
    assert SECRET in text


def test_colours() -> None:
    assert parse_colour("#FFF") == (255, 255, 255, 1.0)
    assert parse_colour("rgba(0, 0, 0, 0)")[3] == 0
    assert parse_colour("100%") is None
    assert indistinct((250, 250, 250, 1.0), (255, 255, 255, 1.0))
    assert not indistinct((200, 200, 200, 1.0), (255, 255, 255, 1.0))


def _pdf(path: Path, draw) -> str:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 8, VISIBLE, new_x="LMARGIN", new_y="NEXT")
    draw(pdf)
    pdf.output(str(path))
    return load_document(path).text


def test_pdf_invisible_render_mode_is_dropped(tmp_path: Path) -> None:
    from fpdf.enums import TextMode

    def draw(pdf):
        with pdf.local_context(text_mode=TextMode.INVISIBLE):
            pdf.multi_cell(0, 8, SECRET, new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 8, "Visible again afterwards.", new_x="LMARGIN", new_y="NEXT")
    text = _pdf(tmp_path / "mode.pdf", draw)
    assert VISIBLE in text and "Visible again afterwards." in text and SECRET not in text


def test_pdf_white_on_white_is_dropped_but_white_on_a_dark_box_is_kept(tmp_path: Path) -> None:
    def white_on_white(pdf):
        pdf.set_text_color(255, 255, 255)
        pdf.multi_cell(0, 8, SECRET, new_x="LMARGIN", new_y="NEXT")
    assert SECRET not in _pdf(tmp_path / "white.pdf", white_on_white)

    def white_on_dark(pdf):
        pdf.set_fill_color(20, 20, 60)
        pdf.rect(10, 40, 190, 20, style="F")
        pdf.set_text_color(255, 255, 255)
        pdf.set_xy(12, 45)
        pdf.multi_cell(0, 8, SECRET, new_x="LMARGIN", new_y="NEXT")
    assert SECRET in _pdf(tmp_path / "banner.pdf", white_on_dark)


def test_pdf_operations_filter_keeps_line_moves() -> None:
    operations = [([], b"BT"), ([3], b"Tr"), (["hidden"], b"'"), ([0], b"Tr"), (["shown"], b"Tj"), ([], b"ET")]
    kept, dropped = visible_operations(operations)
    assert dropped == 1 and ([], b"T*") in kept and (["shown"], b"Tj") in kept and (["hidden"], b"'") not in kept
