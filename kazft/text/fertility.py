"""Tokenizer fertility: tokens per word, and the share of words split in pieces.

High fertility on Kazakh is what makes a model slow and short-sighted on it,
so it is measured on the user's own data with the tokenizer they train with.
Each distinct word is tokenized once, as it appears in running text (after a
space); marker-only pieces ("▁", "Ġ") that some tokenizers emit for that
space are not counted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kazft.errors import DataError

WORD_RE = re.compile(r"[^\W\d_]+")
_MARKERS = "▁Ġ "


def load_tokenizer(path: str | Path) -> Any:
    """A Hugging Face tokenizer from a local folder; never downloads."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; --tokenizer needs a local tokenizer folder")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise DataError("--tokenizer needs the transformers package") from None
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:  # transformers raises OSError/ValueError/... for bad folders
        raise DataError(f"{folder}: cannot load a tokenizer ({err})") from None


class Fertility:
    """Call with each text; ``result()`` gives the summary."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, int] = {}
        self.words = 0
        self.tokens = 0
        self.split_words = 0

    def pieces(self, word: str) -> int:
        n = self.cache.get(word)
        if n is None:
            toks = self.tokenizer.tokenize(" " + word)
            n = max(1, sum(1 for t in toks if t.strip(_MARKERS)))
            self.cache[word] = n
        return n

    def __call__(self, text: str) -> None:
        for word in WORD_RE.findall(text):
            n = self.pieces(word)
            self.words += 1
            self.tokens += n
            self.split_words += n > 1

    def result(self) -> dict[str, Any]:
        if not self.words:
            return {"words": 0, "tokens": 0, "tokens_per_word": 0.0, "split_share": 0.0}
        return {
            "words": self.words,
            "tokens": self.tokens,
            "tokens_per_word": round(self.tokens / self.words, 3),
            "split_share": round(self.split_words / self.words, 3),
        }
