"""stats: counts, length percentiles, tokenizer fertility and PNG plots."""

from __future__ import annotations

import json

import pytest

from kazft.errors import DataError
from kazft.text.fertility import Fertility, load_tokenizer
from kazft.text.plots import write_plots
from kazft.text.stats import collect_stats, length_summary, percentile

PNG = b"\x89PNG\r\n\x1a\n"


def make_tokenizer(folder):
    """A WordPiece tokenizer with a hand-made vocabulary, saved as a HF folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "қазақ": 1, "##стан": 2, "тіл": 3, "##і": 4, "заң": 5}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(folder)
    return folder


def test_percentiles_nearest_rank():
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert length_summary([3, 1, 2]) == {
        "count": 3,
        "min": 1,
        "p50": 2,
        "p90": 3,
        "p99": 3,
        "max": 3,
        "mean": 2.0,
    }
    assert length_summary([]) == {"count": 0}


def test_counts_and_lengths(tmp_path):
    src = tmp_path / "d.jsonl"
    rows = [
        {
            "instruction": "Неке жасы қандай?",
            "input": "",
            "output": "18 жас.",
            "category": "отбасы",
        },
        {
            "instruction": "Салық мөлшерлемесі?",
            "input": "ҚСК",
            "output": "12 пайыз.",
            "category": "салық",
        },
        {"instruction": "Что такое закон?", "input": "", "output": "Правило.", "category": "салық"},
        {"instruction": "Qazaqstan Respýblıkasy?", "input": "", "output": "Memleket."},
    ]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = collect_stats(src).result()
    assert result["records"] == 4
    assert result["categories"] == {"салық": 2, "(none)": 1, "отбасы": 1}
    assert result["scripts"] == {"cyrillic": 3, "latin2018": 1}
    assert result["lengths"]["instruction"] == {
        "chars": {"count": 4, "min": 16, "p50": 17, "p90": 23, "p99": 23, "max": 23, "mean": 18.8},
        "words": {"count": 4, "min": 2, "p50": 2, "p90": 3, "p99": 3, "max": 3, "mean": 2.5},
    }
    assert result["lengths"]["input"]["chars"]["max"] == 3


def test_languages(tmp_path):
    src = tmp_path / "d.txt"
    src.write_text(
        "Мен сені жақсы көремін.\n\nЯ люблю свою страну и свой народ.\n", encoding="utf-8"
    )
    result = collect_stats(src).result()
    assert result["records"] == 2
    assert result["languages"] == {"kk": 1, "ru": 1}
    assert set(result["lengths"]) == {"text"}


def test_fertility(tmp_path):
    tok = load_tokenizer(make_tokenizer(tmp_path / "tok"))
    fert = Fertility(tok)
    fert("қазақстан тілі тіл, 2024")
    assert fert.result() == {
        "words": 3,
        "tokens": 5,
        "tokens_per_word": 1.667,
        "split_share": 0.667,
    }
    with pytest.raises(DataError, match="nothing: not a folder"):
        load_tokenizer(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: cannot load a tokenizer"):
        load_tokenizer(tmp_path / "empty")


def test_plots_are_pngs(tmp_path):
    files = write_plots({"a": 3, "b": 1}, [10, 20, 20, 35], tmp_path / "plots")
    assert [f.name for f in files] == [
        "categories_bar.png",
        "categories_pie.png",
        "lengths_hist.png",
    ]
    for f in files:
        assert f.read_bytes()[:8] == PNG
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(f.name for f in files)
