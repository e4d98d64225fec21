"""The main text of a saved web page (statutes from the legal-acts portal and the like).

trafilatura finds the main content and drops menus, scripts, cookie banners
and footers; its XML output keeps headings (<head>) apart from paragraphs,
which the article splitter needs. selectolax would parse faster but leaves
the boilerplate decision to us; a statute page is read once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

from kazft.errors import DataError

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
_BLOCK_TAGS = {"head", "p", "item", "cell", "quote", "code"}


def _decode(raw: bytes, encoding: str) -> str:
    """Bytes as text: a declared charset wins over the ``--encoding`` default."""
    head = raw[:2048].decode("ascii", "ignore").lower()
    for marker in ("charset=", 'charset="', "charset='"):
        at = head.find(marker)
        if at >= 0:
            name = head[at + len(marker) :].lstrip("\"'").split('"')[0].split("'")[0]
            name = name.split(";")[0].split(">")[0].split("/")[0].strip()
            try:
                return raw.decode(name)
            except (LookupError, UnicodeDecodeError):
                break
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise DataError(
            f"byte 0x{raw[err.start : err.start + 1].hex()} at offset {err.start} is not valid "
            f"{encoding}; pass --encoding (e.g. cp1251)"
        ) from None


def read_html(path: Path, encoding: str = "utf-8") -> tuple[str | None, list[tuple[str, bool]]]:
    """(page title, [(block text, is_heading)]) of the page's main content."""
    import trafilatura

    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    try:
        html = _decode(raw, encoding)
    except DataError as err:
        raise DataError(f"{path}: {err}") from None
    xml = trafilatura.extract(
        html,
        output_format="xml",
        include_comments=False,
        include_tables=True,
        include_formatting=False,
        favor_recall=True,
        with_metadata=True,
    )
    if not xml:
        raise DataError(f"{path}: no main text found in the page")
    root = ET.fromstring(xml)
    title = (root.get("title") or "").strip() or None
    main = root.find("main")
    blocks = list(_blocks(main)) if main is not None else []
    if not blocks:
        raise DataError(f"{path}: no main text found in the page")
    return title, blocks


def _blocks(el: ET.Element) -> Iterator[tuple[str, bool]]:
    for child in el:
        if child.tag in _BLOCK_TAGS:
            text = " ".join("".join(child.itertext()).split())
            if text:
                yield text, child.tag == "head"
        else:
            # list, table, row, div: look inside
            yield from _blocks(child)
