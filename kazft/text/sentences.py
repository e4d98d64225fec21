"""A Kazakh-aware sentence splitter (rules, no model).

A full stop ends a sentence unless it belongs to an initial (Қ.Тоқаев,
Н. Ә. Назарбаев), an abbreviation (б.з.б., т.ғ.д., ж.), an enumerator or a
heading number at the start of a sentence (1.1., 52-бап.), a decimal number
or a URL. Abbreviations come in two kinds: those that never end a sentence
(проф., қ. before a name; ж. and млн. too, since a Kazakh sentence ends with
its verb) and those that may (т.б., г.), which end one only when a capital
letter follows. Lines are hard boundaries.
"""

from __future__ import annotations

import re

from kazft.text.tokens import protected_spans

# Abbreviations that are always followed by more of the same sentence.
NEVER_FINAL = frozenset(
    [
        "б.з.б.",
        "б.з.",
        "б.з.д.",
        "қ.",
        "обл.",
        "ауд.",
        "көш.",
        "даң.",
        "проф.",
        "акад.",
        "доц.",
        "т.ғ.д.",
        "т.ғ.к.",
        "ф.ғ.д.",
        "ф.ғ.к.",
        "з.ғ.д.",
        "з.ғ.к.",
        "э.ғ.д.",
        "э.ғ.к.",
        "п.ғ.д.",
        "п.ғ.к.",
        "х.ғ.д.",
        "мед.ғ.д.",
        "мыс.",
        "қар.",
        "ред.",
        "құраст.",
        "аудар.",
        "сур.",
        "ул.",
        "им.",
        "см.",
        "ст.",
        "п.",
        "пп.",
        "рис.",
        "т.е.",
        "тел.",
        "стр.",
        "гр.",
        "b.z.b.",
        "b.z.d.",
        "q.",
        "prof.",
        "akad.",
        "dots.",
        "e.g.",
        "i.e.",
        "dr.",
        "mr.",
        "mrs.",
        "ms.",
        "no.",
        "vs.",
        "art.",
        "p.",
        "pp.",
        "fig.",
        "ж.",
        "жж.",
        "ғ.",
        "ғғ.",
        "млн.",
        "млрд.",
        "j.",
        "jj.",
        "ǵ.",
        "ğ.",
    ]
)
# Abbreviations that may end a sentence: split after them before a capital.
MAYBE_FINAL = frozenset(
    [
        "т.б.",
        "т.с.с.",
        "т.с.",
        "т.т.",
        "мың.",
        "тг.",
        "б.",
        "бб.",
        "т.",
        "тт.",
        "сағ.",
        "мин.",
        "г.",
        "гг.",
        "т.д.",
        "т.п.",
        "др.",
        "руб.",
        "t.b.",
        "t.s.s.",
        "etc.",
    ]
)
# Article, chapter and section numbers that open a heading: "1-бап. Осы Заңда ...".
_HEADING_RE = re.compile(
    r"^\d+(?:\.\d+)*-?(?:бап|тарау|бөлім|тармақ|параграф|bap|tarau|bólim|bölım)\.$",
    re.IGNORECASE,
)
_ENUMERATOR_RE = re.compile(r"^(?:\d+(?:\.\d+)*|[IVXLC]+)\.$")
# An initial: one capital (or a Latin digraph such as Sh), possibly after others: Н.Ә.
_INITIAL_RE = re.compile(r"^(?:[^\W\d_][hH]?\.)*[^\W\d_][hH]?\.$")
_GENERIC_ABBR_RE = re.compile(r"^(?:[^\W\d_]{1,3}\.){2,}$")
_TERMINATOR_RE = re.compile(r"(?:[.!?…]+)[»\"”’)\]]*")
_OPENING = "«\"“„([—–-‘'"


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, stripped; newlines always end a sentence."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(_split_line(line))
    return out


def _split_line(line: str) -> list[str]:
    spans = protected_spans(line)
    sentences: list[str] = []
    start = 0
    for m in _TERMINATOR_RE.finditer(line):
        end = m.end()
        if any(a <= m.start() < b for a, b in spans):
            continue
        if end >= len(line):
            break
        if _ends_sentence(line, start, m.start(), end):
            piece = line[start:end].strip()
            if piece:
                sentences.append(piece)
            start = end
    rest = line[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _ends_sentence(line: str, start: int, term_start: int, term_end: int) -> bool:
    term = line[term_start:term_end]
    after = line[term_end:]
    before = line[start:term_start]
    spaced = after[:1].isspace()
    nxt = after.lstrip()[:2]
    if not nxt:
        return True
    first = nxt[0]
    if not spaced:
        # "жасады.Ол": a missing space after a full stop, in a long lower-case word.
        word = re.search(r"[^\W\d_]+$", before)
        return (
            term == "."
            and word is not None
            and len(word.group()) >= 2
            and word.group().islower()
            and first.isupper()
            and nxt[1:2].islower()
        )
    if first.islower():
        return False
    starts_sentence = first.isupper() or first.isdigit() or first in _OPENING
    if not term.startswith("."):
        return starts_sentence
    token = (before.split() or [""])[-1].lstrip('«"“„(') + "."
    low = token.lower()
    if _INITIAL_RE.match(token) and token[0].isupper() and len(token) <= 6:
        return False
    if low in NEVER_FINAL:
        return False
    at_start = before.strip() == token[:-1]
    if at_start and (_ENUMERATOR_RE.match(token) or _HEADING_RE.match(token)):
        return False
    if low in MAYBE_FINAL or _GENERIC_ABBR_RE.match(low):
        return first.isupper()
    return starts_sentence
