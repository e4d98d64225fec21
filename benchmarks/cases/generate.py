"""Generation: kazft's engine against mlx_lm.stream_generate, 4-bit, greedy.

Rows: the base alone and base + adapter, each for kazft and for mlx-lm (the
same adapter, loaded by ``mlx_lm.load(..., adapter_path=...)``). Both get the
same prompt ids (a question rendered with the recipe's system prompt and the
chat template) and are timed the same way: TTFT = call -> first token; decode
tokens/s = (tokens - 1) / (first token -> last token); a short warm-up
generation first (first touch of the weights, kernels). Random weights may
sample a stop token early; the token counts are reported with the speeds.

Bandwidth: a decode step reads every weight once (the tied embedding as the
output head, in full), so bytes per token = the loaded parameters' bytes
(``nbytes`` of every array the model holds, the adapter included); reached =
bytes per token x tokens/s, compared with the machine's measured bandwidth.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import Run, alternate, medians, ratio, run_child
from benchmarks.models import BuiltModel

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
WARMUP_PROMPT = 8  # prompt tokens of the warm-up generation


def make_adapter(
    model: BuiltModel,
    out: Path,
    rank: int = 64,
    scale: float = 0.25,
    layers: int = 16,
    seed: int = 0,
) -> Path:
    """An mlx-lm format adapter (the legal recipe's rank, scale, layers and
    targets) with seeded random weights: speed does not depend on the values,
    and a non-zero B makes it a real update, not a no-op."""
    import json

    import mlx.core as mx

    if (out / "adapters.safetensors").exists():
        return out
    s = model.spec.sizes
    dims = {
        "q_proj": (s.hidden, s.heads * s.head_dim),
        "k_proj": (s.hidden, s.kv_heads * s.head_dim),
        "v_proj": (s.hidden, s.kv_heads * s.head_dim),
        "o_proj": (s.heads * s.head_dim, s.hidden),
    }
    n = min(layers, s.layers)
    rng = np.random.default_rng(seed)
    weights = {}
    for i in range(s.layers - n, s.layers):
        for t in TARGETS:
            d_in, d_out = dims[t]
            p = f"language_model.model.layers.{i}.self_attn.{t}"
            weights[f"{p}.lora_a"] = mx.array(
                rng.standard_normal((d_in, rank), dtype=np.float32) * d_in**-0.5
            )
            weights[f"{p}.lora_b"] = mx.array(
                rng.standard_normal((rank, d_out), dtype=np.float32) * 0.01
            )
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), weights)
    cfg = {
        "fine_tune_type": "lora",
        "num_layers": n,
        "lora_parameters": {
            "rank": rank,
            "scale": scale,
            "dropout": 0.0,
            "keys": [f"self_attn.{t}" for t in TARGETS],
        },
        "base_model": str(model.source),
    }
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return out


def prompt_ids(tokenizer: Any, question: str, system: bool = True) -> list[int]:
    """The question as kazft asks it: the legal recipe's template and (unless
    ``system`` is False, to keep the prefill short on slow machines) its system prompt."""
    from benchmarks.cases.train import LEGAL_RECIPE
    from kazft.generate.prompt import encode, question_messages, render
    from kazft.recipe import load_recipe

    data = load_recipe(LEGAL_RECIPE).data
    if not system:
        data = data.model_copy(update={"system_prompt": None})
    return encode(tokenizer, render(tokenizer, question_messages(data, question)))


# --- in the child process -------------------------------------------------------------


def _param_bytes(model: Any) -> int:
    from mlx.utils import tree_flatten

    flat: list[tuple[str, Any]] = tree_flatten(model.parameters())  # type: ignore[assignment]
    return int(sum(v.nbytes for _, v in flat))


def child_kazft(spec: dict) -> dict:
    from kazft.generate.engine import Sampling, load_engine
    from kazft.generate.source import resolve_source

    source = resolve_source(
        model=spec["base"],
        adapter=spec.get("adapter"),
        no_adapter=spec.get("adapter") is None,
        quantize="4:64",
    )
    engine = load_engine(source, allow_other_base=True)
    ids = spec["prompt_ids"]
    # Warm-up on the prompt's first tokens: first touch and kernels, little prefill.
    engine.generate(
        ids[:WARMUP_PROMPT], Sampling(max_tokens=spec["warmup_tokens"], temperature=0.0)
    )
    runs = []
    for _ in range(spec["inner"]):
        g = engine.generate(ids, Sampling(max_tokens=spec["max_tokens"], temperature=0.0))
        st = g.stats
        runs.append(
            {
                "ttft_s": st.ttft_s,
                "decode_s": st.decode_s,
                "tokens": st.generated_tokens,
                "finish": st.finish_reason,
            }
        )
    return {"runs": runs, "param_bytes": _param_bytes(engine.model), "prompt_tokens": len(ids)}


def child_mlxlm(spec: dict) -> dict:
    from mlx_lm import load, stream_generate
    from mlx_lm.sample_utils import make_sampler

    loaded = load(spec["quantized"], adapter_path=spec.get("adapter"))
    model, tokenizer = loaded[0], loaded[1]
    ids = spec["prompt_ids"]
    sampler = make_sampler(0.0)

    def once(prompt: list[int], max_tokens: int) -> dict:
        t0 = time.perf_counter()
        t_first = t_last = t0
        n, last = 0, None
        for resp in stream_generate(
            model, tokenizer, prompt, max_tokens=max_tokens, sampler=sampler
        ):
            t_last = time.perf_counter()
            if n == 0:
                t_first = t_last
            n, last = n + 1, resp
        return {
            "ttft_s": t_first - t0,
            "decode_s": t_last - t_first,
            "tokens": n,
            "finish": getattr(last, "finish_reason", None),
            "self_generation_tps": getattr(last, "generation_tps", None),
            "self_prompt_tps": getattr(last, "prompt_tps", None),
        }

    once(ids[:WARMUP_PROMPT], spec["warmup_tokens"])
    runs = [once(ids, spec["max_tokens"]) for _ in range(spec["inner"])]
    return {"runs": runs, "param_bytes": _param_bytes(model), "prompt_tokens": len(ids)}


# --- in the parent ------------------------------------------------------------------


def summarize(res: dict, bandwidth_gbs: float | None) -> dict[str, Any]:
    ttft = float(np.median([r["ttft_s"] for r in res["runs"]]))
    tps = [
        (r["tokens"] - 1) / r["decode_s"]
        for r in res["runs"]
        if r["tokens"] > 1 and r["decode_s"] > 0
    ]
    tok_s = float(np.median(tps)) if tps else None
    reached = res["param_bytes"] * tok_s / 1e9 if tok_s else None
    return {
        "tok_s": tok_s,
        "ttft_s": ttft,
        "tokens": float(np.median([r["tokens"] for r in res["runs"]])),
        "prompt_tokens": res["prompt_tokens"],
        "weights_gb": res["param_bytes"] / 1e9,
        "reached_gbs": reached,
        "bandwidth_fraction": reached / bandwidth_gbs if reached and bandwidth_gbs else None,
        "mlx_peak_gb": res["mlx_peak_bytes"] / 1e9,
        "rss_peak_gb": res["rss_peak_bytes"] / 1e9,
        "wall_s": res["wall_s"],
    }


KEYS = (
    "tok_s",
    "ttft_s",
    "tokens",
    "prompt_tokens",
    "weights_gb",
    "reached_gbs",
    "bandwidth_fraction",
    "mlx_peak_gb",
    "rss_peak_gb",
    "wall_s",
)


def run_case(
    name: str,
    model: BuiltModel,
    question: str,
    max_tokens: int,
    inner: int,
    repeats: int,
    workdir: Path,
    timeout: float,
    bandwidth_gbs: float | None,
    system: bool = True,
    log=print,
) -> dict:
    from kazft.model.load import load_tokenizer

    adapter = make_adapter(model, workdir / "adapters" / model.spec.name)
    ids = prompt_ids(load_tokenizer(str(model.source)), question, system)
    base = {
        "base": str(model.source),
        "quantized": str(model.quantized),
        "prompt_ids": ids,
        "max_tokens": max_tokens,
        "warmup_tokens": 2,
        "inner": inner,
    }
    logdir = workdir / "logs"
    log(
        f"generate/{name}: {model.spec.describe()}; prompt {len(ids)} tokens, "
        f"{max_tokens} new tokens x {inner} per process"
    )
    run_child("kazft-prime", {"base": str(model.source)}, logdir, f"generate.{name}.prime", timeout)
    rows: dict[str, Any] = {
        "case": name,
        "model": model.as_dict(),
        "max_tokens": max_tokens,
        "inner": inner,
        "repeats": repeats,
        "prompt_tokens": len(ids),
        "system_prompt": system,
    }
    for variant, extra in (("base", {}), ("adapter", {"adapter": str(adapter)})):
        runs = [
            Run("kazft", "kazft-generate", {**base, **extra}),
            Run("mlx-lm", "mlxlm-generate", {**base, **extra}),
        ]
        out = alternate(runs, repeats, logdir, f"generate.{name}.{variant}", timeout, log)
        row: dict[str, Any] = {}
        for label, o in out.items():
            per = [summarize(r, bandwidth_gbs) for r in o.results]
            row[label] = {"median": medians(per, KEYS), "runs": per, "errors": o.errors}
        a, b = row["kazft"]["median"], row["mlx-lm"]["median"]
        row["ratio"] = {
            "tok_s": ratio(a["tok_s"], b["tok_s"]),
            "ttft_s": ratio(a["ttft_s"], b["ttft_s"]),
            "mlx_peak_gb": ratio(a["mlx_peak_gb"], b["mlx_peak_gb"]),
            "rss_peak_gb": ratio(a["rss_peak_gb"], b["rss_peak_gb"]),
        }
        rows[variant] = row
    return rows
