"""A small Gemma-style SentencePiece tokenizer, trained on text the package ships.

It mirrors what matters of Gemma 3's tokenizer: BPE with byte fallback, digits
split, no dummy prefix, identity normalisation, and the special ids of the real
vocabulary (pad 0, eos 1, bos 2, unk 3, <mask> 4, ``<start_of_turn>`` 105,
``<end_of_turn>`` 106), so code that hard-codes nothing still meets the ids it
will meet on google/gemma-3-4b-it. Training is single-threaded on a fixed corpus
so two builds are byte-identical.
"""

from __future__ import annotations

import io
import json
import tempfile
from importlib import resources
from pathlib import Path

# ids 4..106 of the real Gemma 3 vocabulary, in order.
SPECIAL_PIECES = (
    ["<mask>", "[multimodal]"]
    + [f"<unused{i}>" for i in range(99)]
    + ["<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>"]
)
START_OF_TURN_ID = 105
END_OF_TURN_ID = 106
CORPUS_FILES = ("corpus_kk.txt", "corpus_ru.txt")


def _asset(name: str) -> str:
    return (
        resources.files("kazft.model").joinpath("assets").joinpath(name).read_text(encoding="utf-8")
    )


def chat_template() -> str:
    """Gemma 3's chat template (the one google/gemma-3-4b-it ships)."""
    return _asset("chat_template.jinja").rstrip("\n")


def train_sentencepiece(vocab_size: int) -> bytes:
    """Train the tokenizer model on the shipped corpus; returns tokenizer.model bytes."""
    import sentencepiece as spm

    lines = [ln for name in CORPUS_FILES for ln in _asset(name).splitlines() if ln.strip()]
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=out,
        model_type="bpe",
        vocab_size=vocab_size,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=SPECIAL_PIECES,
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=False,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        character_coverage=1.0,
        num_threads=1,  # several threads make the merges order-dependent
        minloglevel=2,
    )
    return out.getvalue()


def write_tokenizer(out_dir: Path, vocab_size: int) -> int:
    """Write tokenizer.model, tokenizer.json, tokenizer_config.json and the
    chat template into ``out_dir``; returns the tokenizer's vocabulary size."""
    from transformers import AutoTokenizer

    model_bytes = train_sentencepiece(vocab_size)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        (src / "tokenizer.model").write_bytes(model_bytes)
        (src / "tokenizer_config.json").write_text(
            json.dumps({"tokenizer_class": "GemmaTokenizer"}), encoding="utf-8"
        )
        # transformers 5 converts a SentencePiece model only through from_pretrained
        # on a folder; add_bos_token defaults to False unless passed.
        tok = AutoTokenizer.from_pretrained(str(src), add_bos_token=True, add_eos_token=False)
        tok.chat_template = chat_template()
        tok.save_pretrained(str(out_dir))
    (out_dir / "tokenizer.model").write_bytes(model_bytes)

    # save_pretrained records where the vocabulary came from (an absolute temp
    # path); a shipped model folder must not name a path of the machine that made it.
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg.pop("vocab_file", None)
    cfg.pop("name_or_path", None)
    cfg["add_bos_token"] = True
    cfg["add_eos_token"] = False
    cfg["padding_side"] = "left"
    cfg["pad_token"] = "<pad>"
    cfg["unk_token"] = "<unk>"
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(tok)
