"""Retention probe: base vs base + adapter perplexity on general Kazakh/Russian text."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kazft.errors import KazftError
from kazft.eval.perplexity import adapter_disabled, sequence_nll, total_nll
from kazft.eval.retention import (
    file_probe,
    load_probes,
    probe_sequences,
    run_probes,
    split_documents,
    warnings_for,
)

KK = "Алматы – Қазақстанның ең үлкен қаласы.\nОнда көптеген университет бар.\n\n\nДала кең."
RU = "Москва – столица России.\n\nВ городе много музеев и парков."


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_split_documents() -> None:
    assert split_documents(KK) == [
        "Алматы – Қазақстанның ең үлкен қаласы.",
        "Онда көптеген университет бар.",
        "Дала кең.",
    ]
    assert split_documents("\n\n  \n") == []


def test_probe_sequences_windows_start_with_bos(tiny_tokenizer) -> None:
    doc = RU.split("\n\n")[1]
    ids = tiny_tokenizer.encode(doc, add_special_tokens=False)
    seqs = probe_sequences(tiny_tokenizer, [doc], max_len=8)
    # 7 new tokens per window; a last window of a single <bos> would score nothing.
    assert [len(t) for t, _ in seqs] == [8] * (len(ids) // 7) + (
        [1 + len(ids) % 7] if len(ids) % 7 else []
    )
    assert [t[1:] for t, _ in seqs] == [ids[i : i + 7] for i in range(0, len(ids), 7)]
    for tokens, mask in seqs:
        assert tokens[0] == tiny_tokenizer.bos_token_id
        assert mask == [False] + [True] * (len(tokens) - 1)


def test_run_probes_reports_the_change(tiny_adapted, tmp_path: Path) -> None:
    model, tokenizer = tiny_adapted
    probes = load_probes(
        {"kk": _write(tmp_path, "kk.txt", KK), "ru": _write(tmp_path, "ru.txt", RU)}
    )
    assert [p.lang for p in probes] == ["kk", "ru"]
    results = run_probes(model, tokenizer, probes, max_len=64, warn_threshold=0.10)
    for probe, r in zip(probes, results, strict=True):
        seqs = probe_sequences(tokenizer, probe.documents, 64)
        adapted = total_nll(sequence_nll(model, seqs))
        with adapter_disabled(model):
            base = total_nll(sequence_nll(model, seqs))
        assert r.tokens == base.tokens == sum(len(t) - 1 for t, _ in seqs)
        assert r.base_ppl == pytest.approx(base.perplexity, rel=1e-6)
        assert r.adapter_ppl == pytest.approx(adapted.perplexity, rel=1e-6)
        assert r.change == pytest.approx((r.adapter_ppl - r.base_ppl) / r.base_ppl)
        assert abs(r.change) > 1e-3  # the random adapter measurably moves perplexity
        assert r.warn == (r.change > 0.10)
        assert math.isfinite(r.base_ppl)


def test_warning_threshold(tiny_adapted, tmp_path: Path) -> None:
    model, tokenizer = tiny_adapted
    probes = [file_probe("ru", _write(tmp_path, "ru.txt", RU))]
    change = run_probes(model, tokenizer, probes, max_len=64)[0].change
    below = run_probes(model, tokenizer, probes, max_len=64, warn_threshold=change - 1e-3)
    above = run_probes(model, tokenizer, probes, max_len=64, warn_threshold=change + 1e-3)
    assert below[0].warn and not above[0].warn
    (msg,) = warnings_for(below, change - 1e-3)
    assert msg.startswith("general Russian perplexity rose by")
    assert warnings_for(above, change + 1e-3) == []


def test_shipped_probes_load() -> None:
    probes = load_probes()
    assert [(p.lang, p.source) for p in probes] == [
        ("kk", "kazft:probe_kk.txt"),
        ("ru", "kazft:probe_ru.txt"),
    ]
    assert all(len(p.documents) >= 10 for p in probes)


def test_bad_probe_files(tmp_path: Path) -> None:
    with pytest.raises(KazftError, match="not found"):
        file_probe("kk", tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes("Дала".encode("cp1251"))
    with pytest.raises(KazftError, match="not UTF-8"):
        file_probe("ru", tmp_path / "latin1.txt")
    with pytest.raises(KazftError, match="holds no text"):
        file_probe("ru", _write(tmp_path, "empty.txt", "\n\n"))
