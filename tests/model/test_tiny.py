"""The embedded tiny Gemma 3: real layout, real loader, exact template, deterministic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlx.core as mx
import mlx_lm
import pytest

from kazft.errors import KazftError
from kazft.model.tiny import build

KAZAKH = "Әділет, ғалым, қазақ, ұлттық, өнер, үміт, мұңлы, һижра, ініміз — ӘҒҚҢӨҰҮҺІ."


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("layout", ["gemma3", "gemma3_text"])
def test_loads_with_mlx_lm_and_runs(tiny_dirs, layout):
    model, tok = mlx_lm.load(str(tiny_dirs[layout]))
    cfg = json.loads((tiny_dirs[layout] / "config.json").read_text())
    assert cfg["model_type"] == layout
    ids = tok.encode("Сәлем")
    logits = model(mx.array([ids]))
    assert logits.shape == (1, len(ids), 2048)
    assert bool(mx.all(mx.isfinite(logits)))


def test_layouts_store_weights_where_the_real_checkpoints_do(tiny_dirs):
    mm = json.loads((tiny_dirs["gemma3"] / "model.safetensors.index.json").read_text())
    text = json.loads((tiny_dirs["gemma3_text"] / "model.safetensors.index.json").read_text())
    assert "language_model.model.layers.0.self_attn.q_proj.weight" in mm["weight_map"]
    assert any(k.startswith("vision_tower.vision_model.") for k in mm["weight_map"])
    assert "model.layers.0.self_attn.q_proj.weight" in text["weight_map"]
    assert not any(k.startswith(("vision_tower", "language_model")) for k in text["weight_map"])


def test_both_layouts_compute_the_same_function(tiny_dirs):
    (m1, tok), (m2, _) = (mlx_lm.load(str(tiny_dirs[k])) for k in ("gemma3", "gemma3_text"))
    x = mx.array([tok.encode(KAZAKH)])
    assert mx.array_equal(m1(x), m2(x))


def test_chat_template_renders_exactly(tiny_tokenizer):
    msgs = [
        {"role": "system", "content": "Сіз заңгерсіз."},
        {"role": "user", "content": "Еңбек шарты деген не?"},
        {"role": "assistant", "content": "Жұмыс беруші мен қызметкер арасындағы келісім."},
        {"role": "user", "content": "Ал мерзімі?"},
    ]
    text = tiny_tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<bos><start_of_turn>user\nСіз заңгерсіз.\n\nЕңбек шарты деген не?<end_of_turn>\n"
        "<start_of_turn>model\nЖұмыс беруші мен қызметкер арасындағы келісім.<end_of_turn>\n"
        "<start_of_turn>user\nАл мерзімі?<end_of_turn>\n<start_of_turn>model\n"
    )
    ids = tiny_tokenizer.apply_chat_template(msgs[1:2], add_generation_prompt=True)
    assert ids[:2] == [2, 105]  # <bos>, <start_of_turn>: the real Gemma 3 ids
    assert ids.count(2) == 1  # exactly one <bos>


def test_special_token_ids_match_gemma3(tiny_tokenizer):
    conv = tiny_tokenizer.convert_tokens_to_ids
    assert [conv(t) for t in ("<pad>", "<eos>", "<bos>", "<unk>")] == [0, 1, 2, 3]
    assert conv("<start_of_turn>") == 105 and conv("<end_of_turn>") == 106
    assert tiny_tokenizer.eos_token_ids == {1, 106}  # from generation_config.json


def test_tokenizer_round_trips_kazakh(tiny_tokenizer):
    ids = tiny_tokenizer.encode(KAZAKH, add_special_tokens=False)
    assert 3 not in ids  # no <unk>: byte fallback covers everything
    assert tiny_tokenizer.decode(ids) == KAZAKH
    for letter in "әғқңөұүһіӘҒҚҢӨҰҮҺІ":
        assert (
            tiny_tokenizer.decode(tiny_tokenizer.encode(letter, add_special_tokens=False)) == letter
        )


def test_build_is_byte_identical_for_one_seed(tmp_path):
    a = build(tmp_path / "a", layout="gemma3_text", seed=7)
    b = build(tmp_path / "b", layout="gemma3_text", seed=7)
    c = build(tmp_path / "c", layout="gemma3_text", seed=8)
    assert _digests(a) == _digests(b)
    differ = {k for k in _digests(a) if _digests(a)[k] != _digests(c)[k]}
    assert differ == {
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "kazft_build.json",
    }


def test_no_absolute_paths_in_model_folder(tiny_dir):
    for f in tiny_dir.iterdir():
        if f.suffix in (".json", ".jinja"):
            assert str(tiny_dir.parent) not in f.read_text()
            assert "/tmp" not in f.read_text()


def test_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(KazftError, match="not empty"):
        build(out)
    assert (out / "keep.txt").exists()
