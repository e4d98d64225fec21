"""OCR with the Tesseract program: words, lines and a mean confidence per page.

Tesseract is called as a subprocess (its TSV output carries each word's
confidence and its block/paragraph/line numbers) rather than through
pytesseract, which is itself a subprocess wrapper: one dependency less, and
the errors, timeouts and thread count stay in our hands.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from kazft.errors import DataError

DEFAULT_LANG = "kaz+rus"
DEFAULT_DPI = 300
OCR_TIMEOUT_S = 600
INSTALL_LINES = (
    "macOS (Homebrew): brew install tesseract tesseract-lang",
    "Debian/Ubuntu: sudo apt-get install tesseract-ocr tesseract-ocr-kaz tesseract-ocr-rus",
    "Windows: winget install UB-Mannheim.TesseractOCR (tick Kazakh and Russian)",
)
# Where the Windows installer puts it without adding it to PATH.
WINDOWS_DEFAULT = Path(os.environ.get("PROGRAMFILES", r"C:\Program Files")) / "Tesseract-OCR"


@dataclass(frozen=True)
class TesseractStatus:
    path: str | None
    version: str | None
    languages: tuple[str, ...] = ()

    def missing(self, lang: str = DEFAULT_LANG) -> list[str]:
        return [code for code in lang.split("+") if code and code not in self.languages]

    def summary(self, lang: str = DEFAULT_LANG) -> str:
        """One line for ``kazft doctor``: version and the language data found."""
        if self.path is None:
            return "not installed"
        wanted = [c for c in lang.split("+") if c]
        found = ", ".join(f"{c} {'yes' if c in self.languages else 'MISSING'}" for c in wanted)
        return f"{self.version or 'unknown version'} ({found})"


@functools.lru_cache(maxsize=1)
def tesseract_status() -> TesseractStatus:
    """Whether ``tesseract`` is on PATH, its version and installed language data."""
    exe = shutil.which("tesseract")
    if exe is None and os.name == "nt":
        exe = shutil.which("tesseract", path=str(WINDOWS_DEFAULT))
    if exe is None:
        return TesseractStatus(None, None)
    try:
        ver = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return TesseractStatus(None, None)
    first = (ver.stdout or ver.stderr).strip().splitlines()
    version = first[0].split()[-1] if first else None
    # The first line is 'List of available languages in "...":'.
    codes = tuple(line.strip() for line in langs.stdout.splitlines()[1:] if line.strip())
    return TesseractStatus(exe, version, codes)


def install_help(lang: str = DEFAULT_LANG) -> str:
    """What is missing for OCR in ``lang`` and how to install it; '' when nothing is."""
    status = tesseract_status()
    if status.path is None:
        what = "OCR needs the Tesseract program, which is not installed (not on PATH)."
    else:
        missing = status.missing(lang)
        if not missing:
            return ""
        what = (
            f"OCR in {lang} needs Tesseract language data that is not installed: "
            f"{', '.join(missing)} (installed: {', '.join(status.languages) or 'none'})."
        )
    return f"{what} Install it with: " + "; ".join(INSTALL_LINES) + "."


def require_tesseract(lang: str = DEFAULT_LANG) -> str:
    """The path of ``tesseract``; a DataError with the install lines when unusable."""
    message = install_help(lang)
    if message:
        raise DataError(message)
    path = tesseract_status().path
    assert path is not None
    return path


@dataclass
class OcrPage:
    """One page as Tesseract read it: lines with their paragraph, and confidences."""

    number: int
    lines: list[tuple[str, int]] = field(default_factory=list)  # (text, paragraph id)
    confidences: list[float] = field(default_factory=list)  # one per word

    @property
    def confidence(self) -> float:
        """Mean word confidence (0-100); 0 for a page where no word was found."""
        if not self.confidences:
            return 0.0
        return round(sum(self.confidences) / len(self.confidences), 1)


def parse_tsv(tsv: str) -> list[OcrPage]:
    """Tesseract's TSV (level, page, block, paragraph, line, word, box, conf, text) to pages."""
    pages: dict[int, OcrPage] = {}
    lines: dict[tuple[int, int, int, int], list[str]] = {}
    paragraph_ids: dict[tuple[int, int, int], int] = {}
    reader = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in reader:
        if row.get("level") != "5":
            if row.get("level") == "1":
                number = int(row["page_num"])
                pages.setdefault(number, OcrPage(number))
            continue
        word = (row.get("text") or "").strip()
        if not word:
            continue
        page = int(row["page_num"])
        key = (page, int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
        lines.setdefault(key, []).append(word)
        paragraph_ids.setdefault(key[:3], len(paragraph_ids) + 1)
        pages.setdefault(page, OcrPage(page)).confidences.append(float(row["conf"]))
    for key, words in lines.items():
        pages[key[0]].lines.append((" ".join(words), paragraph_ids[key[:3]]))
    return [pages[n] for n in sorted(pages)]


def image_dpi(path: Path) -> int | None:
    """The resolution stored in an image file, when it has a plausible one."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            dpi = img.info.get("dpi")
    except OSError as err:
        raise DataError(f"{path}: not a readable image ({err})") from None
    if dpi and 70 <= float(dpi[0]) <= 2400:
        return round(float(dpi[0]))
    return None


def ocr_image(path: str | Path, lang: str = DEFAULT_LANG, dpi: int | None = None) -> list[OcrPage]:
    """OCR an image file (every frame of a multi-page TIFF): one OcrPage per frame.

    ``dpi`` is passed to Tesseract when the file stores none; without it
    Tesseract guesses 70 dpi and reads a 300-dpi scan worse.
    """
    exe = require_tesseract(lang)
    path = Path(path)
    cmd = [exe, str(path), "stdout", "-l", lang]
    if image_dpi(path) is None:
        cmd += ["--dpi", str(dpi or DEFAULT_DPI)]
    cmd.append("tsv")
    # One thread per page: OpenMP threads cost more than they give on page-sized
    # images, and the machine may be busy with training.
    env = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=OCR_TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise DataError(f"{path}: Tesseract took more than {OCR_TIMEOUT_S} s; giving up") from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[-300:]
        raise DataError(f"{path}: Tesseract failed (exit {done.returncode}): {detail}")
    return parse_tsv(done.stdout)
