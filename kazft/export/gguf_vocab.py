"""Gemma's SentencePiece tokenizer as GGUF vocabulary metadata.

llama.cpp rebuilds the tokenizer from three parallel lists (piece, score, type)
plus the special ids; it tokenises with its own SentencePiece ("llama") code.
The facts that make Gemma 3 tokenise as in transformers:
- pieces and scores come from tokenizer.model; the special tokens of
  tokenizer_config.json (``<start_of_turn>``, ``<end_of_turn>``, ...) are CONTROL, so
  llama.cpp parses them in text only when asked to (special=True);
- the list is as long as the embedding (Gemma 3 4B: 262,208 rows for 262,144
  pieces); rows past the tokenizer are UNUSED placeholders;
- Gemma adds no space prefix (``add_space_prefix = false``) and adds <bos> but not <eos>.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.artifacts.manifest import chat_template_text
from kazft.errors import ModelError

# SentencePiece token types as GGUF stores them (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class Vocab:
    pieces: list[bytes]
    scores: list[float]
    types: list[int]
    bos: int
    eos: int
    eot: int  # <end_of_turn>: where a chat answer ends
    pad: int
    unk: int
    chat_template: str | None

    def __len__(self) -> int:
        return len(self.pieces)


def _added_tokens(folder: Path) -> dict[str, tuple[int, bool]]:
    """content -> (id, marked special) of every added token, from tokenizer.json and
    tokenizer_config.json's added_tokens_decoder (transformers writes one or both)."""
    found: dict[str, tuple[int, bool]] = {}
    tok_json = folder / "tokenizer.json"
    if tok_json.is_file():
        for t in json.loads(tok_json.read_text(encoding="utf-8")).get("added_tokens") or []:
            found[str(t["content"])] = (int(t["id"]), bool(t.get("special")))
    cfg_path = folder / "tokenizer_config.json"
    if cfg_path.is_file():
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        for tid, data in (cfg.get("added_tokens_decoder") or {}).items():
            found[str(data["content"])] = (int(tid), bool(data.get("special")))
    return found


def _is_control(text: str, special: bool) -> bool:
    # Gemma's files mark <mask> and <unusedN> as not special although they are control
    # tokens; <start_of_turn> and <end_of_turn> stay user-defined, as llama.cpp's own
    # converter writes them (llama.cpp then matches them in text as whole tokens).
    return (
        special
        or text in ("<pad>", "<mask>")
        or (text.startswith("<unused") and text.endswith(">"))
    )


def read_vocab(folder: Path, rows: int) -> Vocab:
    """The vocabulary of the base model in ``folder``, padded to ``rows`` entries."""
    from sentencepiece import SentencePieceProcessor

    model = folder / "tokenizer.model"
    if not model.is_file():
        raise ModelError(
            f"{folder}: no tokenizer.model; GGUF export needs Gemma's SentencePiece tokenizer"
        )
    sp = SentencePieceProcessor()
    sp.LoadFromFile(str(model))
    n = sp.vocab_size()
    if n > rows:
        raise ModelError(f"{folder}: the tokenizer has {n} pieces but the embedding {rows} rows")
    pieces = [f"[PAD{i}]".encode() for i in range(rows)]
    scores = [-10000.0] * rows
    types = [UNUSED] * rows
    for i in range(n):
        pieces[i] = sp.IdToPiece(i).encode("utf-8")
        scores[i] = float(sp.GetScore(i))
        if sp.IsUnknown(i):
            types[i] = UNKNOWN
        elif sp.IsControl(i):
            types[i] = CONTROL
        elif sp.IsUnused(i):
            types[i] = UNUSED
        elif sp.IsByte(i):
            types[i] = BYTE
        else:
            types[i] = NORMAL
    added = _added_tokens(folder)
    for text, (tid, special) in added.items():
        if tid < rows:
            pieces[tid] = text.encode("utf-8")
            types[tid] = CONTROL if _is_control(text, special) else USER_DEFINED
            scores[tid] = -1000.0

    def need(text: str, default: int) -> int:
        tid = added[text][0] if text in added else default
        if not 0 <= tid < rows:
            raise ModelError(f"{folder}: special token {text} has id {tid}, outside the vocabulary")
        return tid

    return Vocab(
        pieces=pieces,
        scores=scores,
        types=types,
        bos=need("<bos>", sp.bos_id()),
        eos=need("<eos>", sp.eos_id()),
        eot=need("<end_of_turn>", sp.PieceToId("<end_of_turn>")),
        pad=need("<pad>", sp.pad_id()),
        unk=need("<unk>", sp.unk_id()),
        chat_template=chat_template_text(folder),
    )


def add_vocab(w: Any, vocab: Vocab) -> None:
    """Write ``vocab`` into a gguf.GGUFWriter (before its header is written)."""
    w.add_tokenizer_model("llama")  # SentencePiece, as llama.cpp calls it
    w.add_tokenizer_pre("default")
    w.add_token_list(vocab.pieces)
    w.add_token_scores(vocab.scores)
    w.add_token_types(vocab.types)
    w.add_bos_token_id(vocab.bos)
    w.add_eos_token_id(vocab.eos)
    w.add_eot_token_id(vocab.eot)
    w.add_pad_token_id(vocab.pad)
    w.add_unk_token_id(vocab.unk)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
    if vocab.chat_template:
        w.add_chat_template(vocab.chat_template)
