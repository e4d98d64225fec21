"""Unicode clean-up for Kazakh text: idempotent, and counting what it changed.

Order matters: NFC first (look-up tables hold composed letters), then the
invisible characters (a soft hyphen inside a word would otherwise split it
into two tokens and hide a script mix), then per-token look-alike repair, then
quotes and dashes, which need the final neighbours of each character.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter

from kazft.text.alphabets import CYR_SUBSTITUTES, CYR_TO_LATIN_LOOKALIKE, LATIN_TO_CYR_LOOKALIKE
from kazft.text.script import count_scripts
from kazft.text.tokens import CYRILLIC, LATIN, WORD_RE, char_script, protected_spans

KINDS = ("nfc", "invisible", "soft_hyphen", "nbsp", "lookalike", "quotes", "dashes")
QUOTE_STYLES = {"keep": None, "guillemets": ("«", "»"), "straight": ('"', '"'), "curly": ("“", "”")}
DASH_STYLES = {"keep": None, "em": "—", "en": "–", "hyphen": "-"}

# Always invisible noise. ZWNJ/ZWJ and the direction marks carry meaning in
# Arabic script, so they are removed only from text without Arabic letters.
_ALWAYS_INVISIBLE = "\u200b\u2060\ufeff\u180e"
_BIDI_INVISIBLE = "\u200c\u200d\u200e\u200f"
_SPACES = "\u00a0\u2007\u202f\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a"
_INVISIBLE_RE = re.compile(f"[{_ALWAYS_INVISIBLE}]")
_BIDI_RE = re.compile(f"[{_BIDI_INVISIBLE}]")
_SPACES_RE = re.compile(f"[{_SPACES}]")
_ARABIC_RE = re.compile("[\u0600-\u06ff\u0750-\u077f]")

_QUOTE_RE = re.compile('["“”„‟«»]')
_OPENERS_BEFORE = set(" \t\n\r([{-–—/«„“")
# A dash used as punctuation stands between spaces (or opens a dialogue
# line); hyphens inside words and number ranges (21–23) are left alone.
_DASH_RE = re.compile(r"(?:(?<=\s)|^)(?:--|[-‒–—―])(?=\s)", re.MULTILINE)
_WORD_HYPHEN_RE = re.compile("[\u2010\u2011]")
# A word with a Latin letter and a Cyrillic letter, in either order.
_LAT = "A-Za-z\u00c0-\u024f\u0250-\u02af"
_CYR = "\u0400-\u052f"
_MIXED_WORD_RE = re.compile(f"[{_LAT}][^\\W\\d_]*[{_CYR}]|[{_CYR}][^\\W\\d_]*[{_LAT}]")


class Normalizer:
    """Callable text normaliser; ``counts`` accumulates changes per kind."""

    def __init__(self, quotes: str = "keep", dashes: str = "keep") -> None:
        if quotes not in QUOTE_STYLES:
            raise ValueError(f"unknown quote style {quotes!r}")
        if dashes not in DASH_STYLES:
            raise ValueError(f"unknown dash style {dashes!r}")
        self.quotes = QUOTE_STYLES[quotes]
        self.dash = DASH_STYLES[dashes]
        self.counts: Counter[str] = Counter({k: 0 for k in KINDS})

    def __call__(self, text: str) -> str:
        nfc = unicodedata.normalize("NFC", text)
        if nfc != text:
            self.counts["nfc"] += max(1, len(text) - len(nfc))
        text = self._sub(_INVISIBLE_RE, "", nfc, "invisible")
        if not _ARABIC_RE.search(text):
            text = self._sub(_BIDI_RE, "", text, "invisible")
        text = self._count_replace(text, "\u00ad", "", "soft_hyphen")
        text = self._sub(_SPACES_RE, " ", text, "nbsp")
        text = self._repair_lookalikes(text)
        if self.quotes is not None:
            text = self._fix_quotes(text, self.quotes)
        if self.dash is not None:
            text = self._fix_dashes(text, self.dash)
        return text

    def _sub(self, pattern: re.Pattern[str], repl: str, text: str, kind: str) -> str:
        new, n = pattern.subn(repl, text)
        self.counts[kind] += n
        return new

    def _count_replace(self, text: str, old: str, new: str, kind: str) -> str:
        n = text.count(old)
        if n:
            self.counts[kind] += n
            text = text.replace(old, new)
        return text

    def _repair_lookalikes(self, text: str) -> str:
        text, n = repair_lookalikes(text)
        self.counts["lookalike"] += n
        return text

    def _fix_quotes(self, text: str, style: tuple[str, str]) -> str:
        spans = protected_spans(text)
        out = list(text)
        for m in _QUOTE_RE.finditer(text):
            i = m.start()
            if _inside(spans, i):
                continue
            ch = text[i]
            if ch in "«„":
                opening = True
            elif ch == "»":
                opening = False
            else:
                opening = i == 0 or text[i - 1] in _OPENERS_BEFORE
            new = style[0] if opening else style[1]
            if new != ch:
                out[i] = new
                self.counts["quotes"] += 1
        return "".join(out)

    def _fix_dashes(self, text: str, dash: str) -> str:
        spans = protected_spans(text)

        def fix(m: re.Match[str]) -> str:
            if _inside(spans, m.start()) or m.group() == dash:
                return m.group()
            self.counts["dashes"] += 1
            return dash

        text = _DASH_RE.sub(fix, text)
        return self._sub(_WORD_HYPHEN_RE, "-", text, "dashes")


def repair_lookalikes(text: str) -> tuple[str, int]:
    """Repair look-alike letters in the mixed-script words of ``text``; (text, count)."""
    has_substitutes = any(c in text for c in CYR_SUBSTITUTES)
    # Fast path: most texts have no word mixing scripts and no substitute letter.
    if not has_substitutes and not _MIXED_WORD_RE.search(text):
        return text, 0
    spans = protected_spans(text)
    context = dominant_script(text)
    changed = 0

    def fix(m: re.Match[str]) -> str:
        nonlocal changed
        token = m.group()
        if _inside(spans, m.start()):
            return token
        fixed = repair_token(token, context)
        changed += sum(a != b for a, b in zip(token, fixed, strict=True))
        return fixed

    return WORD_RE.sub(fix, text), changed


def _inside(spans: list[tuple[int, int]], pos: int) -> bool:
    i = bisect.bisect_right(spans, (pos, float("inf"))) - 1
    return i >= 0 and spans[i][0] <= pos < spans[i][1]


def dominant_script(text: str) -> str:
    """Cyrillic or Latin, whichever has more letters (Cyrillic on a tie)."""

    counts, _ = count_scripts(text)
    return LATIN if counts[LATIN] > counts[CYRILLIC] else CYRILLIC


def repair_token(token: str, context: str = CYRILLIC) -> str:
    """Repair look-alikes in one word when it mixes Cyrillic and Latin letters.

    A token is moved to the script whose foreign letters are all look-alikes;
    when both directions are possible the majority script wins, then the
    text's dominant script. A genuine mix ("Googleда") is left alone.
    """
    cyr = [c for c in token if char_script(c) == CYRILLIC]
    lat = [c for c in token if char_script(c) == LATIN]
    if cyr and lat:
        to_cyr = all(c in LATIN_TO_CYR_LOOKALIKE for c in lat)
        to_lat = all(c in CYR_TO_LATIN_LOOKALIKE for c in cyr)
        if to_cyr and to_lat:
            to_cyr = len(cyr) > len(lat) if len(cyr) != len(lat) else context == CYRILLIC
        if to_cyr:
            token = "".join(LATIN_TO_CYR_LOOKALIKE.get(c, c) for c in token)
        elif to_lat:
            return "".join(CYR_TO_LATIN_LOOKALIKE.get(c, c) for c in token)
        else:
            return token
    if cyr or any(c in CYR_SUBSTITUTES for c in token):
        token = "".join(CYR_SUBSTITUTES.get(c, c) for c in token)
    return token
