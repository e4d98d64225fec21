"""Lines that are code, markup or bare numbers rather than a natural language.

A language-ID model given "x = np.zeros((3, 4))" still names a language (Polish,
English); for a data tool the right answer is "und". Signals are counted by
kind (a call, an operator, brackets, a path, markup...), and a line is code
when it has several kinds and few plain words, or few letters at all.
"""

from __future__ import annotations

import re

_SIGNALS = (
    re.compile(r"\w\("),  # a call: f(, print(
    re.compile(r"==|!=|<=|>=|=>|->|&&|\|\||::|\+=|-=|\*\*|>>|<<"),  # operators
    re.compile(r"(?<![\s=])=(?!=)|\s=\s"),  # assignment
    re.compile(r"[{};]\s*$|[{}]"),  # braces, a trailing semicolon
    re.compile(r"\b\w+\.\w+(?:\.\w+)*\("),  # a method call: np.zeros(
    re.compile(r"\b[a-z]+_[a-z0-9_]+\b|\b[a-z]+[A-Z][a-zA-Z]*\b"),  # snake_case, camelCase
    re.compile(r"</?[a-zA-Z][^>]*>"),  # markup
    re.compile(r"(?:^|\s)(?:--?[a-z][\w-]*|\$|\||#include|sudo)\b"),  # shell
    re.compile(r"(?:^|\s)[./~]?[\w.-]+/[\w./-]+"),  # a path
    re.compile(r"\[[^\]]*\]"),  # indexing or a list
    re.compile(r"\b(?:def|import|return|lambda|const|int|void|SELECT|FROM|WHERE)\b"),
    re.compile(r"\b[a-z_]+\.[a-z_]+\.[a-z_]+\b"),  # a dotted module path
    re.compile(r'"\w+"\s*:'),  # a JSON key
)
# A line starting with one of these and an argument is a shell command.
SHELL_COMMANDS = frozenset(
    [
        "echo",
        "ls",
        "cd",
        "cat",
        "grep",
        "git",
        "pip",
        "python",
        "python3",
        "sudo",
        "apt",
        "apt-get",
        "curl",
        "wget",
        "make",
        "export",
        "docker",
        "kazft",
        "mkdir",
        "rm",
        "cp",
        "mv",
        "chmod",
        "ssh",
        "tar",
        "brew",
        "npm",
    ]
)
# Tokens that mix letters and digits (0x7f, v1.2, KZ12, 1e-4) count as numbers.
_ALNUM_RE = re.compile(r"\S*\d\S*")
_LETTER_RE = re.compile(r"[^\W\d_]")
_PLAIN_WORD_RE = re.compile(r"^[^\W\d_]{2,}[.,:;!?»\"')]*$")
MIN_LETTER_SHARE = 0.5
MIN_KINDS = 2
MAX_PLAIN_SHARE = 0.7


def is_code_or_numbers(text: str) -> bool:
    """True for code, markup, shell commands, numbers, dates and identifiers."""
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return False
    letters = len(_LETTER_RE.findall(_ALNUM_RE.sub("", text)))
    if letters / len(chars) < MIN_LETTER_SHARE:
        return True
    tokens = text.split()
    if len(tokens) >= 2 and tokens[0] in SHELL_COMMANDS:
        return True
    plain = sum(bool(_PLAIN_WORD_RE.match(t)) for t in tokens) / len(tokens)
    kinds = sum(bool(p.search(text)) for p in _SIGNALS)
    return kinds >= MIN_KINDS + 1 or (kinds >= MIN_KINDS and plain < MAX_PLAIN_SHARE)
