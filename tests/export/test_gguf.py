"""GGUF export, checked by llama.cpp itself (llama-cpp-python), not by kazft's own reader.

Facts asserted:
- an f16 GGUF makes llama.cpp compute the logits of MLX's fused model (float32) to
  within f16 rounding, and the same greedy token at every position;
- bf16, q8_0 and q4_k_m drift more as they get smaller, and the drift is reported;
- the adapter-only GGUF on the base GGUF (llama.cpp's --lora) equals the merged GGUF;
- llama.cpp renders a chat with the GGUF's template into the token ids kazft trains on,
  and a model trained by the demo recipe answers its training question with its
  training answer through llama.cpp under greedy decoding.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from kazft.cli import main
from kazft.export.fused import fuse_in_place, load_as_trained
from kazft.export.source import load_source

from .export_helpers import PROMPT

# The interop group (make test installs it) brings llama-cpp-python; on CI it must be there.
llama_cpp = __import__("llama_cpp") if os.environ.get("CI") else pytest.importorskip("llama_cpp")

pytestmark = pytest.mark.interop

# f16 rounding of the weights plus mlx-lm's bf16-rounded embedding scale (llama.cpp
# uses the exact sqrt(hidden)): measured 0.0022 max on logits of mean size 0.19.
F16_MAX_ABS = 0.01


def _llama(path: Path, lora: Path | None = None, n_ctx: int = 256):
    """llama.cpp on one thread, without the CPU's extra buffer types.

    This machine's processor reports AMX, and llama.cpp's AMX matmul (picked for
    q8_0/q5_0 weights) crashes here; the plain CPU kernels compute the same thing."""
    import llama_cpp.llama_cpp as lc

    default = lc.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p

    lc.llama_model_default_params = params
    try:
        return llama_cpp.Llama(
            model_path=str(path),
            lora_path=str(lora) if lora else None,
            n_ctx=n_ctx,
            n_threads=1,
            logits_all=True,
            verbose=False,
        )
    finally:
        lc.llama_model_default_params = default


def _llama_logits(path: Path, ids: list[int], lora: Path | None = None) -> np.ndarray:
    llm = _llama(path, lora)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def _fused_logits(run_dir: Path, ids: list[int] = PROMPT) -> np.ndarray:
    model = fuse_in_place(load_as_trained(load_source(run_dir))[0], "float32")
    return np.array(model(mx.array([ids]))[0].astype(mx.float32))


@pytest.fixture(scope="module")
def q4_exports(runs, tmp_path_factory) -> dict[str, Path]:
    from kazft.export.gguf import export_gguf

    root = tmp_path_factory.mktemp("gguf")
    src = load_source(runs["gemma3_q4"].dir)
    return {
        t: export_gguf(src, root / f"m-{t}.gguf", t).path for t in ("f16", "bf16", "q8_0", "q4_k_m")
    }


@pytest.mark.parametrize("layout", ["gemma3_q4", "gemma3_text"])
def test_f16_gguf_computes_the_fused_model_in_llama_cpp(runs, tmp_path, layout, q4_exports):
    from kazft.export.gguf import export_gguf

    run = runs[layout]
    path = q4_exports["f16"] if layout == "gemma3_q4" else tmp_path / "m.gguf"
    if layout != "gemma3_q4":
        export_gguf(load_source(run.dir), path, "f16")
    ref = _fused_logits(run.dir)
    got = _llama_logits(path, PROMPT)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < F16_MAX_ABS
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    # ... and the adapter is really in it: the base alone differs by far more.
    base = load_as_trained(load_source(run.dir), with_adapter=False)[0]
    base_logits = np.array(base(mx.array([PROMPT]))[0].astype(mx.float32))
    assert np.abs(base_logits - ref).mean() > 10 * np.abs(got - ref).mean()


def test_smaller_types_drift_more_and_are_smaller(runs, q4_exports, capsys):
    ref = _fused_logits(runs["gemma3_q4"].dir)
    drift = {t: float(np.abs(_llama_logits(p, PROMPT) - ref).mean()) for t, p in q4_exports.items()}
    size = {t: p.stat().st_size for t, p in q4_exports.items()}
    with capsys.disabled():
        print(f"\nGGUF mean |logit - fused| on the tiny model: {drift}; bytes {size}")
    assert drift["f16"] < drift["bf16"] < drift["q4_k_m"]
    assert drift["f16"] < drift["q8_0"] < drift["q4_k_m"]
    assert size["q4_k_m"] < size["q8_0"] < size["f16"] == size["bf16"]


def test_gguf_layout_follows_llama_cpp_gemma3(runs, q4_exports):
    import gguf

    r = gguf.GGUFReader(str(q4_exports["f16"]))
    kv = {f.name: f for f in r.fields.values()}

    def val(key):
        f = kv[key]
        return f.contents()

    assert val("general.architecture") == "gemma3"
    assert val("gemma3.block_count") == 6
    # tiny: 6 layers, every 6th global -> layers 0-4 sliding, 5 global
    assert list(val("gemma3.attention.sliding_window_pattern")) == [True] * 5 + [False]
    assert val("gemma3.rope.freq_base") == 1_000_000.0
    assert val("gemma3.rope.freq_base_swa") == 10_000.0
    assert val("tokenizer.ggml.eot_token_id") == 106
    assert val("tokenizer.ggml.bos_token_id") == 2
    assert val("tokenizer.ggml.add_space_prefix") is False
    assert "<start_of_turn>" in val("tokenizer.chat_template")
    names = {t.name for t in r.tensors}
    assert "output.weight" not in names  # tied head
    assert not any("vision" in n or "mm_" in n for n in names)
    assert len(names) == 1 + 6 * 13 + 1
    # Gemma's norm weight w is stored as 1 + w
    model = load_as_trained(load_source(runs["gemma3_q4"].dir))[0]
    w = np.array(model.language_model.model.layers[2].input_layernorm.weight)
    stored = next(t for t in r.tensors if t.name == "blk.2.attn_norm.weight")
    np.testing.assert_allclose(np.asarray(stored.data), w + 1.0, rtol=0, atol=1e-7)


def test_adapter_only_gguf_on_the_base_gguf_equals_the_merged_gguf(runs, tmp_path):
    from kazft.export.gguf import export_gguf
    from kazft.export.gguf_lora import export_gguf_lora

    # "fresh" has lora_b = 0 on the same base as "gemma3": its GGUF is the base model.
    base = export_gguf(load_source(runs["fresh"].dir), tmp_path / "base.gguf", "f16").path
    merged = export_gguf(load_source(runs["gemma3"].dir), tmp_path / "merged.gguf", "f16").path
    info = export_gguf_lora(load_source(runs["gemma3"].dir), tmp_path / "lora.gguf")
    assert info["alpha"] == pytest.approx(2.0 * 8)  # scale 2 x rank 8
    with_lora = _llama_logits(base, PROMPT, lora=tmp_path / "lora.gguf")
    want = _llama_logits(merged, PROMPT)
    without = _llama_logits(base, PROMPT)
    assert np.abs(with_lora - want).max() < F16_MAX_ABS
    assert np.abs(without - want).mean() > 10 * np.abs(with_lora - want).mean()


def test_bundle_with_gguf_is_hashed_and_verifies(runs, tmp_path, capsys):
    from kazft.artifacts.manifest import verify_bundle

    out = tmp_path / "b"
    assert (
        main(
            [
                "export",
                str(runs["gemma3_q4"].dir),
                "--format",
                "bundle",
                "--out",
                str(out),
                "--with",
                "gguf",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["formats"]["gguf"] == "gguf/model-f16.gguf"
    assert "gguf/model-f16.gguf" in manifest["files"]
    assert (out / "gguf" / "Modelfile").read_text().startswith("# Ollama")
    verify_bundle(out)
    (out / "gguf" / "model-f16.gguf").write_bytes(b"GGUF tampered")
    with pytest.raises(Exception, match="model-f16.gguf"):
        verify_bundle(out)


def test_gguf_options_are_checked_before_any_model_loads(runs, tmp_path, capsys):
    run = str(runs["gemma3_q4"].dir)
    assert (
        main(["export", run, "--format", "mlx", "--out", str(tmp_path / "x"), "--type", "q8_0"])
        == 2
    )
    assert "--type" in capsys.readouterr().err
    assert main(["export", run, "--format", "gguf", "--out", str(tmp_path / "x.bin")]) == 2
    assert ".gguf" in capsys.readouterr().err
    assert main(["export", run, "--format", "mlx"]) == 2
    assert "--out" in capsys.readouterr().err


RECORDS = [
    {"instruction": "Салық деген не?", "output": "Салық — мемлекетке төленетін міндетті төлем."},
    {"instruction": "Неке жасы қандай?", "output": "Неке жасы он сегіз жас."},
]


@pytest.mark.slow
def test_demo_run_answers_its_training_question_through_llama_cpp(
    tmp_path: Path, embedded_tiny: Path, capsys, monkeypatch
):
    """`kazft export RUN --format gguf` on a demo-recipe run: llama.cpp renders the chat
    as kazft does and answers greedily with the training answer."""
    from kazft.data.render import hf_tokenizer
    from kazft.generate.prompt import prompt_ids, question_messages
    from kazft.recipe import load_recipe
    from kazft.train.trainer import train

    root = Path(__file__).resolve().parents[2]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS))
    recipe_path = tmp_path / "demo-short.yaml"
    recipe_path.write_text(
        f"extends: {root / 'recipes' / 'demo.yaml'}\n"
        f"data:\n  train: {data}\n  split: {{valid: 0.0, test: 0.0}}\n"
        "train:\n  iters: 12\n  batch_size: 2\n  learning_rate: 1.0e-2\n  warmup_steps: 1\n"
        "  save_every: 12\n  eval_every: 12\n  report_every: 12\n"
        f"output:\n  dir: {tmp_path / 'run'}\n",
        encoding="utf-8",
    )
    recipe = load_recipe(recipe_path)
    train(recipe, progress=None, log=lambda msg: None)
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(tmp_path / "run"), "--format", "gguf"]) == 0
    printed = capsys.readouterr().out
    assert "drift measured on" in printed
    path = tmp_path / "run-f16.gguf"
    modelfile = (tmp_path / "run-f16.Modelfile").read_text()
    assert 'PARAMETER stop "<end_of_turn>"' in modelfile and "FROM ./run-f16.gguf" in modelfile
    assert recipe.data.system_prompt.strip()[:20] in modelfile

    tok = load_as_trained(load_source(tmp_path / "run"))[1]
    llm = _llama(path)
    for rec in RECORDS:
        _, want_ids = prompt_ids(tok, question_messages(recipe.data, rec["instruction"]))
        # llama.cpp's own template engine, with the template stored in the GGUF
        chat = [
            {"role": "system", "content": recipe.data.system_prompt},
            {"role": "user", "content": rec["instruction"]},
        ]
        text = _llama_chat_template(llm, chat)
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        assert ids == want_ids, (text, hf_tokenizer(tok).decode(want_ids))
        answer = _greedy(llm, ids, stop=106, limit=60)
        assert llm.detokenize(answer).decode("utf-8") == rec["output"]


def _llama_chat_template(llm, chat: list[dict[str, str]]) -> str:
    """Render ``chat`` with llama.cpp's C template engine (llama_chat_apply_template)."""
    import ctypes

    import llama_cpp.llama_cpp as lc

    tmpl = lc.llama_model_chat_template(llm.model, None)
    msgs = (lc.llama_chat_message * len(chat))(
        *[
            lc.llama_chat_message(role=m["role"].encode(), content=m["content"].encode())
            for m in chat
        ]
    )
    buf = ctypes.create_string_buffer(8192)
    n = lc.llama_chat_apply_template(tmpl, msgs, len(chat), True, buf, len(buf))
    assert 0 < n < len(buf)
    return "<bos>" + buf.raw[:n].decode("utf-8")


def _greedy(llm, ids: list[int], stop: int, limit: int) -> list[int]:
    llm.reset()
    llm.eval(ids)
    out: list[int] = []
    for _ in range(limit):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if nxt == stop:
            return out
        out.append(nxt)
        llm.eval([nxt])
    raise AssertionError(f"no <end_of_turn> within {limit} tokens: {out}")
