"""Synthetic legal-like records whose token lengths follow Kazakh legal Q&A.

The length distribution is measured, not assumed: every record of
``data/legal/legal_qa.jsonl`` is tokenized (instruction, input and output
separately, with the tokenizer the benchmark models use) and synthetic records
draw their three lengths jointly from a real record, times a seeded log-uniform
jitter in x0.8..x1.25 (so 100k records are not 340 repeated shapes). The text is Kazakh
words from the same file, drawn at random until the length is reached, so the
tokenizer meets realistic pieces. :func:`describe_lengths` measures what came
out, and the benchmark reports both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kazft.artifacts.atomic import atomic_open

LEGAL = Path(__file__).resolve().parents[1] / "data" / "legal" / "legal_qa.jsonl"
JITTER = (0.8, 1.25)


def _read(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _ntok(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    from kazft.data.render import hf_tokenizer

    hf = hf_tokenizer(tokenizer)
    ids = hf(list(texts), add_special_tokens=False)["input_ids"]
    return [len(x) for x in ids]


def summary(values: Sequence[int] | np.ndarray) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    p = np.percentile(a, [10, 50, 90, 99])
    return {
        "n": int(a.size),
        "mean": round(float(a.mean()), 1),
        "p10": float(p[0]),
        "p50": float(p[1]),
        "p90": float(p[2]),
        "p99": float(p[3]),
        "min": float(a.min()),
        "max": float(a.max()),
    }


@dataclass
class LengthModel:
    """Joint (instruction, input, output) token lengths of the real records, and
    a word pool with each word's token count."""

    triples: np.ndarray  # (N, 3) int: instruction, input (0 = none), output tokens
    words: list[str]
    word_tokens: np.ndarray  # (W,) tokens of " " + word

    @classmethod
    def measure(cls, tokenizer: Any, path: Path = LEGAL) -> LengthModel:
        recs = _read(path)
        ins = _ntok(tokenizer, [r["instruction"] for r in recs])
        inp = [
            n if r.get("input") else 0
            for r, n in zip(
                recs, _ntok(tokenizer, [r.get("input") or "" for r in recs]), strict=True
            )
        ]
        out = _ntok(tokenizer, [r["output"] for r in recs])
        words = sorted(
            {
                w
                for r in recs
                for k in ("instruction", "input", "output")
                for w in (r.get(k) or "").split()
            }
        )
        wt = np.array(_ntok(tokenizer, [" " + w for w in words]), dtype=np.int64)
        return cls(np.array([ins, inp, out], dtype=np.int64).T, words, wt)

    def describe(self) -> dict[str, Any]:
        t = self.triples
        return {
            "source": str(LEGAL.relative_to(LEGAL.parents[2])),
            "records": len(t),
            "instruction_tokens": summary(t[:, 0]),
            "input_tokens": summary(t[:, 1]),
            "records_with_input": int((t[:, 1] > 0).sum()),
            "output_tokens": summary(t[:, 2]),
            "word_pool": len(self.words),
            "jitter": list(JITTER),
        }

    def text(self, rng: np.random.Generator, n_tokens: int) -> str:
        """Words drawn at random until about ``n_tokens`` tokens."""
        if n_tokens <= 0:
            return ""
        mean = float(self.word_tokens.mean())
        k = max(4, int(n_tokens / mean * 1.5) + 4)
        while True:
            idx = rng.integers(0, len(self.words), size=k)
            cum = np.cumsum(self.word_tokens[idx])
            if cum[-1] >= n_tokens:
                stop = int(np.searchsorted(cum, n_tokens)) + 1
                return " ".join(self.words[i] for i in idx[:stop])
            k *= 2

    def records(self, n: int, seed: int) -> list[dict[str, str]]:
        """``n`` alpaca records (instruction, input, output, category)."""
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(self.triples), size=n)
        lo, hi = np.log(JITTER[0]), np.log(JITTER[1])
        scale = np.exp(rng.uniform(lo, hi, size=(n, 3)))
        out = []
        for i in range(n):
            ins, inp, ans = (self.triples[picks[i]] * scale[i]).round().astype(int)
            out.append(
                {
                    "instruction": self.text(rng, max(3, ins)) + "?",
                    "input": self.text(rng, inp) if self.triples[picks[i], 1] else "",
                    "output": self.text(rng, max(8, ans)),
                    "category": "synthetic",
                }
            )
        return out


def fixed_length_records(
    lm: LengthModel, tokenizer: Any, data: Any, n: int, length: int, seed: int
) -> list[dict[str, str]]:
    """``n`` records that each render (chat template, system prompt) to
    ``length - 8 .. length`` tokens, answer about 60 % (the legal set's share)."""
    from kazft.data.render import prompt_messages

    rng = np.random.default_rng(seed)
    hf = _hf(tokenizer)
    recs = []
    for _ in range(n):
        ins = max(8, int(length * 0.12))
        ans = max(8, int(length * 0.6))
        rec = {
            "instruction": lm.text(rng, ins) + "?",
            "input": "",
            "output": lm.text(rng, ans),
            "category": "synthetic-fixed",
        }
        for _ in range(6):  # converge on the length: the template's own tokens vary little
            msgs = prompt_messages(data, rec["instruction"], rec["input"])
            msgs.append({"role": "assistant", "content": rec["output"]})
            got = len(_chat_ids(hf, [msgs])[0])
            if length - 8 <= got <= length:
                break
            ins = max(4, ins + (length - 4 - got))
            rec["instruction"] = lm.text(rng, ins) + "?"
        recs.append(rec)
    return recs


def _hf(tokenizer: Any) -> Any:
    from kazft.data.render import hf_tokenizer

    return hf_tokenizer(tokenizer)


def rendered_lengths(tokenizer: Any, data: Any, records: Sequence[dict[str, str]]) -> list[int]:
    """Tokens of each record rendered as training renders it (system prompt,
    template, chat template)."""
    from kazft.data.render import prompt_messages

    hf = _hf(tokenizer)
    convs = []
    for r in records:
        msgs = prompt_messages(data, r["instruction"], r.get("input") or "")
        msgs.append({"role": "assistant", "content": r["output"]})
        convs.append(msgs)
    return [len(x) for x in _chat_ids(hf, convs)]


def _chat_ids(hf: Any, convs: list[list[dict[str, str]]]) -> list[list[int]]:
    ids = hf.apply_chat_template(convs, tokenize=True)
    if not isinstance(ids, list):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    """Atomically, through kazft's one atomic writer."""
    with atomic_open(path) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path
