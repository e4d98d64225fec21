"""Helpers shared by the data pipeline tests."""

from __future__ import annotations

import json
from typing import Any


def jsonl_bytes(rows: list[Any], newline: str = "\n") -> bytes:
    """Rows as JSONL: dicts/lists are dumped, str and bytes are written as given."""
    out = []
    for r in rows:
        if isinstance(r, bytes):
            out.append(r)
        elif isinstance(r, str):
            out.append(r.encode("utf-8"))
        else:
            out.append(json.dumps(r, ensure_ascii=False).encode("utf-8"))
    return newline.encode().join(out) + (newline.encode() if out else b"")


def qa(i: int, **extra: Any) -> dict[str, Any]:
    """A small distinct alpaca record."""
    return {"instruction": f"Сұрақ {i}?", "input": "", "output": f"Жауап {i}.", **extra}


def enc(tok: Any, text: str) -> list[int]:
    """Token ids of plain text (no special tokens added)."""
    from kazft.data.render import hf_tokenizer

    hf = hf_tokenizer(tok)
    return list(hf(text, add_special_tokens=False)["input_ids"])
