"""Build PDFs, scanned pages and web pages at test time (nothing downloaded).

PDFs are written with fpdf2 in DejaVu (a Unicode TrueType font with every
Kazakh letter); scans are rendered with Pillow in DejaVu Serif at a given
resolution. DejaVu comes from the system (fonts-dejavu-core) or, failing
that, from matplotlib, which ships it.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/Library/Fonts", "/opt/homebrew/share/fonts")


def dejavu(name: str = "DejaVuSans.ttf") -> Path:
    for folder in FONT_DIRS:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.is_file():
        pytest.fail(f"no {name}: install fonts-dejavu-core")
    return path


def write_pdf(
    path: Path,
    pages: list[list[str]],
    header: str | None = None,
    page_numbers: bool = True,
    title: str | None = None,
) -> Path:
    """A PDF with a text layer: one list of paragraphs per page, header and page number."""
    from fpdf import FPDF

    class Doc(FPDF):
        def header(self) -> None:
            if header:
                self.set_font("dv", size=9)
                self.cell(0, 8, header, align="C")
                self.ln(12)

        def footer(self) -> None:
            if page_numbers:
                self.set_y(-15)
                self.set_font("dv", size=9)
                self.cell(0, 8, str(self.page_no()), align="C")

    pdf = Doc(format="A4")
    pdf.add_font("dv", "", str(dejavu()))
    if title:
        pdf.set_title(title)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("dv", size=11)
        for para in paragraphs:
            pdf.multi_cell(0, 6, para)
            pdf.ln(2)
    pdf.output(str(path))
    return path


def render_page(path: Path, text: str, dpi: int = 300, width_chars: int = 62) -> Path:
    """Text rendered as a scanned page: black DejaVu Serif 12 pt on white, ``dpi`` stored."""
    from PIL import Image, ImageDraw, ImageFont

    pt = 12
    font = ImageFont.truetype(str(dejavu("DejaVuSerif.ttf")), size=round(pt * dpi / 72))
    lines: list[str] = []
    for para in text.split("\n"):
        lines += textwrap.wrap(para, width_chars) or [""]
    step = round(pt * 1.6 * dpi / 72)
    margin = dpi // 2
    img = Image.new("L", (round(8.27 * dpi), 2 * margin + step * len(lines)), 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * step), line, font=font, fill=0)
    img.save(path, dpi=(dpi, dpi))
    return path


def scanned_pdf(path: Path, images: list[Path | None], text_pages: dict[int, str] | None = None):
    """A PDF whose pages are images (a scan) or, where ``images[i]`` is None, text."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("dv", "", str(dejavu()))
    pdf.set_font("dv", size=11)
    for i, image in enumerate(images):
        pdf.add_page()
        if image is None:
            pdf.multi_cell(0, 6, (text_pages or {}).get(i, ""))
        else:
            pdf.image(str(image), x=0, y=0, w=210)
    pdf.output(str(path))
    return path


def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def needs_tesseract(lang: str = "kaz+rus") -> None:
    """Skip an OCR test where Tesseract is missing, except on CI, where it fails."""
    from kazft.text.ocr import install_help, tesseract_status

    tesseract_status.cache_clear()
    message = install_help(lang)
    if message:
        if ci():
            pytest.fail(f"CI must run the OCR tests: {message}")
        pytest.skip(message)
